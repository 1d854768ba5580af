"""af_sumpool against ``fixed.window_sum`` (IntSumPool), beat for beat, its handshake
model against the RTL cycle for cycle.

Each set streams a few frames, frame 0 all-max and frame 1 all-min codes (the sums reach
both ends of ``out_bits``), under random gaps and back-pressure and at full rate (cycles =
``SumPoolConfig.cycles``). The sets cover a global 3x3 pool, a 2x3 window with rows and
columns no window covers (taken and dropped), and a one-row 1x2 window of 16-bit codes
with every channel in one beat. Mutation: zero-extended input codes must fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from port_benches import PORT_TESTS as TESTS
from port_benches import (  # noqa: F401 (cocotb finds the tests here)
    assert_mutant_fails,
    check_traces,
    ports_full_rate,
    ports_under_pressure,
    scenario,
    write_case,
)
from port_models import model_cycles

from adderflow.hw.rtlgen import rtl_sources
from adderflow.hw.units.sumpool import SUMPOOL_SOURCES, SumPoolConfig

CONFIGS = {
    "global_3x3": SumPoolConfig(4, 3, 3, (3, 3), in_bits=8, out_bits=12, lanes=2),
    "2x3_leftovers": SumPoolConfig(6, 5, 7, (2, 3), in_bits=4, out_bits=8, lanes=3),
    "1x2_16bit_one_beat": SumPoolConfig(4, 2, 4, (1, 2), in_bits=16, out_bits=17, lanes=4),
}
FRAMES = 3


def frames(cfg: SumPoolConfig, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (cfg.in_bits - 1)), (1 << (cfg.in_bits - 1)) - 1
    x = rng.integers(lo, hi, (FRAMES, cfg.channels, cfg.height, cfg.width), endpoint=True)
    x[0], x[1] = hi, lo
    return x


def case(cfg: SumPoolConfig, run_dir, seed: int = 3):
    x = frames(cfg, seed)
    words, expected = cfg.input_words(x), cfg.expected_beats(x)
    args = ({"in": words}, expected, cfg.lanes, cfg.out_bits, seed)
    return write_case(
        run_dir, scenario(*args, True, None), scenario(*args, False, cfg.cycles(FRAMES))
    )


def build(hdl, sim, cfg, defines=None):
    sources = rtl_sources(SUMPOOL_SOURCES)
    return hdl.build(sim, "af_sumpool", sources, cfg.parameters(), defines=defines)


@pytest.mark.parametrize("name", CONFIGS)
def test_sumpool_matches_reference_and_model(hdl, sim, name, tmp_path):
    cfg = CONFIGS[name]
    path = case(cfg, tmp_path)
    hdl.assert_passed(hdl.run(build(hdl, sim, cfg), "test_cocotb_sumpool", tmp_path, path), TESTS)
    check_traces(path, cfg.model)


@pytest.mark.parametrize("name", CONFIGS)
def test_sumpool_model_cycles_equal_formula(name):
    cfg = CONFIGS[name]
    beats = FRAMES * cfg.in_beats
    assert model_cycles(cfg.model(), [beats], FRAMES * cfg.out_beats) == cfg.cycles(FRAMES)


def test_sumpool_detects_zero_extension(hdl, sim, tmp_path):
    """Built to widen codes without their sign, the same bench must fail on the values."""
    cfg = CONFIGS["2x3_leftovers"]
    path = case(cfg, tmp_path)
    mutant = build(hdl, sim, cfg, defines={"AF_SUMPOOL_ZERO_EXTEND": 1})
    assert_mutant_fails(hdl.run(mutant, "test_cocotb_sumpool", tmp_path, path))
