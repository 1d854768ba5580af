"""af_lut against ``fixed.table_lookup`` (IntLut), beat for beat, its handshake model
against the RTL cycle for cycle.

The table is random codes of ``out_bits`` with both extremes among them; the input frames
are frame 0 all-max codes (the table's last entry), frame 1 all-min (its first), then
every code of the input width once, shuffled (so every ROM word is read; of the 12-bit
table a sample of 96), then random;
under random gaps and back-pressure and at full rate (cycles = ``lut_cycles``). Sets:
8 bits in and out two lanes, 12 bits in (the widest table, 4096 entries) to 16 bits out,
2 bits in to 2 out three lanes. Mutation: an index without the offset must fail.
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
from adderflow.hw.units.lut import LUT_SOURCES, LutConfig

CONFIGS = {
    "8to8_lanes2": LutConfig(in_bits=8, out_bits=8, lanes=2),
    "12to16": LutConfig(in_bits=12, out_bits=16, lanes=1),
    "2to2_lanes3": LutConfig(in_bits=2, out_bits=2, lanes=3),
}
PIXELS = 4  # per frame (2 x 2)


def bounds(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def data(cfg: LutConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The table and frames ``[N, lanes, 2, 2]``."""
    rng = np.random.default_rng(seed)
    (ilo, ihi), (olo, ohi) = bounds(cfg.in_bits), bounds(cfg.out_bits)
    table = rng.integers(olo, ohi, 1 << cfg.in_bits, endpoint=True)
    table[0], table[-1] = ohi, olo
    # Every code once, so every ROM word is read (12 bits: 96 of them; the bench stays short).
    codes = rng.permutation(np.arange(ilo, ihi + 1))[: 256 if cfg.in_bits <= 8 else 96]
    per_frame = cfg.lanes * PIXELS
    n = 3 + -(-codes.size // per_frame)
    x = rng.integers(ilo, ihi, n * per_frame, endpoint=True)
    x[:per_frame], x[per_frame : 2 * per_frame] = ihi, ilo
    x[2 * per_frame : 2 * per_frame + codes.size] = codes
    return table, x.reshape(n, 2, 2, cfg.lanes).transpose(0, 3, 1, 2)


def case(cfg: LutConfig, run_dir, seed: int = 7):
    table, x = data(cfg, seed)
    cfg.write_table(run_dir / "table.hex", table)
    words, expected = cfg.input_words(x), cfg.expected_beats(x, table)
    args = ({"in": words}, expected, cfg.lanes, cfg.out_bits, seed)
    return write_case(
        run_dir, scenario(*args, True, None), scenario(*args, False, cfg.cycles(len(words)))
    )


def build(hdl, sim, cfg, defines=None):
    return hdl.build(sim, "af_lut", rtl_sources(LUT_SOURCES), cfg.parameters(), defines)


@pytest.mark.parametrize("name", CONFIGS)
def test_lut_matches_reference_and_model(hdl, sim, name, tmp_path):
    cfg = CONFIGS[name]
    path = case(cfg, tmp_path)
    hdl.assert_passed(hdl.run(build(hdl, sim, cfg), "test_cocotb_lut", tmp_path, path), TESTS)
    check_traces(path, cfg.model)


def test_lut_model_cycles_equal_formula():
    cfg = CONFIGS["8to8_lanes2"]
    assert model_cycles(cfg.model(), [37], 37) == cfg.cycles(37)


def test_lut_detects_missing_offset(hdl, sim, tmp_path):
    """Built to index the table with the raw code bits, the same bench must fail."""
    cfg = CONFIGS["8to8_lanes2"]
    path = case(cfg, tmp_path)
    mutant = build(hdl, sim, cfg, defines={"AF_LUT_NO_OFFSET": 1})
    assert_mutant_fails(hdl.run(mutant, "test_cocotb_lut", tmp_path, path))
