"""af_maxpool against the NumPy max, beat for beat and cycle for cycle.

The input is what af_window with ``pad_min`` emits for the pool's geometry (its NumPy
reference ``WindowConfig.windows``: padded taps at the minimum code), the expected output
the lane-wise maximum over each pixel's taps, which is the padded max pool of the frame
(padding never wins: ``test_window_with_pad_min_is_the_padded_max_pool``). Frames: random
codes, one all-max and one all-min frame (an all-min frame's maximum is the minimum code
whether or not padding counts), and one all-negative frame, where zero padding would win
at every border pixel. Under random input gaps and output back-pressure, then at full
rate, whose cycles must equal ``MaxPoolConfig.cycles``. Sets: 3x3 stride 2 pad 1 (the
ResNet stem's pool), 2x2 stride 1 with pads on two sides, a 1-D 1x3 stride 2 pad 1, 2-bit
and 16-bit codes, LANES 1 to 4, and one tap (a 1x1 pool: a plain pass).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stream_tests import STREAM_TESTS as TESTS
from stream_tests import stream_full_rate, stream_under_pressure  # noqa: F401 (cocotb finds them here)

from adderflow.errors import AdderflowError
from adderflow.hw.units.common import rtl_sources
from adderflow.hw.units.maxpool import MAXPOOL_SOURCES as SOURCES
from adderflow.hw.units.maxpool import MaxPoolConfig
from adderflow.hw.units.window import WindowConfig

# ---- pytest side ---------------------------------------------------------------------

WINDOWS = {
    "pool3x3_s2_p1": WindowConfig(8, 4, 7, 7, (3, 3), 2, 1, lanes=2, pad_min=True),
    "pool2x2_s1_asym_16bit": WindowConfig(
        16, 3, 5, 4, (2, 2), 1, (0, 1, 1, 0), lanes=3, pad_min=True
    ),
    "pool1x3_s2_p1_1d_2bit": WindowConfig(
        2, 4, 1, 9, (1, 3), (1, 2), (0, 1, 0, 1), lanes=4, pad_min=True
    ),
    "pool1x1_s2": WindowConfig(8, 2, 4, 4, (1, 1), 2, 0, lanes=1, pad_min=True),
}


def frames(cfg: WindowConfig, seed: int, count: int = 5) -> np.ndarray:
    """Random frames; frame 0 all-max, 1 all-min, 2 negative codes only."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (cfg.bits - 1)), (1 << (cfg.bits - 1)) - 1
    x = rng.integers(lo, hi, size=(count, cfg.channels, cfg.height, cfg.width), endpoint=True)
    x[0], x[1] = hi, lo
    x[2] = rng.integers(lo, -1, size=x[2].shape, endpoint=True)
    return x


def scenario(cfg: WindowConfig, x: np.ndarray, seed, p_gap, p_stall, timed: bool) -> dict:
    pool = MaxPoolConfig.after(cfg)
    windows = cfg.windows(x)
    pixels = windows.shape[0] * windows.shape[1] * windows.shape[2]
    return {
        "in_words": pool.input_words(windows),
        "expected": pool.reduce(windows).reshape(-1, cfg.lanes).tolist(),
        "lanes": cfg.lanes,
        "lane_bits": cfg.bits,
        "p_gap": p_gap,
        "p_stall": p_stall,
        "longest": 12,
        "seed": seed,
        "cycles": pool.cycles(pixels) if timed else None,
    }


def write_case(run_dir: Path, cfg: WindowConfig, seed: int = 7) -> Path:
    x = frames(cfg, seed)
    case = {
        "pressure": scenario(cfg, x, seed, p_gap=0.15, p_stall=0.2, timed=False),
        "full_rate": scenario(cfg, x[2:], seed, 0.0, 0.0, timed=True),
    }
    path = run_dir / "case.json"
    path.write_text(json.dumps(case))
    return path


