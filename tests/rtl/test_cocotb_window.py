"""af_window against a NumPy window reference, beat for beat and cycle for cycle.

Each parameter set streams frames with random codes, one all-max and one all-min frame
(padding must still read as zero next to them), under random input gaps and output
back-pressure, then two frames at full rate whose measured cycles must equal
``WindowConfig.cycles``. The sets cover 3x3 padding 1, stride 2 without padding, 2x2 max
pooling on write, a dense layer's whole-frame window, code widths 2, 8 and 16, 1-D signals
(frames of height 1: kernels (1, k), strides (1, s), pads (0, p, 0, p), a 1x2 pool) and
general rectangles (kh != kw, sh != sw, four different pads, a 2x1 max pool); and
average pooling on write (2x2, 4x4 and a global 8x8 mean at 2, 8 and 16 bits) with a frame
of rounding ties where half-to-even and half-up disagree (the AF_ROUND_HALF_UP mutation
must fail on it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stream_tests import STREAM_TESTS as TESTS
from stream_tests import stream_full_rate, stream_under_pressure  # noqa: F401 (cocotb finds them here)

from adderflow.errors import AdderflowError
from adderflow.hw.rtlgen import WINDOW_SOURCES as SOURCES
from adderflow.hw.rtlgen import WindowConfig, rtl_sources

TESTS_TO_SCENARIO = {"stream_under_pressure": "pressure", "stream_full_rate": "full_rate"}

# ---- pytest side ---------------------------------------------------------------------

CONFIGS = {
    "conv3x3_pad1": WindowConfig(8, 4, 5, 6, (3, 3), 1, 1, 1, 2),
    "stride2_pad0_16bit": WindowConfig(16, 3, 7, 7, (3, 3), 2, 0, 1, 3),
    "pool2_conv_pad1_2bit": WindowConfig(2, 4, 6, 4, (3, 3), 1, 1, 2, 4),
    "pool2_dense": WindowConfig(8, 4, 4, 4, (2, 2), 1, 0, 2, 2),
    "1x1_stride1": WindowConfig(8, 2, 3, 3, (1, 1), 1, 0, 1, 1),
    "avg2_conv_pad1": WindowConfig(8, 4, 6, 4, (3, 3), 1, 1, 2, 2, "avg"),
    "avg4_dense_16bit": WindowConfig(16, 3, 8, 8, (2, 2), 1, 0, 4, 3, "avg"),
    "avg8_global_2bit": WindowConfig(2, 2, 8, 8, (1, 1), 1, 0, 8, 1, "avg"),
    # 1-D signals [C, L] as frames [C, 1, L]: kernel (1, k), stride (1, s), pads (0, p, 0, p)
    "1d_k5_pad2_16bit": WindowConfig(16, 2, 1, 12, (1, 5), 1, (0, 2, 0, 2), 1, 2),
    "1d_k3_s2_pad1_2bit": WindowConfig(2, 4, 1, 9, (1, 3), (1, 2), (0, 1, 0, 1), 1, 4),
    "1d_pool1x2_k3_pad1": WindowConfig(8, 2, 1, 12, (1, 3), 1, (0, 1, 0, 1), (1, 2), 2),
    # General: kh != kw, sh != sw, every side its own pad, a non-square pool
    "rect_k2x3_s2x1_asym": WindowConfig(8, 3, 5, 6, (2, 3), (2, 1), (1, 0, 0, 2), 1, 3),
    "max2x1_k3x1_asym": WindowConfig(8, 2, 6, 4, (3, 1), (1, 2), (0, 0, 2, 0), (2, 1), 1),
}


def tie_frame(cfg: WindowConfig, rng: np.random.Generator) -> np.ndarray:
    """A frame whose every pooled block sums to ``area·m + area/2`` (a tie), ``m`` random
    with checkerboard parity: for even ``m`` half-to-even rounds down where half-up rounds
    up, for odd ``m`` it rounds up where truncation rounds down."""
    (fh, fw), (ph, pw) = cfg.frame, cfg.pools
    area, quarter = ph * pw, 1 << (cfg.bits - 2)
    c, y, x = np.indices((cfg.channels, fh, fw))
    parity = (c + y + x) % 2
    # m = 2r + parity within [qmin, qmax - 1], so that m + 1 is a code too.
    m = 2 * rng.integers(-quarter, quarter - 1 - parity, endpoint=True) + parity
    bump = np.zeros((cfg.channels, fh, fw, area), dtype=np.int64)
    bump[..., : area // 2] = 1
    bump = rng.permuted(bump, axis=-1).reshape(cfg.channels, fh, fw, ph, pw)
    blocks = m[..., None, None] + bump  # [C, FH, FW, p, p]
    return blocks.transpose(0, 1, 3, 2, 4).reshape(cfg.channels, cfg.height, cfg.width)


def frames(cfg: WindowConfig, seed: int, count: int = 4) -> np.ndarray:
    """Random frames; frame 0 all at the maximum code, frame 1 all at the minimum."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (cfg.bits - 1)), (1 << (cfg.bits - 1)) - 1
    x = rng.integers(lo, hi, size=(count, cfg.channels, cfg.height, cfg.width), endpoint=True)
    x[0], x[1] = hi, lo
    if cfg.pool_mode == "avg" and cfg.pools != (1, 1):
        x[2] = tie_frame(cfg, rng)  # in both scenarios (full rate streams x[2:])
    return x


