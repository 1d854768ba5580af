"""Cocotb-side testbench parts shared by the RTL tests (runs inside the simulator).

Split as in cocotb's stream examples: a source (driver with random input gaps), a sink
(monitor with random back-pressure), and a checker against expected values computed by
the NumPy reference in the pytest process and handed over in a JSON case file
(``+case=PATH``). Every cycle the bench drives at the falling edge and samples the
handshakes in the ReadOnly phase after its writes, so a transfer recorded at cycle ``c``
happens at the rising edge that ends cycle ``c``; cycle counts are exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from adderflow.hw.rtlgen import unpack_lanes

CLOCK_NS = 10
DRAIN_CYCLES = 8  # cycles watched after the last expected output: nothing more may come


def junk(rng: np.random.Generator, width: int) -> int:
    """A random ``width``-bit word (any width) for idle buses."""
    chunks = rng.integers(0, 1 << 32, size=-(-width // 32)).tolist()
    return sum(c << (32 * i) for i, c in enumerate(chunks)) % (1 << width)


def load_case() -> dict:
    return json.loads(Path(str(cocotb.plusargs["case"])).read_text())


async def start(dut, reset: bool = True) -> None:
    """Start the clock and hold reset (if the unit has one and ``reset``) for three cycles.

    Returns at a falling edge, the moment the bench drives inputs.
    """
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    if reset:
        dut.rst.value = 1
        dut.in_valid.value = 0
        dut.out_ready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    if reset:
        dut.rst.value = 0


class Bursts:
    """A random on/off pattern: each cycle, with probability ``p``, a pause of 1..``longest``
    cycles starts. Long pauses fill every register of a pipeline, short ones test timing."""

    def __init__(self, p: float, longest: int, rng: np.random.Generator):
        self.p, self.longest, self.rng = p, longest, rng
        self.left = 0

    def pause(self) -> bool:
        if self.left:
            self.left -= 1
            return True
        if self.rng.random() < self.p:
            self.left = int(self.rng.integers(0, self.longest))
            return True
        return False


class Source:
    """Offers ``words`` on in_valid/in_data, with random gaps (valid withheld)."""

    def __init__(self, dut, words: list[int], gaps: Bursts, rng: np.random.Generator):
        self.dut, self.words, self.gaps, self.rng = dut, words, gaps, rng
        self.width = len(dut.in_data)
        self.sent = 0
        self.cycles: list[int] = []
        self.offering = False

    def drive(self) -> None:
        self.offering = self.sent < len(self.words) and not self.gaps.pause()
        self.dut.in_valid.value = int(self.offering)
        if self.offering:
            self.dut.in_data.value = self.words[self.sent]
        else:  # junk on an idle bus: the unit must ignore data without valid
            self.dut.in_data.value = junk(self.rng, self.width)

    def sample(self, cycle: int) -> None:
        if self.offering and self.dut.in_ready.value:
            self.sent += 1
            self.cycles.append(cycle)


class Sink:
    """Takes out_data words, with random back-pressure (out_ready dropped)."""

    def __init__(self, dut, stalls: Bursts):
        self.dut, self.stalls = dut, stalls
        self.words: list[int] = []
        self.cycles: list[int] = []
        self.ready = False

    def drive(self) -> None:
        self.ready = not self.stalls.pause()
        self.dut.out_ready.value = int(self.ready)

    def sample(self, cycle: int) -> None:
        if self.ready and self.dut.out_valid.value:
            self.words.append(self.dut.out_data.value.to_unsigned())
            self.cycles.append(cycle)


def check_beats(got: list[int], expected: list[list[int]], lanes: int, bits: int) -> None:
    """Checker: every output beat's signed lanes equal the reference, first mismatch named."""
    assert len(got) == len(expected), f"{len(got)} output beats, expected {len(expected)}"
    for beat, (word, want) in enumerate(zip(got, expected, strict=True)):
        have = unpack_lanes(word, lanes, bits).tolist()
        assert have == want, f"mismatch at output beat {beat}: got {have}, expected {want}"


async def stream_beats(dut, scenario: dict, all_inputs: bool = False):
    """Drive a scenario's input beats and take its output beats (random gaps and
    back-pressure) until every expected output is out (and, with ``all_inputs``, every
    input taken), then check that nothing more comes out. Returns ``(source, sink,
    cycles)``; the values are the caller's to check."""
    rng = np.random.default_rng(scenario["seed"])
    longest = scenario.get("longest", 1)
    source = Source(dut, scenario["in_words"], Bursts(scenario["p_gap"], longest, rng), rng)
    sink = Sink(dut, Bursts(scenario["p_stall"], longest, rng))
    expected = scenario["expected"]
    limit = (50 + 2 * longest) * (len(source.words) + len(expected)) + 100
    await start(dut)
    cycle = 0
    while len(sink.words) < len(expected) or (all_inputs and source.sent < len(source.words)):
        assert cycle < limit, (
            f"timeout after {cycle} cycles: {source.sent}/{len(source.words)} input beats "
            f"taken, {len(sink.words)}/{len(expected)} output beats"
        )
        if cycle:
            await FallingEdge(dut.clk)
        source.drive()
        sink.drive()
        await ReadOnly()
        source.sample(cycle)
        sink.sample(cycle)
        cycle += 1
    for _ in range(DRAIN_CYCLES):
        await FallingEdge(dut.clk)
        dut.in_valid.value = 0
        dut.out_ready.value = 1
        await ReadOnly()
        assert not dut.out_valid.value, "an output beat beyond the expected ones"
    return source, sink, cycle


async def run_stream(dut, scenario: dict) -> None:
    """Stream a scenario through a ready/valid unit; check values and, if given, cycles.

    Scenario keys: in_words, expected (list of beats, each a list of lane values), lanes,
    lane_bits, p_gap, p_stall (probability a pause starts), longest (pause length bound),
    seed, cycles (None or the model's prediction).
    """
    source, sink, cycle = await stream_beats(dut, scenario)
    assert source.sent == len(source.words), "outputs complete before all inputs were taken"
    check_beats(sink.words, scenario["expected"], scenario["lanes"], scenario["lane_bits"])
    if scenario.get("cycles") is not None:
        measured = sink.cycles[-1] - source.cycles[0] + 1
        assert measured == scenario["cycles"], (
            f"measured {measured} cycles, the cycle model predicts {scenario['cycles']}"
        )
    dut._log.info("%d beats in, %d out, %d cycles", source.sent, len(sink.words), cycle)
