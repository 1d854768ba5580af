"""Benches for units with several stream ports (af_fork, af_fifo, af_add), both sides.

Cocotb side (runs inside the simulator): each input port ``P`` (``P_valid``, ``P_ready``,
``P_data``) has its own source with random gaps, and the outputs (``out_valid[N-1:0]``,
``out_ready[N-1:0]``, ``out_data[N*W-1:0]``; N = 1 for a single output) each have their
own sink with random back-pressure, as ``benches.Source`` / ``benches.Sink`` do for one
stream. Every cycle the bench records what it drove (each ``valid``, each ``ready``) and
what the unit showed (each ``in_ready``, each ``out_valid``) into a trace file.

Pytest side: ``replay`` steps a handshake model (``hw/handshake.py``'s graph-node
protocol) with the driven valids and readies and asserts that its ``in_ready`` and
``out_valid`` equal the RTL's in every cycle, so the model is checked against the RTL
under random gaps and back-pressure, not only at full rate.

The case file (``+case=``) holds a ``pressure`` and a ``full_rate`` scenario (keys:
inputs [{port, words}], expected [words per output], width, lanes, lane_bits, p_gap,
p_stall, longest, seed, cycles, trace).
"""

from __future__ import annotations

import json
from pathlib import Path

import cocotb
import numpy as np
from benches import DRAIN_CYCLES, Bursts, junk, load_case
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from adderflow.hw.rtlgen import unpack_lanes

CLOCK_NS = 10


class PortSource:
    """Offers ``words`` on one input port, with random gaps."""

    def __init__(self, dut, port: str, words: list[int], gaps: Bursts, rng):
        self.valid = getattr(dut, f"{port}_valid")
        self.ready = getattr(dut, f"{port}_ready")
        self.data = getattr(dut, f"{port}_data")
        self.words, self.gaps, self.rng = words, gaps, rng
        self.sent = 0
        self.cycles: list[int] = []
        self.offering = False

    def drive(self) -> None:
        self.offering = self.sent < len(self.words) and not self.gaps.pause()
        self.valid.value = int(self.offering)
        # junk on an idle bus: the unit must ignore data without valid
        word = self.words[self.sent] if self.offering else junk(self.rng, len(self.data))
        self.data.value = word

    def sample(self, cycle: int) -> bool:
        """Whether ``in_ready`` is high; records a transfer."""
        ready = bool(int(self.ready.value))
        if self.offering and ready:
            self.sent += 1
            self.cycles.append(cycle)
        return ready


class PortSinks:
    """Takes the words of every output port, each with its own random back-pressure."""

    def __init__(self, dut, n: int, width: int, stalls: list[Bursts]):
        self.dut, self.n, self.width, self.stalls = dut, n, width, stalls
        self.words: list[list[int]] = [[] for _ in range(n)]
        self.cycles: list[int] = []
        self.ready = [False] * n

    def drive(self, always: bool = False) -> None:
        self.ready = [always or not s.pause() for s in self.stalls]
        self.dut.out_ready.value = sum(int(r) << p for p, r in enumerate(self.ready))

    def sample(self, cycle: int) -> list[bool]:
        """Each output's ``out_valid``; records the transfers."""
        valid_bits = int(self.dut.out_valid.value)
        valid = [bool(valid_bits >> p & 1) for p in range(self.n)]
        if any(r and v for r, v in zip(self.ready, valid, strict=True)):
            value = self.dut.out_data.value
            # a 1-bit bus reads as a Logic, a wider one as a LogicArray
            data = value.to_unsigned() if hasattr(value, "to_unsigned") else int(value)
            mask = (1 << self.width) - 1
            for p in range(self.n):
                if self.ready[p] and valid[p]:
                    self.words[p].append(data >> (p * self.width) & mask)
                    self.cycles.append(cycle)
        return valid


async def start(dut, inputs: list[PortSource]) -> None:
    """Clock, three cycles of reset; returns at a falling edge with reset low."""
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    dut.rst.value = 1
    for src in inputs:
        src.valid.value = 0
    dut.out_ready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


def check_words(got: list[list[int]], expected: list[list[int]], lanes: int, bits: int) -> None:
    """Every output's words equal the reference, the first mismatch named (as lanes)."""
    for p, (have, want) in enumerate(zip(got, expected, strict=True)):
        assert len(have) == len(want), f"output {p}: {len(have)} beats, expected {len(want)}"
        for beat, (h, w) in enumerate(zip(have, want, strict=True)):
            if h != w:
                raise AssertionError(
                    f"mismatch at output {p} beat {beat}: got "
                    f"{unpack_lanes(h, lanes, bits).tolist()}, expected "
                    f"{unpack_lanes(w, lanes, bits).tolist()}"
                )


