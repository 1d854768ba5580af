"""af_requant against ``adderflow.fixed.requantize``, bit for bit and cycle for cycle.

Data per parameter set (fixed seeds): multipliers include the extremes of their width,
the first two accumulator vectors are all-max and all-min (so products reach their bound
and the output saturates both ways), and some vectors are built to land exactly on
rounding ties where round-half-to-even and round-half-up disagree, so a wrong rounding
mode cannot pass (the AF_ROUND_HALF_UP mutation check proves it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stream_tests import STREAM_TESTS as TESTS
from stream_tests import stream_full_rate, stream_under_pressure  # noqa: F401 (cocotb finds them here)

from adderflow.fixed import FixedType, requantize, saturate
from adderflow.hw.rtlgen import REQUANT_SOURCES, RequantConfig, rtl_sources

# ---- pytest side ---------------------------------------------------------------------

CONFIGS = {
    "shift6": RequantConfig(ch=6, pe=2, acc_bits=14, m_bits=10, b_bits=18, shift=6, out_bits=8),
    "shift30": RequantConfig(ch=4, pe=4, acc_bits=31, m_bits=16, b_bits=40, shift=30, out_bits=16),
    "relu_shift0": RequantConfig(
        ch=3, pe=1, acc_bits=9, m_bits=4, b_bits=6, shift=0, out_bits=2, relu=True
    ),
}


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def half_up(cfg: RequantConfig, acc, m, b) -> np.ndarray:
    """The wrong rounding (ties upwards) the mutation check builds into the RTL."""
    v = acc * m + b
    if cfg.shift:
        v = (v + (1 << (cfg.shift - 1))) >> cfg.shift
    out = FixedType(cfg.out_bits, 0)
    return saturate(v, 0 if cfg.relu else out.qmin, out.qmax)


def make_data(cfg: RequantConfig, seed: int, vectors: int = 12):
    """Per-channel M, B and accumulators ``[vectors, CH]``.

    Rows 0 and 1 are all-max and all-min accumulators (saturating both ways with the
    extreme multipliers). With a shift, rows 2..5 land exactly on ties whose floor is even
    and unsaturated, where half-to-even and half-up differ: B is chosen so that row 2's
    ``acc*M + B`` is ``q*2**s + 2**(s-1)`` for an even in-range ``q``, and rows 3..5 add
    even multiples of ``2**s`` to the accumulator. The other rows scatter around the
    output range, part inside it and part saturating.
    """
    rng = np.random.default_rng(seed)
    m_lo, m_hi = signed_range(cfg.m_bits)
    a_lo, a_hi = signed_range(cfg.acc_bits)
    b_lo, b_hi = signed_range(cfg.b_bits)
    o_lo, o_hi = signed_range(cfg.out_bits)
    period = 1 << cfg.shift
    m = rng.integers(m_lo, m_hi, size=cfg.ch, endpoint=True)
    m[0] = m_hi
    if cfg.ch > 1:
        m[1] = m_lo
    m[m == 0] = 1
    b = rng.integers(b_lo // 2, b_hi // 2, size=cfg.ch, endpoint=True)
    acc = rng.integers(a_lo, a_hi, size=(vectors, cfg.ch), endpoint=True)
    if cfg.shift:
        q_lo = max(2 if cfg.relu else o_lo + 2, -(b_hi // 2) // period)
        q_hi = min(o_hi - 2, (b_hi // 2) // period)
        for c in range(cfg.ch):
            q = 2 * int(rng.integers(-(-q_lo // 2), q_hi // 2, endpoint=True))
            a_cap = min(a_hi, (b_hi // 2) // abs(int(m[c])))
            a2 = int(rng.integers(-a_cap, a_cap, endpoint=True))
            b[c] = q * period + period // 2 - a2 * int(m[c])
            acc[2:6, c] = a2
            for row in range(3, 6):
                j = 2 * int(rng.integers(-2, 2, endpoint=True))
                if q_lo <= q + j * int(m[c]) <= q_hi and a_lo <= a2 + j * period <= a_hi:
                    acc[row, c] = a2 + j * period
        first_scatter = 6
    else:
        first_scatter = 2
    # Around acc = -B/M the output is near zero; spread over about twice the output range.
    spread = np.maximum(1, ((o_hi - o_lo) * period) // np.abs(m))
    centre = -b // m
    rows = acc[first_scatter:]
    rows[:] = np.clip(centre + rng.integers(-spread, spread, size=rows.shape), a_lo, a_hi)
    acc[0], acc[1] = a_hi, a_lo
    assert b.min() >= b_lo and b.max() <= b_hi
    return acc, m, b


def expected(cfg: RequantConfig, acc, m, b) -> np.ndarray:
    return requantize(acc, m, b, cfg.shift, FixedType(cfg.out_bits, 0), relu=cfg.relu)


def scenario(cfg, acc, m, b, seed, p_gap, p_stall, cycles) -> dict:
    return {
        "in_words": cfg.input_words(acc),
        "expected": expected(cfg, acc, m, b).reshape(-1, cfg.pe).tolist(),
        "lanes": cfg.pe,
        "lane_bits": cfg.out_bits,
        "p_gap": p_gap,
        "p_stall": p_stall,
        "longest": 12,
        "seed": seed,
        "cycles": cycles,
    }


def write_case(run_dir: Path, cfg: RequantConfig, seed: int = 5) -> Path:
    acc, m, b = make_data(cfg, seed)
    if cfg.shift:  # the data must be able to tell the rounding modes apart
        assert np.any(expected(cfg, acc[2:6], m, b) != half_up(cfg, acc[2:6], m, b))
    cfg.write_params(run_dir / "mult.hex", run_dir / "bias.hex", m, b)
    case = {
        "pressure": scenario(cfg, acc, m, b, seed, p_gap=0.15, p_stall=0.2, cycles=None),
        "full_rate": scenario(cfg, acc[:6], m, b, seed, 0.0, 0.0, cycles=cfg.cycles(6)),
    }
    path = run_dir / "case.json"
    path.write_text(json.dumps(case))
    return path


def build(hdl, sim: str, cfg: RequantConfig, defines=None):
    return hdl.build(
        sim, "af_requant", rtl_sources(REQUANT_SOURCES), cfg.parameters(), defines=defines
    )


@pytest.mark.parametrize("name", CONFIGS)
def test_requant_matches_reference(hdl, sim, name, tmp_path):
    cfg = CONFIGS[name]
    case = write_case(tmp_path, cfg)
    hdl.assert_passed(hdl.run(build(hdl, sim, cfg), "test_cocotb_requant", tmp_path, case), TESTS)


def test_requant_detects_round_half_up(hdl, sim, tmp_path):
    """Built with ties rounding upwards, the same bench must fail on the tie vectors."""
    cfg = CONFIGS["shift6"]
    case = write_case(tmp_path, cfg)
    mutant = build(hdl, sim, cfg, defines={"AF_ROUND_HALF_UP": 1})
    outcomes = hdl.run(mutant, "test_cocotb_requant", tmp_path, case)
    for name in TESTS:
        assert not outcomes[name].passed, name
        assert "mismatch at output beat" in outcomes[name].message
