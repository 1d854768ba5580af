"""af_mvu against the NumPy reference, bit for bit and cycle for cycle.

Cocotb coroutines (run inside the simulator) and the pytest functions that build af_mvu
with ``get_runner`` and run them. Each parameter set is built once per simulator; the
weight ROM is a ``$readmemh`` file written next to the case, so the mutation checks reuse
the build. Data: fixed seeds; weight rows 0 and 1 are all-min and all-max codes and the
first two input vectors all-max and all-min, so every run reaches the accumulator bound.
The binary-code set (xnor, 2-bit lanes) also has padded taps (code 0) in its inputs, one
vector of nothing else, which must not vote. Grouped sets (``groups``: depthwise, 2, 3
and 4 groups over adder, mac and binary-code PEs) stream ``groups`` vectors a pixel and
each group's rows must meet only their own vector; built as one group they must fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stream_tests import STREAM_TESTS as TESTS
from stream_tests import stream_full_rate, stream_under_pressure  # noqa: F401 (cocotb finds them here)

from adderflow.fixed import pack_bits
from adderflow.hw.rtlgen import MVU_SOURCES, MvuConfig, read_memh, rtl_sources, write_memh
from adderflow.sim.reference import _xnor_rows, adder_gemm, int_gemm

# ---- pytest side ---------------------------------------------------------------------

# BITS 2, 4, 8, 16 over the three PE kinds; folds with NF = 1, SF = 1 and both > 1; K a
# power of two where the accumulator bound is tight.
CONFIGS = {
    "adder8": MvuConfig("adder", bits=8, k=12, out=6, pe=2, simd=3),
    "mac2": MvuConfig("mac", bits=2, k=8, out=4, pe=4, simd=2),
    "adder16": MvuConfig("adder", bits=16, k=16, out=3, pe=1, simd=16),
    "mac4": MvuConfig("mac", bits=4, k=16, out=4, pe=2, simd=4),
    "xnor": MvuConfig("xnor", bits=1, k=32, out=4, pe=2, simd=8),
    "xnor2": MvuConfig("xnor", bits=2, k=27, out=6, pe=3, simd=9),
    # Adder units with a 64-bit chunk of lanes or more take af_mvu's own Verilator form
    # (FAST): three chunks, the last a part one, at BITS 8; at BITS 2 the lane sums
    # outgrow one field and are totalled every two chunks.
    "adder8_wide": MvuConfig("adder", bits=8, k=48, out=4, pe=2, simd=24),
    "adder2_wide": MvuConfig("adder", bits=2, k=80, out=2, pe=1, simd=40),
}
# Grouped convolutions: K is one group's taps, each pixel GROUPS vectors (af_window's
# group order); depthwise (a group per channel, K = the kernel's taps) included.
GROUPED = {
    "adder8_depthwise": MvuConfig("adder", bits=8, k=9, out=6, pe=1, simd=3, groups=6),
    "mac4_groups2": MvuConfig("mac", bits=4, k=18, out=8, pe=2, simd=6, groups=2),
    "adder16_groups4": MvuConfig("adder", bits=16, k=4, out=8, pe=2, simd=4, groups=4),
    "xnor2_groups3": MvuConfig("xnor", bits=2, k=12, out=6, pe=1, simd=4, groups=3),
}


def reference(cfg: MvuConfig, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The oracle: adder_gemm for adder PEs, int_gemm on +-1 codes for 1-bit xnor and mac,
    and for binary codes the reference's masked popcount (padding, code 0, does not vote)
    against the weights packed as the IR stores them."""
    if cfg.mode == "xnor" and cfg.bits == 2:
        return _xnor_rows(x, pack_bits(w))
    return adder_gemm(x, w) if cfg.mode == "adder" else int_gemm(x, w)


def codes(cfg: MvuConfig, rng: np.random.Generator, shape, weights: bool = False) -> np.ndarray:
    if cfg.mode == "xnor":
        padded = cfg.bits == 2 and not weights  # binary-code inputs: 0 is a padded tap
        return rng.choice(np.array([-1, 0, 1] if padded else [-1, 1]), size=shape)
    lo, hi = -(1 << (cfg.bits - 1)), (1 << (cfg.bits - 1)) - 1
    return rng.integers(lo, hi, size=shape, endpoint=True)


def extremes(cfg: MvuConfig) -> tuple[int, int]:
    if cfg.mode == "xnor":
        return -1, 1
    return -(1 << (cfg.bits - 1)), (1 << (cfg.bits - 1)) - 1


