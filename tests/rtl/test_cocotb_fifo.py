"""af_fifo against its definition (words out in the order they came in) and its handshake
model (``units.fifo.FifoModel``) against the RTL, cycle for cycle.

Depths: 5 (not a power of two: the pointers wrap early; back-pressure of up to 12 cycles
fills it), 1 and 2 (below the full-rate depth: ``fifo_cycles``' other branches) and 40
(never fills under these pauses). The data include the all-ones and all-zero words. The
FIFO is also checked as the generator sizes it: a ``FifoModel(None)`` run on the pressure
trace gives ``depth_needed``, and the RTL built with that depth must show the unbounded
model's handshakes cycle for cycle. The mutation check builds the FIFO reading whenever
its memory holds a word (AF_FIFO_READ_IGNORES_READY): a stalled output word is then
overwritten, and the bench must fail.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import ports
import pytest
from benches import junk
from ports import PORT_TESTS as TESTS
from ports import ports_full_rate, ports_under_pressure  # noqa: F401 (cocotb finds them here)

from adderflow.hw.rtlgen import rtl_sources
from adderflow.hw.units.fifo import FIFO_SOURCES, FifoConfig, FifoModel

CONFIGS = {
    "d5-w12": FifoConfig(depth=5, width=12),
    "d1-w3": FifoConfig(depth=1, width=3),
    "d2-w66": FifoConfig(depth=2, width=66),
}


def words(cfg: FifoConfig, beats: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    out = [junk(rng, cfg.width) for _ in range(beats)]
    out[0], out[1] = (1 << cfg.width) - 1, 0  # extremes: all ones, all zeros
    return out


def case(run_dir: Path, cfg: FifoConfig, seed: int = 4) -> Path:
    w = words(cfg, 120, seed)
    short = w[:21]

    def sc(ws, pressure, cycles=None):
        name = "pressure" if pressure else "full_rate"
        return ports.scenario({"in": ws}, [ws], cfg.width, 1, cfg.width,
                        run_dir / f"trace-{name}.json", seed, pressure, cycles)  # fmt: skip

    return ports.write_case(run_dir, sc(w, True), sc(short, False, cfg.cycles(len(short))))


def build(hdl, sim: str, cfg: FifoConfig, defines=None):
    return hdl.build(sim, "af_fifo", rtl_sources(FIFO_SOURCES), cfg.parameters(), defines)


@pytest.mark.parametrize("name", CONFIGS)
def test_fifo_matches_reference_and_model(hdl, sim, name, tmp_path):
    cfg = CONFIGS[name]
    path = case(tmp_path, cfg)
    hdl.assert_passed(hdl.run(build(hdl, sim, cfg), "test_cocotb_fifo", tmp_path, path), TESTS)
    for trace in ("pressure", "full_rate"):
        assert ports.replay(FifoModel(cfg.depth), tmp_path / f"trace-{trace}.json") > 20


def test_fifo_sized_by_the_unbounded_model(hdl, sim, tmp_path):
    """The depth the unbounded model asks for reproduces its handshakes in the RTL."""
    probe = FifoConfig(depth=64, width=8)  # never full under the pressure scenario
    case(tmp_path, probe)
    hdl.assert_passed(
        hdl.run(build(hdl, sim, probe), "test_cocotb_fifo", tmp_path, tmp_path / "case.json"),
        TESTS,
    )
    unbounded = FifoModel(None)
    ports.replay(unbounded, tmp_path / "trace-pressure.json")
    need = unbounded.depth_needed
    assert 3 <= need < probe.depth, need  # the pauses fill it past the full-rate depth
    sized = FifoConfig(depth=need, width=8)
    run_dir = tmp_path / "sized"
    run_dir.mkdir()
    path = case(run_dir, sized)
    hdl.assert_passed(hdl.run(build(hdl, sim, sized), "test_cocotb_fifo", run_dir, path), TESTS)
    # The sized RTL's transfers are the unbounded model's, cycle for cycle ...
    # (in_ready differs only while the source offers nothing: the sized FIFO is full then)
    ports.replay(FifoModel(None), run_dir / "trace-pressure.json", transfers_only=True)
    # ... and one word shallower they are not (the sizing is not over-generous).
    with pytest.raises(AssertionError, match="model input transfers"):
        ports.replay(FifoModel(need - 1), run_dir / "trace-pressure.json", transfers_only=True)


def test_fifo_detects_read_ignoring_ready(hdl, sim, tmp_path):
    """Reading while the output word is stalled: the bench must fail."""
    cfg = CONFIGS["d5-w12"]
    path = case(tmp_path, cfg)
    mutant = build(hdl, sim, cfg, defines={"AF_FIFO_READ_IGNORES_READY": 1})
    outcomes = hdl.run(mutant, "test_cocotb_fifo", tmp_path, path)
    assert not outcomes["ports_under_pressure"].passed
    assert "output 0: " in outcomes["ports_under_pressure"].message  # words lost