def build(hdl, sim: str, cfg: WindowConfig, **override):
    parameters = {**MaxPoolConfig.after(cfg).parameters(), **override}
    return hdl.build(sim, "af_maxpool", rtl_sources(SOURCES), parameters)


@pytest.mark.parametrize("name", WINDOWS)
def test_maxpool_matches_reference(hdl, sim, name, tmp_path):
    cfg = WINDOWS[name]
    case = write_case(tmp_path, cfg)
    outcomes = hdl.run(build(hdl, sim, cfg), "test_cocotb_maxpool", tmp_path, case)
    hdl.assert_passed(outcomes, TESTS)


def test_maxpool_bench_detects_a_wrong_expected_value(hdl, tmp_path):
    cfg = WINDOWS["pool3x3_s2_p1"]
    case_path = write_case(tmp_path, cfg)
    case = json.loads(case_path.read_text())
    for key in ("pressure", "full_rate"):
        case[key]["expected"][5][1] += 1
    case_path.write_text(json.dumps(case))
    outcomes = hdl.run(build(hdl, "verilator", cfg), "test_cocotb_maxpool", tmp_path, case_path)
    for name in TESTS:
        assert not outcomes[name].passed, name
        assert "mismatch at output beat 5" in outcomes[name].message


def test_maxpool_bench_detects_a_short_window(hdl, sim, tmp_path):
    """Built with one tap fewer than the window has, the reduce must fail the bench."""
    cfg = WINDOWS["pool2x2_s1_asym_16bit"]
    case = write_case(tmp_path, cfg)
    outcomes = hdl.run(build(hdl, sim, cfg, TAPS=3), "test_cocotb_maxpool", tmp_path, case)
    for name in TESTS:
        assert not outcomes[name].passed, name


def test_window_with_pad_min_is_the_padded_max_pool():
    """The reduce of the pad_min window is the max pool with padding as -inf, also where
    every frame code is negative (zero padding would give 0 at the borders)."""
    for cfg in WINDOWS.values():
        x = frames(cfg, 3)
        (kh, kw), (sh, sw), (top, left, bottom, right) = cfg.kernel, cfg.strides, cfg.pads
        padded = np.full(
            (*x.shape[:2], cfg.height + top + bottom, cfg.width + left + right), -np.inf
        )
        padded[:, :, top : top + cfg.height, left : left + cfg.width] = x
        oh, ow = cfg.out_size
        want = np.empty((*x.shape[:2], oh, ow))
        for oy in range(oh):
            for ox in range(ow):
                tile = padded[:, :, oy * sh : oy * sh + kh, ox * sw : ox * sw + kw]
                want[:, :, oy, ox] = tile.max(axis=(2, 3))
        got = MaxPoolConfig.after(cfg).reduce(cfg.windows(x)).transpose(0, 3, 1, 2)
        assert np.array_equal(got, want)
        zero_padded = WindowConfig(**{**cfg.__dict__, "pad_min": False})
        if any(cfg.pads):  # frame 2 (all negative) tells the paddings apart
            assert not np.array_equal(MaxPoolConfig.after(cfg).reduce(
                zero_padded.windows(x[2:3])).transpose(0, 3, 1, 2), want[2:3])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"channels": 6, "lanes": 4}, "not a multiple of lanes"),
        ({"taps": 0}, "must be positive"),
        ({"bits": 17}, "outside the supported range"),
    ],
)
def test_maxpool_config_refuses_what_the_rtl_cannot_build(kwargs, message):
    with pytest.raises(AdderflowError, match=message):
        MaxPoolConfig(**{"bits": 8, "channels": 4, "taps": 9, **kwargs})


def test_maxpool_needs_a_min_padded_window():
    with pytest.raises(AdderflowError, match="pad with the minimum code"):
        MaxPoolConfig.after(WindowConfig(8, 4, 7, 7, (3, 3), 2, 1))
