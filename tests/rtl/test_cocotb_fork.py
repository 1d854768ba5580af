"""af_fork against its definition (every output carries every input word, in order) and
its handshake model (``units.fork.ForkModel``) against the RTL, cycle for cycle.

Each output has its own random back-pressure, so the outputs drift apart by up to their
slices' depth; the data include the all-ones and all-zero words. The mutation check
builds the fork with in_ready taken from output 0's slice alone (AF_FORK_READY_FROM_FIRST):
under back-pressure another output then loses beats, and the bench must fail.
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
from adderflow.hw.units.fork import FORK_SOURCES, ForkConfig, ForkModel

CONFIGS = {
    "n3-w70": ForkConfig(n=3, width=70),  # three outputs, a word over 64 bits
    "n1-w1": ForkConfig(n=1, width=1),  # narrowest: one output, 1-bit words
}


def words(cfg: ForkConfig, beats: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    out = [junk(rng, cfg.width) for _ in range(beats)]
    out[0], out[1] = (1 << cfg.width) - 1, 0  # extremes: all ones, all zeros
    return out


def case(run_dir: Path, cfg: ForkConfig, seed: int = 3) -> Path:
    w = words(cfg, 120, seed)
    short = w[:20]

    def sc(ws, pressure, cycles=None):
        name = "pressure" if pressure else "full_rate"
        return ports.scenario({"in": ws}, [ws] * cfg.n, cfg.width, 1, cfg.width,
                        run_dir / f"trace-{name}.json", seed, pressure, cycles)  # fmt: skip

    return ports.write_case(run_dir, sc(w, True), sc(short, False, cfg.cycles(len(short))))


def build(hdl, sim: str, cfg: ForkConfig, defines=None):
    return hdl.build(sim, "af_fork", rtl_sources(FORK_SOURCES), cfg.parameters(), defines)


@pytest.mark.parametrize("name", CONFIGS)
def test_fork_matches_reference_and_model(hdl, sim, name, tmp_path):
    cfg = CONFIGS[name]
    path = case(tmp_path, cfg)
    hdl.assert_passed(hdl.run(build(hdl, sim, cfg), "test_cocotb_fork", tmp_path, path), TESTS)
    for trace in ("pressure", "full_rate"):
        assert ports.replay(ForkModel(cfg.n), tmp_path / f"trace-{trace}.json") > 20


def test_fork_detects_ready_from_one_output(hdl, sim, tmp_path):
    """in_ready from output 0's slice only: under back-pressure the bench must fail."""
    cfg = CONFIGS["n3-w70"]
    path = case(tmp_path, cfg)
    mutant = build(hdl, sim, cfg, defines={"AF_FORK_READY_FROM_FIRST": 1})
    outcomes = hdl.run(mutant, "test_cocotb_fork", tmp_path, path)
    assert not outcomes["ports_under_pressure"].passed
    assert "output " in outcomes["ports_under_pressure"].message  # an output lost beats