def make_data(cfg: MvuConfig, seed: int, vectors: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lo, hi = extremes(cfg)
    w = codes(cfg, rng, (cfg.out, cfg.k), weights=True)
    w[0], w[1] = lo, hi
    x = codes(cfg, rng, (vectors, cfg.k))
    x[0], x[1] = hi, lo
    if cfg.mode == "xnor" and cfg.bits == 2:
        x[5] = 0  # a window entirely in the padding: every sum 0
    return x, w


def grouped_reference(cfg: MvuConfig, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``y[pixel, o]``: row ``o`` of group ``j = o // (OUT/G)`` against the pixel's vector
    ``j`` only (``x`` holds ``G`` vectors a pixel)."""
    g, rows = cfg.groups, cfg.out // cfg.groups
    xs = x.reshape(-1, g, cfg.k)
    return np.concatenate(
        [reference(cfg, xs[:, j], w[j * rows : (j + 1) * rows]) for j in range(g)], axis=1
    )


def scenario(cfg, x, w, seed, p_gap, p_stall, cycles) -> dict:
    y = grouped_reference(cfg, x, w)
    assert np.abs(y).max() < 1 << (cfg.acc_bits - 1) or y.min() == -(1 << (cfg.acc_bits - 1))
    return {
        "in_words": cfg.input_words(x),
        "expected": y.reshape(-1, cfg.pe).tolist(),
        "lanes": cfg.pe,
        "lane_bits": cfg.acc_bits,
        "p_gap": p_gap,
        "p_stall": p_stall,
        "longest": 12,
        "seed": seed,
        "cycles": cycles,
    }


def write_case(run_dir: Path, cfg: MvuConfig, seed: int = 1) -> Path:
    """Weights file and case file for both cocotb tests; returns the case path. Ten
    pixels (``groups`` vectors each), the full-rate run the pixels 2 to 4."""
    g = cfg.groups
    x, w = make_data(cfg, seed, vectors=10 * g)
    cfg.write_weights(run_dir / "weights.hex", w)
    full = x[2 * g : 5 * g]
    case = {
        "pressure": scenario(cfg, x, w, seed, p_gap=0.15, p_stall=0.2, cycles=None),
        "full_rate": scenario(cfg, full, w, seed, p_gap=0.0, p_stall=0.0, cycles=cfg.cycles(3)),
    }
    path = run_dir / "case.json"
    path.write_text(json.dumps(case))
    return path


def build(hdl, sim: str, cfg: MvuConfig):
    return hdl.build(sim, "af_mvu", rtl_sources(MVU_SOURCES), cfg.parameters("weights.hex"))


@pytest.mark.parametrize("name", [*CONFIGS, *GROUPED])
def test_mvu_matches_reference(hdl, sim, name, tmp_path):
    cfg = {**CONFIGS, **GROUPED}[name]
    outcomes = hdl.run(build(hdl, sim, cfg), "test_cocotb_mvu", tmp_path, write_case(tmp_path, cfg))
    hdl.assert_passed(outcomes, TESTS)


# ---- mutation checks: the bench must be able to fail -------------------------------------


def test_mvu_detects_a_wrong_expected_value(hdl, sim, tmp_path):
    cfg = CONFIGS["adder8"]
    case_path = write_case(tmp_path, cfg)
    case = json.loads(case_path.read_text())
    case["pressure"]["expected"][3][1] += 1
    case_path.write_text(json.dumps(case))
    outcomes = hdl.run(build(hdl, sim, cfg), "test_cocotb_mvu", tmp_path, case_path)
    assert outcomes["stream_full_rate"].passed
    assert not outcomes["stream_under_pressure"].passed
    assert "mismatch at output beat 3" in outcomes["stream_under_pressure"].message


def test_mvu_detects_groups_run_together(hdl, sim, tmp_path):
    """Built as one group (every row against every vector), a grouped bench must fail."""
    cfg = GROUPED["mac4_groups2"]
    case = write_case(tmp_path, cfg)
    mutant = {**cfg.parameters("weights.hex"), "GROUPS": 1}
    build = hdl.build(sim, "af_mvu", rtl_sources(MVU_SOURCES), mutant)
    outcomes = hdl.run(build, "test_cocotb_mvu", tmp_path, case)
    for name in TESTS:
        assert not outcomes[name].passed, name


def test_grouped_reference_is_not_a_block_diagonal_adder_gemm():
    """An adder layer's weight 0 is not neutral (-|x - 0| != 0): the grouped reference
    differs from adder_gemm over the block-diagonal matrix, so the bench tells them apart."""
    cfg = GROUPED["adder8_depthwise"]
    x, w = make_data(cfg, 1, vectors=2 * cfg.groups)
    rows = cfg.out // cfg.groups
    dense = np.zeros((cfg.out, cfg.groups * cfg.k), np.int64)
    for j in range(cfg.groups):
        dense[j * rows : (j + 1) * rows, j * cfg.k : (j + 1) * cfg.k] = w[j * rows : (j + 1) * rows]
    assert not np.array_equal(
        grouped_reference(cfg, x, w), adder_gemm(x.reshape(2, -1), dense)
    )


def test_mvu_detects_a_corrupt_weight_word(hdl, sim, tmp_path):
    cfg = CONFIGS["adder8"]
    case_path = write_case(tmp_path, cfg)
    words = read_memh(tmp_path / "weights.hex")
    words[5] ^= 1 << 9  # one bit of one lane of one ROM word
    write_memh(tmp_path / "weights.hex", words, cfg.weight_word_bits)
    outcomes = hdl.run(build(hdl, sim, cfg), "test_cocotb_mvu", tmp_path, case_path)
    for name in TESTS:
        assert not outcomes[name].passed, name
        assert "mismatch at output beat" in outcomes[name].message
