"""af_threshold against the IR's BinaryThreshold (``adderflow.fixed.binarize``), bit for
bit and cycle for cycle.

Data per parameter set (fixed seeds): directions of both signs; the first two accumulator
vectors are all-max and all-min; the next rows sit exactly on each channel's boundary
(``direction·acc == threshold``, which must give +1) and one step either side of it, so a
``>`` for ``>=`` or an ignored direction cannot pass; thresholds include the extremes the
fold produces (``-K`` and ``K + 1``: always +1 / always -1) and, for the wide set, the
extremes of their width.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stream_tests import STREAM_TESTS as TESTS
from stream_tests import stream_full_rate, stream_under_pressure  # noqa: F401 (cocotb finds them here)

from adderflow.fixed import binarize
from adderflow.hw.rtlgen import THRESHOLD_SOURCES, ThresholdConfig, rtl_sources

# ---- pytest side ---------------------------------------------------------------------

CONFIGS = {
    # a binary layer's accumulator (K = 45, signed_bits(45) = 7), thresholds in [-K, K+1]
    "xnor_k45": ThresholdConfig(ch=6, pe=2, acc_bits=7, t_bits=7),
    # a multiplication stem's wide accumulator, all channels in one beat
    "stem_wide": ThresholdConfig(ch=5, pe=5, acc_bits=22, t_bits=16),
    # narrow accumulator, threshold wider than it (K + 1 needs one more bit), one lane
    "narrow": ThresholdConfig(ch=3, pe=1, acc_bits=3, t_bits=4),
}


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def make_data(cfg: ThresholdConfig, seed: int, vectors: int = 14):
    """Thresholds, directions and accumulators ``[vectors, CH]`` (see the module doc)."""
    rng = np.random.default_rng(seed)
    a_lo, a_hi = signed_range(cfg.acc_bits)
    t_lo, t_hi = signed_range(cfg.t_bits)
    # A threshold the boundary rows can reach: |t| <= the accumulator range.
    reach = min(a_hi, t_hi)
    t = rng.integers(-reach, reach, size=cfg.ch, endpoint=True)
    d = rng.choice(np.array([-1, 1]), size=cfg.ch)
    d[0], d[1] = 1, -1
    acc = rng.integers(a_lo, a_hi, size=(vectors, cfg.ch), endpoint=True)
    acc[0], acc[1] = a_hi, a_lo
    on = d * t  # direction·acc == t  <=>  acc == direction·t
    for row, step in ((2, 0), (3, -1), (4, 1), (5, 0)):
        acc[row] = np.clip(on + step, a_lo, a_hi)
    # Boundary thresholds of the fold, and the width's extremes where they differ.
    t[-1] = a_hi + 1 if t_hi >= a_hi + 1 else t_hi  # never reached: always -1 (d = +1)
    d[-1] = 1
    if cfg.ch > 3:  # -K (always +1 with d = +1), or the width's minimum if narrower
        t[2], d[2] = max(-a_hi, t_lo), 1
    return acc, t, d


def expected(acc, t, d) -> np.ndarray:
    return binarize(acc, t, d)


def scenario(cfg, acc, t, d, seed, p_gap, p_stall, cycles) -> dict:
    return {
        "in_words": cfg.input_words(acc),
        "expected": expected(acc, t, d).reshape(-1, cfg.pe).tolist(),
        "lanes": cfg.pe,
        "lane_bits": cfg.out_bits,
        "p_gap": p_gap,
        "p_stall": p_stall,
        "longest": 12,
        "seed": seed,
        "cycles": cycles,
    }


def write_case(run_dir: Path, cfg: ThresholdConfig, seed: int = 9) -> Path:
    acc, t, d = make_data(cfg, seed)
    out = expected(acc, t, d)
    # The data must tell >= from > (ties give +1) and see both outputs in both directions.
    ties = d * acc == t
    assert ties.any() and (out[ties] == 1).all()
    for sign in (-1, 1):
        assert set(out[:, d == sign].ravel().tolist()) == {-1, 1}
    cfg.write_params(run_dir / "thresh.hex", run_dir / "dir.hex", t, d)
    case = {
        "pressure": scenario(cfg, acc, t, d, seed, p_gap=0.15, p_stall=0.2, cycles=None),
        "full_rate": scenario(cfg, acc[:6], t, d, seed, 0.0, 0.0, cycles=cfg.cycles(6)),
    }
    path = run_dir / "case.json"
    path.write_text(json.dumps(case))
    return path


def build(hdl, sim: str, cfg: ThresholdConfig):
    return hdl.build(sim, "af_threshold", rtl_sources(THRESHOLD_SOURCES), cfg.parameters())


@pytest.mark.parametrize("name", CONFIGS)
def test_threshold_matches_reference(hdl, sim, name, tmp_path):
    cfg = CONFIGS[name]
    case = write_case(tmp_path, cfg)
    outcomes = hdl.run(build(hdl, sim, cfg), "test_cocotb_threshold", tmp_path, case)
    hdl.assert_passed(outcomes, TESTS)


def test_threshold_detects_a_wrong_expected_value(hdl, sim, tmp_path):
    """A flipped expected code (on a tie row) must fail the bench, naming the beat."""
    cfg = CONFIGS["xnor_k45"]
    case_path = write_case(tmp_path, cfg)
    case = json.loads(case_path.read_text())
    beat = 2 * cfg.cf  # row 2: every channel exactly on its boundary
    case["pressure"]["expected"][beat][0] *= -1
    case_path.write_text(json.dumps(case))
    outcomes = hdl.run(build(hdl, sim, cfg), "test_cocotb_threshold", tmp_path, case_path)
    assert outcomes["stream_full_rate"].passed
    assert not outcomes["stream_under_pressure"].passed
    assert f"mismatch at output beat {beat}" in outcomes["stream_under_pressure"].message
