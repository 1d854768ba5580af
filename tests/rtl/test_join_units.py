"""The residual network's units (fork, FIFO, add) without a simulator: bad parameters
refused naming the problem, and each handshake model's full-rate cycles equal its cycle
formula over a sweep of sizes (tests/rtl/test_cocotb_{fork,fifo,add}.py check the models
against the RTL cycle for cycle)."""

from __future__ import annotations

import pytest

from adderflow.errors import AdderflowError
from adderflow.hw.units.add import AddConfig, AddModel, add_cycles
from adderflow.hw.units.fifo import FifoConfig, FifoModel, fifo_cycles
from adderflow.hw.units.fork import ForkConfig, ForkModel, fork_cycles


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ForkConfig(0, 8), "fork: 0 outputs"),
        (lambda: ForkConfig(2, 0), "fork: data width 0"),
        (lambda: FifoConfig(0, 8), "fifo: depth 0"),
        (lambda: FifoConfig(4, 0), "fifo: data width 0"),
        (lambda: FifoModel(0), "fifo: depth 0"),
        (lambda: AddConfig(0, 8, 8, 0, 0, 9), "add: 0 lanes"),
        (lambda: AddConfig(1, 17, 8, 0, 0, 18), "a_bits 17 is outside 2..16"),
        (lambda: AddConfig(1, 8, 1, 0, 0, 9), "b_bits 1 is outside 2..16"),
        (lambda: AddConfig(1, 8, 8, 41, 0, 52), "shift_a 41 is outside 0..40"),
        (lambda: AddConfig(1, 8, 4, 0, 3, 8), r"out_bits 8 is outside 9..52"),
        (lambda: AddConfig(1, 16, 8, 40, 0, 52), r"reach 57 bits"),
        (lambda: AddConfig(2, 8, 8, 0, 0, 9).input_words([[1, 2]], [[1]]), "b has shape"),
        (lambda: fork_cycles(0), "fork: 0 beats"),
        (lambda: fifo_cycles(3, 0), "fifo: depth 0"),
        (lambda: add_cycles(0), "add: 0 beats"),
    ],
)
def test_bad_configurations_are_refused_by_name(make, message):
    with pytest.raises(AdderflowError, match=message):
        make()


def full_rate(model, beats: int, limit: int = 10**5) -> int:
    """The model alone, every input always valid until ``beats`` are taken, every output
    always ready: first input transfer to the last output transfer (any output)."""
    sent, got, first = 0, [0] * model.n_out, -1
    for cycle in range(limit):
        valid = [sent < beats] * model.n_in
        ready = [model.in_ready(i, valid) for i in range(model.n_in)]
        # a join takes all of its inputs in one cycle or none
        assert all(r == ready[0] for r in ready), cycle
        for p in range(model.n_out):
            got[p] += model.out_valid(p)
        if all(g == beats for g in got):
            return cycle - first + 1
        if valid[0] and ready[0]:
            first = cycle if first < 0 else first
            sent += 1
        model.step(valid, [True] * model.n_out)
    raise AssertionError(f"model: {got} output beats of {beats} after {limit} cycles")


@pytest.mark.parametrize("beats", [1, 2, 3, 7, 64])
def test_models_at_full_rate_equal_the_formulas(beats):
    for n in (1, 2, 5):
        assert full_rate(ForkModel(n), beats) == ForkConfig(n, 8).cycles(beats)
    for depth in (1, 2, 3, 4, 9, None):
        expected = fifo_cycles(beats, depth or 10**6)
        assert full_rate(FifoModel(depth), beats) == expected, depth
    assert full_rate(AddModel(), beats) == AddConfig(1, 8, 8, 0, 0, 9).cycles(beats)


def test_unbounded_fifo_asks_for_the_full_rate_depth():
    """At full rate the FIFO holds one word in memory and one at its output: a write sees
    two words held, so three is the depth that never refuses one."""
    model = FifoModel(None)
    full_rate(model, 50)
    assert model.depth_needed == 3


def test_a_slow_consumer_fills_the_fifo_to_depth_needed():
    """Consumer ready one cycle in four: the bounded FIFO of depth_needed takes the same
    inputs as the unbounded one, cycle for cycle, and one word less does not."""

    def inputs_taken(model, cycles=200):
        taken = []
        for c in range(cycles):
            ready = model.in_ready(0, [True])
            taken.append(ready)
            model.step([True], [c % 4 == 3])
        return taken

    unbounded = FifoModel(None)
    reference = inputs_taken(unbounded, 40)
    need = unbounded.depth_needed
    assert inputs_taken(FifoModel(need), 40) == reference
    assert inputs_taken(FifoModel(need - 1), 40) != reference
