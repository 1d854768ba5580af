"""Benches for stream units with named input ports (``in``, or ``a`` and ``b``) whose
handshake models (``adderflow.hw.handshake.GraphUnit``) are checked against the RTL.

The cocotb side drives every input port from its own source (random gaps), takes the
output with random back-pressure (``benches.Sink``) until every input beat is taken and
every expected output beat is out, checks the beats and, at full rate, the cycle formula,
and writes the trace of every cycle's handshakes (valid and ready per input, out_valid,
out_ready) next to the case file. The pytest side replays the trace through the unit's
handshake model (``replay``): every cycle the model's ``in_ready`` of each port and its
``out_valid`` must equal the RTL's, so the model's transfers and cycles are the RTL's
under any gaps and back-pressure, not only at full rate.

Case file (``+case=``): ``pressure`` and ``full_rate`` scenarios, each with ``inputs``
(``[{"port": name, "words": [...]}]``), ``expected`` (beats, each a list of lane values),
``lanes``, ``lane_bits``, ``p_gap``, ``p_stall``, ``longest``, ``seed``, ``cycles`` (None
or the formula's figure).
"""

from __future__ import annotations

import json
from pathlib import Path

import cocotb
import numpy as np
from benches import DRAIN_CYCLES, Bursts, Sink, check_beats, junk, load_case
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from port_models import replay

CLOCK_NS = 10
PORT_TESTS = {"ports_under_pressure", "ports_full_rate"}
SCENARIOS = {"ports_under_pressure": "pressure", "ports_full_rate": "full_rate"}


class PortSource:
    """Offers ``words`` on ``<port>_valid`` / ``<port>_data`` with random gaps."""

    def __init__(self, dut, port: str, words: list[int], gaps: Bursts, rng) -> None:
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
        """Whether ready is high; records a transfer."""
        ready = bool(self.ready.value)
        if self.offering and ready:
            self.sent += 1
            self.cycles.append(cycle)
        return ready


async def start(dut, ports: list[str]) -> None:
    """Clock, three cycles of reset with every valid low; returns at a falling edge."""
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    dut.rst.value = 1
    for port in ports:
        getattr(dut, f"{port}_valid").value = 0
    dut.out_ready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def run_ports(dut, scenario: dict, trace_path: Path) -> None:
    rng = np.random.default_rng(scenario["seed"])
    longest = scenario["longest"]
    ports = [spec["port"] for spec in scenario["inputs"]]
    sources = [
        PortSource(dut, spec["port"], spec["words"], Bursts(scenario["p_gap"], longest, rng), rng)
        for spec in scenario["inputs"]
    ]
    sink = Sink(dut, Bursts(scenario["p_stall"], longest, rng))
    expected = scenario["expected"]
    beats = sum(len(s.words) for s in sources) + len(expected)
    limit = (50 + 2 * longest) * beats + 100
    trace = []
    await start(dut, ports)
    cycle = 0
    while len(sink.words) < len(expected) or any(s.sent < len(s.words) for s in sources):
        assert cycle < limit, (
            f"timeout after {cycle} cycles: "
            + ", ".join(f"{p} {s.sent}/{len(s.words)}" for p, s in zip(ports, sources, strict=True))
            + f" input beats taken, {len(sink.words)}/{len(expected)} output beats"
        )
        if cycle:
            await FallingEdge(dut.clk)
        for source in sources:
            source.drive()
        sink.drive()
        await ReadOnly()
        ready = [s.sample(cycle) for s in sources]
        out_valid = bool(dut.out_valid.value)
        trace.append([[s.offering for s in sources], ready, out_valid, sink.ready])
        sink.sample(cycle)
        cycle += 1
    trace_path.write_text(json.dumps(trace))
    for _ in range(DRAIN_CYCLES):
        await FallingEdge(dut.clk)
        for port in ports:
            getattr(dut, f"{port}_valid").value = 0
        dut.out_ready.value = 1
        await ReadOnly()
        assert not dut.out_valid.value, "an output beat beyond the expected ones"
    check_beats(sink.words, expected, scenario["lanes"], scenario["lane_bits"])
    if scenario.get("cycles") is not None:
        first = min(s.cycles[0] for s in sources)
        measured = sink.cycles[-1] - first + 1
        assert measured == scenario["cycles"], (
            f"measured {measured} cycles, the cycle formula says {scenario['cycles']}"
        )
    sent = [s.sent for s in sources]
    dut._log.info("%s beats in, %d out, %d cycles", sent, len(sink.words), cycle)


def trace_file(case: Path, test: str) -> Path:
    return Path(case).parent / f"trace_{SCENARIOS[test]}.json"


@cocotb.test()
async def ports_under_pressure(dut):
    """Random input gaps and output back-pressure: every output beat must match."""
    case = Path(str(cocotb.plusargs["case"]))
    await run_ports(dut, load_case()["pressure"], trace_file(case, "ports_under_pressure"))


@cocotb.test()
async def ports_full_rate(dut):
    """Inputs always valid, output always ready: beats and the cycle formula must match."""
    case = Path(str(cocotb.plusargs["case"]))
    await run_ports(dut, load_case()["full_rate"], trace_file(case, "ports_full_rate"))


# ---- pytest side -----------------------------------------------------------------------


def scenario(inputs: dict[str, list[int]], expected, lanes, bits, seed, pressure, cycles):
    p = 0.2 if pressure else 0.0
    return {
        "inputs": [{"port": port, "words": words} for port, words in inputs.items()],
        "expected": np.asarray(expected).tolist(),
        "lanes": lanes,
        "lane_bits": bits,
        "p_gap": p,
        "p_stall": p,
        "longest": 12,
        "seed": seed,
        "cycles": None if pressure else cycles,
    }


def write_case(run_dir: Path, pressure: dict, full_rate: dict) -> Path:
    path = run_dir / "case.json"
    path.write_text(json.dumps({"pressure": pressure, "full_rate": full_rate}))
    return path


def check_traces(case: Path, make_model) -> None:
    """Replay both scenarios' traces through fresh models (``make_model()``)."""
    for test in PORT_TESTS:
        replay(make_model(), json.loads(trace_file(case, test).read_text()))


def assert_mutant_fails(outcomes) -> None:
    """A mutated unit must fail both scenarios on its values."""
    for name in PORT_TESTS:
        assert not outcomes[name].passed, name
        assert "mismatch at output beat" in outcomes[name].message, outcomes[name].message