def scenario(cfg: WindowConfig, x: np.ndarray, seed, p_gap, p_stall, cycles) -> dict:
    return {
        "in_words": cfg.input_words(x),
        "expected": cfg.windows(x).reshape(-1, cfg.lanes).tolist(),
        "lanes": cfg.lanes,
        "lane_bits": cfg.bits,
        "p_gap": p_gap,
        "p_stall": p_stall,
        "longest": 12,
        "seed": seed,
        "cycles": cycles,
    }


def write_case(run_dir: Path, cfg: WindowConfig, seed: int = 11) -> Path:
    x = frames(cfg, seed)
    case = {
        "pressure": scenario(cfg, x, seed, p_gap=0.15, p_stall=0.2, cycles=None),
        "full_rate": scenario(cfg, x[2:], seed, 0.0, 0.0, cycles=cfg.cycles(2)),
    }
    path = run_dir / "case.json"
    path.write_text(json.dumps(case))
    return path


@pytest.mark.parametrize("name", CONFIGS)
def test_window_matches_reference(hdl, sim, name, tmp_path):
    cfg = CONFIGS[name]
    case = write_case(tmp_path, cfg)
    build = hdl.build(sim, "af_window", rtl_sources(SOURCES), cfg.parameters())
    hdl.assert_passed(hdl.run(build, "test_cocotb_window", tmp_path, case), TESTS)


def test_window_bench_detects_a_wrong_expected_value(hdl, tmp_path):
    """One corrupted expected tap must make the bench fail with a value mismatch."""
    cfg = CONFIGS["conv3x3_pad1"]
    case_path = write_case(tmp_path, cfg)
    case = json.loads(case_path.read_text())
    for key in TESTS_TO_SCENARIO.values():
        case[key]["expected"][7][1] += 1
    case_path.write_text(json.dumps(case))
    build = hdl.build("verilator", "af_window", rtl_sources(SOURCES), cfg.parameters())
    outcomes = hdl.run(build, "test_cocotb_window", tmp_path, case_path)
    for name in TESTS:
        assert not outcomes[name].passed, name
        assert "mismatch at output beat 7" in outcomes[name].message


def test_window_bench_detects_half_up_average(hdl, sim, tmp_path):
    """Built with ties rounding upwards, the bench must fail on the tie frame."""
    cfg = CONFIGS["avg2_conv_pad1"]
    case = write_case(tmp_path, cfg)
    mutant = hdl.build(
        sim, "af_window", rtl_sources(SOURCES), cfg.parameters(), defines={"AF_ROUND_HALF_UP": 1}
    )
    outcomes = hdl.run(mutant, "test_cocotb_window", tmp_path, case)
    for name in TESTS:
        assert not outcomes[name].passed, name
        assert "mismatch at output beat" in outcomes[name].message


@pytest.mark.parametrize(
    "name, wrong",
    [
        ("rect_k2x3_s2x1_asym", {"PAD_L": 2, "PAD_R": 0}),  # left and right pads swapped
        ("1d_k3_s2_pad1_2bit", {"STRIDE_H": 2, "STRIDE_W": 1}),  # strides swapped
    ],
)
def test_window_bench_detects_a_mutated_geometry(hdl, sim, name, wrong, tmp_path):
    """Built with the geometry's pads or strides swapped, the bench must fail against the
    true geometry's reference (the shapes still build: the frame's beat counts agree or
    the checker reports the missing or extra beats)."""
    cfg = CONFIGS[name]
    case = write_case(tmp_path, cfg)
    mutant = hdl.build(sim, "af_window", rtl_sources(SOURCES), {**cfg.parameters(), **wrong})
    outcomes = hdl.run(mutant, "test_cocotb_window", tmp_path, case)
    for test in TESTS:
        assert not outcomes[test].passed, test


