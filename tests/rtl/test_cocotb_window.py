"""af_window against a NumPy window reference, beat for beat and cycle for cycle.

Each parameter set streams frames with random codes, one all-max and one all-min frame
(padding must still read as zero next to them), under random input gaps and output
back-pressure, then two frames at full rate whose measured cycles must equal
``WindowConfig.cycles``. The sets cover 3x3 padding 1, stride 2 without padding, 2x2 max
pooling on write, a dense layer's whole-frame window, and code widths 2, 8 and 16.
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
}


def frames(cfg: WindowConfig, seed: int, count: int = 4) -> np.ndarray:
    """Random frames; frame 0 all at the maximum code, frame 1 all at the minimum."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (cfg.bits - 1)), (1 << (cfg.bits - 1)) - 1
    x = rng.integers(lo, hi, size=(count, cfg.channels, cfg.height, cfg.width), endpoint=True)
    x[0], x[1] = hi, lo
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
    ],
)
def test_window_config_refuses_what_the_rtl_cannot_build(kwargs, message):
    base = {"bits": 8, "channels": 4, "height": 4, "width": 4, "kernel": (3, 3)}
    with pytest.raises(AdderflowError, match=message):
        WindowConfig(**{**base, **kwargs})