async def run_ports(dut, scenario: dict) -> None:
    """Drive every input, take every output, record the trace, check words and cycles."""
    rng = np.random.default_rng(scenario["seed"])
    longest = scenario.get("longest", 1)
    inputs = [
        PortSource(dut, i["port"], i["words"], Bursts(scenario["p_gap"], longest, rng), rng)
        for i in scenario["inputs"]
    ]
    expected = scenario["expected"]
    n = len(expected)
    sinks = PortSinks(
        dut, n, scenario["width"], [Bursts(scenario["p_stall"], longest, rng) for _ in range(n)]
    )
    beats = sum(len(w) for w in expected) + sum(len(i.words) for i in inputs)
    limit = (50 + 2 * longest) * beats + 100
    trace = []
    await start(dut, inputs)

    async def cycle(c: int, drain: bool = False) -> list[bool]:
        if c:
            await FallingEdge(dut.clk)
        for src in inputs:
            if drain:
                src.offering = False
                src.valid.value = 0
            else:
                src.drive()
        sinks.drive(always=drain)
        await ReadOnly()
        ready = [src.sample(c) for src in inputs]
        valid = sinks.sample(c)
        trace.append([[s.offering for s in inputs], ready, sinks.ready, valid])
        return valid

    # Once every input is taken, this long without an output transfer means beats were
    # lost: stop and let the checker name the output that is short (a chain of random
    # stalls this long has odds below 1e-20).
    idle_limit = 20 * longest + 50
    c = last_move = 0
    done = False
    while not done:
        assert c < limit, (
            f"timeout after {c} cycles: {[s.sent for s in inputs]} input beats taken of "
            f"{[len(s.words) for s in inputs]}, {[len(w) for w in sinks.words]} output beats "
            f"of {[len(w) for w in expected]}"
        )
        moved = sum(s.sent for s in inputs) + len(sinks.cycles)
        await cycle(c)
        if sum(s.sent for s in inputs) + len(sinks.cycles) != moved:
            last_move = c
        c += 1
        done = all(len(h) >= len(w) for h, w in zip(sinks.words, expected, strict=True))
        sent = all(s.sent == len(s.words) for s in inputs)
        done = (done and sent) or (sent and c - last_move > idle_limit)
    for _ in range(DRAIN_CYCLES):
        valid = await cycle(c, drain=True)
        c += 1
        assert not any(valid), "an output beat beyond the expected ones"
    Path(scenario["trace"]).write_text(json.dumps(trace))
    check_words(sinks.words, expected, scenario["lanes"], scenario["lane_bits"])
    if scenario.get("cycles") is not None:
        first = min(s.cycles[0] for s in inputs)
        measured = max(sinks.cycles) - first + 1
        assert measured == scenario["cycles"], (
            f"measured {measured} cycles, the cycle model predicts {scenario['cycles']}"
        )
    dut._log.info("%s beats in, %s out, %d cycles", [s.sent for s in inputs],
                  [len(w) for w in sinks.words], c)  # fmt: skip


@cocotb.test()
async def ports_under_pressure(dut):
    """Random input gaps and output back-pressure: every output beat must match."""
    await run_ports(dut, load_case()["pressure"])


@cocotb.test()
async def ports_full_rate(dut):
    """Inputs always valid, outputs always ready: beats and the cycle formula must match."""
    await run_ports(dut, load_case()["full_rate"])


PORT_TESTS = {"ports_under_pressure", "ports_full_rate"}


# ---- pytest side -----------------------------------------------------------------------


def scenario(
    inputs: dict[str, list[int]],
    expected: list[list[int]],
    width: int,
    lanes: int,
    lane_bits: int,
    trace: Path,
    seed: int,
    pressure: bool,
    cycles: int | None = None,
) -> dict:
    """A scenario for ``run_ports``: random gaps and stalls (``pressure``) or full rate."""
    return {
        "inputs": [{"port": p, "words": w} for p, w in inputs.items()],
        "expected": expected,
        "width": width,
        "lanes": lanes,
        "lane_bits": lane_bits,
        "p_gap": 0.2 if pressure else 0.0,
        "p_stall": 0.25 if pressure else 0.0,
        "longest": 12,
        "seed": seed,
        "cycles": cycles,
        "trace": str(trace),
    }


def write_case(run_dir: Path, pressure: dict, full_rate: dict) -> Path:
    path = run_dir / "case.json"
    path.write_text(json.dumps({"pressure": pressure, "full_rate": full_rate}))
    return path


def replay(model, trace_path: Path | str, transfers_only: bool = False) -> int:
    """Step ``model`` with a bench trace's driven valids and readies; its ``in_ready`` and
    ``out_valid`` must equal the RTL's in every cycle (with ``transfers_only``, its input
    transfers and ``out_valid``: a ready without a valid moves nothing). Returns the cycles
    replayed."""
    rows = json.loads(Path(trace_path).read_text())
    for c, (in_valid, in_ready, out_ready, out_valid) in enumerate(rows):
        ready = [model.in_ready(i, in_valid) for i in range(model.n_in)]
        valid = [model.out_valid(p) for p in range(model.n_out)]
        if transfers_only:
            ready = [r and v for r, v in zip(ready, in_valid, strict=True)]
            in_ready = [r and v for r, v in zip(in_ready, in_valid, strict=True)]
        what = "input transfers" if transfers_only else "in_ready"
        assert ready == in_ready, f"cycle {c}: model {what} {ready}, RTL {in_ready}"
        assert valid == out_valid, f"cycle {c}: model out_valid {valid}, RTL {out_valid}"
        model.step(in_valid, out_ready)
    return len(rows)