def test_window_reference_takes_rectangles_and_asymmetric_pads():
    """The reference by hand: a 1x4 signal, kernel (1, 2), stride (1, 2), pads (0, 1, 0, 2)
    gives the padded row [0, a, b, c, d, 0, 0] cut into [0, a], [b, c], [d, 0]."""
    cfg = WindowConfig(8, 1, 1, 4, (1, 2), (1, 2), (0, 1, 0, 2), 1, 1)
    x = np.array([5, -6, 7, -8]).reshape(1, 1, 1, 4)
    assert cfg.out_size == (1, 3)
    assert cfg.windows(x)[0, 0].tolist() == [[0, 5], [-6, 7], [-8, 0]]
    tall = WindowConfig(8, 1, 4, 1, (2, 1), (2, 1), (1, 0, 0, 0), (1, 1), 1)
    y = np.array([1, 2, 3, 4]).reshape(1, 1, 4, 1)
    assert tall.windows(y)[0, :, 0].tolist() == [[0, 1], [2, 3]]  # row 3 is a leftover
    pooled = WindowConfig(8, 1, 1, 4, (1, 1), 1, 0, (1, 2), 1)
    assert pooled.windows(x)[0, 0].tolist() == [[5], [7]]
    assert pooled.parameters()["POOL_H"] == 1 and pooled.parameters()["POOL_W"] == 2
    assert "POOL_H" not in cfg.parameters() and cfg.parameters()["PAD_R"] == 2


def test_tie_frames_separate_half_even_from_half_up():
    """The tie frame is all ties; half-up would change a third of them or more, and so
    would truncation."""
    for cfg in (c for c in CONFIGS.values() if c.pool_mode == "avg"):
        x = tie_frame(cfg, np.random.default_rng(3))[None]
        (ph, pw), (fh, fw) = cfg.pools, cfg.frame
        area = ph * pw
        sums = x.reshape(1, cfg.channels, fh, ph, fw, pw)
        sums = sums.sum(axis=(3, 5))
        assert np.all(sums % area == area // 2)
        half_up = (sums + area // 2) // area
        assert np.mean(cfg.pooled(x) != half_up) >= 1 / 3
        assert np.mean(cfg.pooled(x) != sums // area) >= 1 / 3


def test_window_reference_averages_half_to_even():
    """2x2 blocks summing to 6, 10, -6, -10 (means 1.5, 2.5, -1.5, -2.5) give 2, 2, -2, -2;
    the codes themselves at the extremes give the extremes back."""
    cfg = WindowConfig(8, 1, 4, 4, (2, 2), 1, 0, 2, 1, "avg")
    blocks = [[1, 1, 2, 2], [2, 2, 3, 3], [-1, -1, -2, -2], [-2, -2, -3, -3]]
    x = np.array(blocks).reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(1, 1, 4, 4)
    assert cfg.pooled(x).tolist() == [[[[2, 2], [-2, -2]]]]
    assert cfg.windows(x)[0, 0, 0].tolist() == [2, 2, -2, -2]
    for bits in (2, 5, 8, 16):
        c = WindowConfig(bits, 1, 4, 4, (1, 1), 1, 0, 4, 1, "avg")
        for code in (-(1 << (bits - 1)), (1 << (bits - 1)) - 1):
            assert c.pooled(np.full((1, 1, 4, 4), code)).item() == code


def test_window_reference_pads_with_zeros_and_pools_with_max():
    """The NumPy reference itself, on a frame small enough to check by hand."""
    cfg = WindowConfig(8, 1, 4, 4, (2, 2), 1, 1, 2, 1)
    x = np.arange(16).reshape(1, 1, 4, 4) - 8  # pooled: [[-3, -1], [5, 7]]
    w = cfg.windows(x)
    assert w.shape == (1, 3, 3, 4)
    assert w[0, 0, 0].tolist() == [0, 0, 0, -3]
    assert w[0, 1, 1].tolist() == [-3, -1, 5, 7]
    assert w[0, 2, 2].tolist() == [7, 0, 0, 0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"channels": 6, "lanes": 4}, "not a multiple of lanes"),
        ({"height": 5, "pool": 2}, "not divisible by pool"),
        ({"kernel": (5, 5), "pad": 0}, "larger than the padded frame"),
        ({"bits": 17}, "outside the supported range"),
        ({"height": 200, "width": 200, "channels": 8}, "too large"),
        ({"pad": -1}, "must not be negative"),
        ({"pad": (0, 1, 0, -1)}, "must not be negative"),
        ({"pad": (1, 1)}, "pads must be an int or \\(top, left, bottom, right\\)"),
        ({"stride": (1, 0)}, "must be positive"),
        ({"kernel": (1, 6), "pad": (0, 1, 0, 0)}, "larger than the padded frame"),
        ({"width": 5, "pool": (1, 2)}, "not divisible by pool"),
        ({"pool": (1, 2), "width": 6, "pool_mode": "avg"}, "is not square"),  # as IntAvgPool
        ({"height": 6, "width": 6, "pool": 3, "pool_mode": "avg"}, "area 9 is not a power of two"),
        ({"pool_mode": "mean"}, "pool mode 'mean' is not one of"),
    ],
)
def test_window_config_refuses_what_the_rtl_cannot_build(kwargs, message):
    base = {"bits": 8, "channels": 4, "height": 4, "width": 4, "kernel": (3, 3)}
    with pytest.raises(AdderflowError, match=message):
        WindowConfig(**{**base, **kwargs})
