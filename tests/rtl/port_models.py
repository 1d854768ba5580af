"""The handshake-model side of the multi-port benches, without cocotb: replay an RTL trace
through a unit's model (``replay``), and a model's own full-rate cycles (``model_cycles``)."""

from __future__ import annotations


def replay(model, trace: list) -> None:
    """Step a fresh handshake model through the RTL's trace: every cycle its ``out_valid``
    and each input's ``in_ready`` must equal the RTL's (first difference named)."""
    for cycle, (valid, ready, out_valid, out_ready) in enumerate(trace):
        have = [model.in_ready(i, valid) for i in range(model.n_in)], model.out_valid(0)
        assert have == (ready, out_valid), (
            f"cycle {cycle}: model in_ready {have[0]}, out_valid {have[1]}; "
            f"RTL in_ready {ready}, out_valid {out_valid} (inputs valid {valid})"
        )
        model.step(valid, [out_ready])


def model_cycles(model, beats: list[int], out_beats: int, limit: int = 10**6) -> int:
    """The model alone, every input always valid until its ``beats`` are taken, output
    always ready: first input transfer to last output transfer inclusive."""
    sent, got, first = [0] * model.n_in, 0, -1
    for cycle in range(limit):
        valid = [s < b for s, b in zip(sent, beats, strict=True)]
        ready = [model.in_ready(i, valid) for i in range(model.n_in)]
        if model.out_valid(0):
            got += 1
            if got == out_beats:
                return cycle - first + 1
        for i in range(model.n_in):
            if valid[i] and ready[i]:
                first = cycle if first < 0 else first
                sent[i] += 1
        model.step(valid, [True])
    raise AssertionError(f"model: {got}/{out_beats} output beats after {limit} cycles")
