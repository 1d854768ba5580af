"""af_concat against ONNX Concat on axis 1, beat for beat, its handshake model against the
RTL cycle for cycle.

Both inputs stream a few frames (frame 0 all-max, frame 1 all-min codes, so a lane mixed
up between a and b shows) under random gaps on each input and back-pressure, and at full
rate (cycles = ``ConcatConfig.cycles``). Sets: 8-bit codes two lanes a beat with a wider
than b, and binary 2-bit codes one lane a beat with one beat of a a pixel. Mutation: b's
beats of a pixel before a's must fail.
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
from adderflow.hw.units.concat import CONCAT_SOURCES, ConcatConfig

# (config, frame height, width)
CONFIGS = {
    "8bit_lanes2": (ConcatConfig(ca=4, cb=2, bits=8, lanes=2), 3, 2),
    "binary_a_one_beat": (ConcatConfig(ca=1, cb=3, bits=2, lanes=1), 2, 3),
}
FRAMES = 3


def frames(cfg: ConcatConfig, h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (cfg.bits - 1)), (1 << (cfg.bits - 1)) - 1
    a = rng.integers(lo, hi, (FRAMES, cfg.ca, h, w), endpoint=True)
    b = rng.integers(lo, hi, (FRAMES, cfg.cb, h, w), endpoint=True)
    a[0], b[0], a[1], b[1] = hi, lo, lo, hi
    return a, b


def case(name: str, run_dir, seed: int = 4):
    cfg, h, w = CONFIGS[name]
    a, b = frames(cfg, h, w, seed)
    words_a, words_b = cfg.input_words(a, b)
    args = ({"a": words_a, "b": words_b}, cfg.expected_beats(a, b), cfg.lanes, cfg.bits, seed)
    full = scenario(*args, False, cfg.cycles(FRAMES * h * w))
    return write_case(run_dir, scenario(*args, True, None), full)


def build(hdl, sim, cfg, defines=None):
    return hdl.build(sim, "af_concat", rtl_sources(CONCAT_SOURCES), cfg.parameters(), defines)


@pytest.mark.parametrize("name", CONFIGS)
def test_concat_matches_reference_and_model(hdl, sim, name, tmp_path):
    cfg = CONFIGS[name][0]
    path = case(name, tmp_path)
    hdl.assert_passed(hdl.run(build(hdl, sim, cfg), "test_cocotb_concat", tmp_path, path), TESTS)
    check_traces(path, cfg.model)


@pytest.mark.parametrize("name", CONFIGS)
def test_concat_model_cycles_equal_formula(name):
    cfg, h, w = CONFIGS[name]
    pixels = FRAMES * h * w
    ga, gb = cfg.beats
    cycles = model_cycles(cfg.model(), [pixels * ga, pixels * gb], pixels * (ga + gb))
    assert cycles == cfg.cycles(pixels)


def test_concat_detects_b_first(hdl, sim, tmp_path):
    """Built to take b's beats of a pixel first, the same bench must fail on the values."""
    cfg = CONFIGS["8bit_lanes2"][0]
    path = case("8bit_lanes2", tmp_path)
    mutant = build(hdl, sim, cfg, defines={"AF_CONCAT_B_FIRST": 1})
    assert_mutant_fails(hdl.run(mutant, "test_cocotb_concat", tmp_path, path))
