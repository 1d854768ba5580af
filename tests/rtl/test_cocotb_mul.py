"""af_mul against ``fixed.gate_product`` (IntMul, a squeeze-excite gate), beat for beat,
its handshake model against the RTL cycle for cycle.

Per image the gate vector (port b) comes first, then x (port a). Image 0 is all-max x
times all-max gates, image 1 all-min times all-min (the largest product, needing every
bit of ``out_bits``), image 2 all-min x times all-max gates (the most negative), the rest
random; under random gaps on both inputs and back-pressure, and at full rate (cycles =
``MulConfig.cycles``). Sets: 8x8 bits two lanes, 4x6 bits into a wider output (sign
extension) three channel groups, and 16x16 bits into 32 with one pixel and one beat.
Mutation: gate codes read as unsigned must fail.
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
from adderflow.hw.units.mul import MUL_SOURCES, MulConfig

# (config, frame height, width)
CONFIGS = {
    "8x8_lanes2": (MulConfig(4, 6, x_bits=8, gate_bits=8, out_bits=16, lanes=2), 2, 3),
    "4x6_wide_out": (MulConfig(3, 4, x_bits=4, gate_bits=6, out_bits=12, lanes=1), 2, 2),
    "16x16_one_beat": (MulConfig(2, 1, x_bits=16, gate_bits=16, out_bits=32, lanes=2), 1, 1),
}
IMAGES = 4


def bounds(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def images(cfg: MulConfig, h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    (xlo, xhi), (glo, ghi) = bounds(cfg.x_bits), bounds(cfg.gate_bits)
    x = rng.integers(xlo, xhi, (IMAGES, cfg.channels, h, w), endpoint=True)
    gate = rng.integers(glo, ghi, (IMAGES, cfg.channels, 1, 1), endpoint=True)
    x[0], gate[0], x[1], gate[1], x[2], gate[2] = xhi, ghi, xlo, glo, xlo, ghi
    return x, gate


def case(name: str, run_dir, seed: int = 6):
    cfg, h, w = CONFIGS[name]
    x, gate = images(cfg, h, w, seed)
    words_x, words_gate = cfg.input_words(x, gate)
    expected = cfg.expected_beats(x, gate)
    args = ({"a": words_x, "b": words_gate}, expected, cfg.lanes, cfg.out_bits, seed)
    return write_case(
        run_dir, scenario(*args, True, None), scenario(*args, False, cfg.cycles(IMAGES))
    )


def build(hdl, sim, cfg, defines=None):
    return hdl.build(sim, "af_mul", rtl_sources(MUL_SOURCES), cfg.parameters(), defines)


@pytest.mark.parametrize("name", CONFIGS)
def test_mul_matches_reference_and_model(hdl, sim, name, tmp_path):
    cfg = CONFIGS[name][0]
    path = case(name, tmp_path)
    hdl.assert_passed(hdl.run(build(hdl, sim, cfg), "test_cocotb_mul", tmp_path, path), TESTS)
    check_traces(path, cfg.model)


@pytest.mark.parametrize("name", CONFIGS)
def test_mul_model_cycles_equal_formula(name):
    cfg = CONFIGS[name][0]
    beats = [IMAGES * cfg.pixels * cfg.groups, IMAGES * cfg.groups]
    assert model_cycles(cfg.model(), beats, beats[0]) == cfg.cycles(IMAGES)


def test_mul_detects_unsigned_gate(hdl, sim, tmp_path):
    """Built to read the gate codes as unsigned, the same bench must fail on the values."""
    cfg = CONFIGS["8x8_lanes2"][0]
    path = case("8x8_lanes2", tmp_path)
    mutant = build(hdl, sim, cfg, defines={"AF_MUL_UNSIGNED_GATE": 1})
    assert_mutant_fails(hdl.run(mutant, "test_cocotb_mul", tmp_path, path))
