"""The Verilog kernels are lint-clean Verilog-2005 and refuse impossible parameters.

Verilator ``--lint-only -Wall`` must print nothing (the waivers in the sources are
documented where they stand) and Icarus must compile every top with ``-g2005``, for the
defaults and for each parameter set the cocotb tests simulate. Parameters that the RTL
cannot honour (unknown PE mode, K not a multiple of SIMD, a window larger than its
padded frame, a threshold unit with CH not a multiple of PE) must stop elaboration in both
tools, naming the problem.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from adderflow.hw.rtlgen import (
    LINEWIN_SOURCES,
    MVU_SOURCES,
    REQUANT_SOURCES,
    THRESHOLD_SOURCES,
    WINDOW_SOURCES,
    MvuConfig,
    RequantConfig,
    ThresholdConfig,
    WindowConfig,
    hdl_literal,
    rtl_sources,
)
from adderflow.hw.rtlgen import LineWindowConfig as LineWin
from adderflow.hw.units.add import ADD_SOURCES, AddConfig
from adderflow.hw.units.concat import CONCAT_SOURCES, ConcatConfig
from adderflow.hw.units.fifo import FIFO_SOURCES, FifoConfig
from adderflow.hw.units.fork import FORK_SOURCES, ForkConfig
from adderflow.hw.units.lut import LUT_SOURCES, LutConfig
from adderflow.hw.units.maxpool import MAXPOOL_SOURCES, MaxPoolConfig
from adderflow.hw.units.mul import MUL_SOURCES, MulConfig
from adderflow.hw.units.sumpool import SUMPOOL_SOURCES, SumPoolConfig

BANK = Path(__file__).resolve().parent / "af_pe_bank.v"
PE = ["af_pe.v"]

MVU_SETS = [
    MvuConfig("adder", 8, k=12, out=6, pe=2, simd=3),
    MvuConfig("mac", 2, k=8, out=4, pe=4, simd=2),
    MvuConfig("adder", 16, k=16, out=3, pe=1, simd=16),
    MvuConfig("mac", 4, k=16, out=4, pe=2, simd=4),
    MvuConfig("xnor", 1, k=32, out=4, pe=2, simd=8),
    MvuConfig("xnor", 2, k=27, out=6, pe=3, simd=9),  # binary codes, 1-bit weights
    MvuConfig("xnor", 2, k=1, out=1),  # binary codes, every fold 1
    MvuConfig("adder", 4, k=1, out=1),  # every fold 1
]
REQUANT_SETS = [
    RequantConfig(ch=6, pe=2, acc_bits=14, m_bits=10, b_bits=18, shift=6, out_bits=8),
    RequantConfig(ch=4, pe=4, acc_bits=31, m_bits=16, b_bits=40, shift=30, out_bits=16),
    RequantConfig(ch=3, pe=1, acc_bits=9, m_bits=4, b_bits=6, shift=0, out_bits=2, relu=True),
    RequantConfig(ch=1, pe=1, acc_bits=4, m_bits=2, b_bits=2, shift=40, out_bits=2),
]
THRESHOLD_SETS = [
    ThresholdConfig(ch=6, pe=2, acc_bits=7, t_bits=7),
    ThresholdConfig(ch=5, pe=5, acc_bits=22, t_bits=16),
    ThresholdConfig(ch=3, pe=1, acc_bits=3, t_bits=4),
    ThresholdConfig(ch=1, pe=1, acc_bits=1, t_bits=2),  # narrowest: one word, 1-bit acc
]
WINDOW_SETS = [
    WindowConfig(8, 4, 5, 6, (3, 3), 1, 1, 1, 2),
    WindowConfig(16, 3, 7, 7, (3, 3), 2, 0, 1, 3),
    WindowConfig(2, 4, 6, 4, (3, 3), 1, 1, 2, 4),
    WindowConfig(8, 4, 4, 4, (2, 2), 1, 0, 2, 2),
    WindowConfig(8, 1, 1, 1, (1, 1), 1, 0, 1, 1),  # one-word buffer
    WindowConfig(8, 4, 4, 4, (2, 2), 1, 0, 2, 2, "avg"),  # 2x2 average, dense window
    WindowConfig(2, 2, 8, 8, (1, 1), 1, 0, 8, 1, "avg"),  # global 8x8 average, 2-bit codes
    WindowConfig(16, 3, 8, 4, (3, 3), 1, 1, 4, 3, "avg"),  # 4x4 average, 16-bit codes
    WindowConfig(8, 2, 3, 3, (3, 3), 1, 1, 1, 1, "avg"),  # avg with POOL 1: no pooling
    WindowConfig(16, 2, 1, 12, (1, 5), 1, (0, 2, 0, 2), 1, 2),  # 1-D signal
    WindowConfig(8, 2, 1, 12, (1, 3), (1, 2), (0, 1, 0, 1), (1, 2), 2),  # 1-D, 1x2 pool
    WindowConfig(8, 3, 5, 6, (2, 3), (2, 1), (1, 0, 0, 2), 1, 3),  # rectangle, four pads
    WindowConfig(8, 2, 6, 4, (3, 1), (1, 2), (0, 0, 2, 0), (2, 1), 1),  # 2x1 max pool
]
# The sets tests/rtl/test_cocotb_maxpool.py simulates, and a one-channel, one-tap edge.
MAXPOOL_SETS = [
    MaxPoolConfig(8, 4, 9, 2),
    MaxPoolConfig(16, 3, 4, 3),
    MaxPoolConfig(2, 4, 3, 4),
    MaxPoolConfig(8, 2, 1, 1),
    MaxPoolConfig(8, 1, 1, 1),
]
WINDOW_SETS += [
    WindowConfig(8, 4, 7, 7, (3, 3), 2, 1, lanes=2, pad_min=True),  # a max pool's window
    WindowConfig(8, 6, 5, 5, (3, 3), 1, 1, lanes=1, groups=6),  # depthwise
    WindowConfig(4, 8, 4, 4, (3, 3), 2, (1, 0, 1, 1), lanes=2, groups=2),  # grouped
]
MVU_SETS += [
    MvuConfig("adder", 8, k=9, out=6, pe=1, simd=1, groups=6),  # depthwise
    MvuConfig("mac", 4, k=18, out=8, pe=2, simd=3, groups=2),
    MvuConfig("xnor", 2, k=18, out=6, pe=3, simd=2, groups=2),
]
# The sets tests/rtl/test_cocotb_linewin.py simulates, then two it does not.
LINEWIN_SETS = [
    LineWin(8, 4, 6, 5, (3, 3), 1, 1, lanes=2),
    LineWin(16, 3, 8, 7, (3, 3), 2, 0, lanes=3),
    LineWin(8, 2, 9, 7, (5, 5), 1, 2, lanes=1),
    LineWin(2, 4, 7, 6, (3, 3), 2, 1, lanes=4),
    LineWin(8, 2, 4, 3, (1, 1), 1, 0, lanes=1),
    LineWin(4, 2, 6, 6, (1, 1), 2, 0, lanes=2),
    LineWin(8, 1, 3, 5, (3, 3), 1, 1, lanes=1),
    LineWin(8, 2, 1, 4, (3, 3), 1, 1, lanes=2),
    LineWin(8, 2, 1, 12, (1, 5), 1, (0, 2, 0, 2), lanes=2),
    LineWin(16, 4, 1, 9, (1, 3), (1, 2), (0, 1, 0, 1), lanes=4),
    LineWin(4, 3, 9, 6, (3, 2), (2, 1), (2, 0, 1, 1), lanes=3),
    LineWin(8, 1, 1, 1, (1, 1), 1, 0, lanes=1),  # one-word ring
    LineWin(8, 16, 32, 32, (3, 3), 1, 1, lanes=1),  # a frame af_window cannot address
]
# The sets the cocotb benches simulate, then edge cases they do not.
SUMPOOL_SETS = [
    SumPoolConfig(4, 3, 3, (3, 3), in_bits=8, out_bits=12, lanes=2),
    SumPoolConfig(6, 5, 7, (2, 3), in_bits=4, out_bits=8, lanes=3),
    SumPoolConfig(4, 2, 4, (1, 2), in_bits=16, out_bits=17, lanes=4),
    SumPoolConfig(1, 1, 1, (1, 1), in_bits=2, out_bits=2),  # one word, one pixel
    SumPoolConfig(16, 8, 8, (8, 8), in_bits=8, out_bits=14, lanes=1),  # global, 16 groups
]
CONCAT_SETS = [
    ConcatConfig(ca=4, cb=2, bits=8, lanes=2),
    ConcatConfig(ca=1, cb=3, bits=2, lanes=1),
    ConcatConfig(ca=1, cb=1, bits=16, lanes=1),  # two beats a pixel
]
MUL_SETS = [
    MulConfig(4, 6, x_bits=8, gate_bits=8, out_bits=16, lanes=2),
    MulConfig(3, 4, x_bits=4, gate_bits=6, out_bits=12, lanes=1),
    MulConfig(2, 1, x_bits=16, gate_bits=16, out_bits=32, lanes=2),
    MulConfig(64, 49, x_bits=8, gate_bits=8, out_bits=16, lanes=4),
]
LUT_SETS = [
    LutConfig(in_bits=8, out_bits=8, lanes=2),
    LutConfig(in_bits=12, out_bits=16, lanes=1),
    LutConfig(in_bits=2, out_bits=2, lanes=3),
]
NEW_UNITS = [
    ("sumpool", "af_sumpool", SUMPOOL_SOURCES, SUMPOOL_SETS, "AF_SUMPOOL_ZERO_EXTEND"),
    ("concat", "af_concat", CONCAT_SOURCES, CONCAT_SETS, "AF_CONCAT_B_FIRST"),
    ("mul", "af_mul", MUL_SOURCES, MUL_SETS, "AF_MUL_UNSIGNED_GATE"),
    ("lut", "af_lut", LUT_SOURCES, LUT_SETS, "AF_LUT_NO_OFFSET"),
]
# The sets tests/rtl/test_cocotb_{fork,fifo,add}.py simulate, then a deep FIFO (block RAM).
FORK_SETS = [ForkConfig(3, 70), ForkConfig(1, 1)]
FIFO_SETS = [FifoConfig(5, 12), FifoConfig(1, 3), FifoConfig(2, 66), FifoConfig(4096, 24)]
ADD_SETS = [AddConfig(4, 8, 4, 0, 3, 9), AddConfig(2, 11, 16, 40, 0, 52)]

# (id, top, sources, parameters, defines)
CASES = [
    ("pe-default", "af_pe", PE, {}, {}),
    ("pe-mac16", "af_pe", PE, {"MODE": "mac", "BITS": 16, "K": 1000, "SIMD": 5}, {}),
    ("pe-xnor", "af_pe", PE, {"MODE": "xnor", "BITS": 1, "K": 64, "SIMD": 7}, {}),
    ("pe-xnor2", "af_pe", PE, {"MODE": "xnor", "BITS": 2, "K": 64, "SIMD": 7}, {}),
    ("pe-bank", "af_pe_bank", PE, {}, {}),
    ("mvu-default", "af_mvu", MVU_SOURCES, {}, {}),
    *[
        (f"mvu-{c.mode}{c.bits}-k{c.k}-o{c.out}", "af_mvu", MVU_SOURCES, c.parameters(), {})
        for c in MVU_SETS
    ],
    ("requant-default", "af_requant", REQUANT_SOURCES, {}, {}),
    *[
        (f"requant-s{c.shift}-o{c.out_bits}", "af_requant", REQUANT_SOURCES, c.parameters(), {})
        for c in REQUANT_SETS
    ],
    ("threshold-default", "af_threshold", THRESHOLD_SOURCES, {}, {}),
    *[
        (
            f"threshold-a{c.acc_bits}-t{c.t_bits}",
            "af_threshold",
            THRESHOLD_SOURCES,
            c.parameters(),
            {},
        )
        for c in THRESHOLD_SETS
    ],
    ("window-default", "af_window", WINDOW_SOURCES, {}, {}),
    *[
        (f"window-{i}", "af_window", WINDOW_SOURCES, c.parameters(), {})
        for i, c in enumerate(WINDOW_SETS)
    ],
    ("linewin-default", "af_linewin", LINEWIN_SOURCES, {}, {}),
    ("maxpool-default", "af_maxpool", MAXPOOL_SOURCES, {}, {}),
    *[
        (f"maxpool-{i}", "af_maxpool", MAXPOOL_SOURCES, c.parameters(), {})
        for i, c in enumerate(MAXPOOL_SETS)
    ],
    *[
        (f"linewin-{i}", "af_linewin", LINEWIN_SOURCES, c.parameters(), {})
        for i, c in enumerate(LINEWIN_SETS)
    ],
    ("fork-default", "af_fork", FORK_SOURCES, {}, {}),
    *[(f"fork-n{c.n}-w{c.width}", "af_fork", FORK_SOURCES, c.parameters(), {}) for c in FORK_SETS],
    ("fifo-default", "af_fifo", FIFO_SOURCES, {}, {}),
    *[
        (f"fifo-d{c.depth}-w{c.width}", "af_fifo", FIFO_SOURCES, c.parameters(), {})
        for c in FIFO_SETS
    ],
    ("add-default", "af_add", ADD_SOURCES, {}, {}),
    *[
        (f"add-l{c.lanes}-o{c.out_bits}", "af_add", ADD_SOURCES, c.parameters(), {})
        for c in ADD_SETS
    ],
    (
        "requant-half-up",
        "af_requant",
        REQUANT_SOURCES,
        REQUANT_SETS[0].parameters(),
        {"AF_ROUND_HALF_UP": 1},
    ),
    *[
        case
        for unit, top, names, sets, mutant in NEW_UNITS
        for case in [
            (f"{unit}-default", top, names, {}, {}),
            *[(f"{unit}-{i}", top, names, c.parameters(), {}) for i, c in enumerate(sets)],
            (f"{unit}-mutant", top, names, sets[0].parameters(), {mutant: 1}),
        ]
    ],
]


def sources(top: str, names) -> list[str]:
    files = [str(p) for p in rtl_sources(names)]
    return [str(BANK), *files] if top == "af_pe_bank" else files


def verilator_lint(exe, top, names, parameters, defines) -> subprocess.CompletedProcess:
    cmd = [exe, "--lint-only", "-Wall", "--top-module", top]
    cmd += [f"-G{k}={hdl_literal(v)}" for k, v in parameters.items()]
    cmd += [f"-D{k}={v}" for k, v in defines.items()]
    return subprocess.run(cmd + sources(top, names), capture_output=True, text=True)


def icarus_compile(exe, top, names, parameters, defines, out) -> subprocess.CompletedProcess:
    cmd = [exe, "-g2005", "-Wall", "-s", top, "-o", str(out)]
    cmd += [f"-P{top}.{k}={hdl_literal(v)}" for k, v in parameters.items()]
    cmd += [f"-D{k}={v}" for k, v in defines.items()]
    return subprocess.run(cmd + sources(top, names), capture_output=True, text=True)


def diagnostics(result: subprocess.CompletedProcess) -> list[str]:
    """Warning and error lines (Verilator's closing report lines start with '- ')."""
    text = result.stdout + result.stderr
    return [line for line in text.splitlines() if line.strip() and not line.startswith("- ")]


@pytest.mark.parametrize(
    ("top", "names", "parameters", "defines"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_verilator_lint_is_clean(verilator_exe, top, names, parameters, defines):
    result = verilator_lint(verilator_exe, top, names, parameters, defines)
    assert result.returncode == 0 and not diagnostics(result), "\n".join(diagnostics(result))


@pytest.mark.parametrize(
    ("top", "names", "parameters", "defines"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_icarus_accepts_verilog_2005(iverilog_exe, tmp_path, top, names, parameters, defines):
    result = icarus_compile(iverilog_exe, top, names, parameters, defines, tmp_path / "a.vvp")
    assert result.returncode == 0, result.stdout + result.stderr
    # -Wall: only the timescale note for files without `timescale may appear.
    unexpected = [line for line in diagnostics(result) if "timescale" not in line]
    assert not unexpected, "\n".join(unexpected)


REFUSALS = [
    ("af_pe", PE, {"MODE": "adderr"}, "af_pe_error_unknown_mode_or_xnor_bits_not_1_or_2"),
    ("af_pe", PE, {"MODE": "xnor", "BITS": 3}, "af_pe_error_unknown_mode_or_xnor_bits_not_1_or_2"),
    (
        "af_mvu",
        MVU_SOURCES,
        {"K": 5, "SIMD": 2},
        "af_mvu_error_K_not_multiple_of_SIMD_or_OUT_not_multiple_of_PE",
    ),
    (
        "af_mvu",
        MVU_SOURCES,
        {"OUT": 6, "PE": 4},
        "af_mvu_error_K_not_multiple_of_SIMD_or_OUT_not_multiple_of_PE",
    ),
    ("af_requant", REQUANT_SOURCES, {"CH": 6, "PE": 4}, "af_requant_error_CH_not_multiple_of_PE"),
    ("af_requant", REQUANT_SOURCES, {"OUT_BITS": 1}, "af_round_error_OUT_BITS_below_2"),
    (
        "af_threshold",
        THRESHOLD_SOURCES,
        {"CH": 6, "PE": 4},
        "af_threshold_error_CH_not_multiple_of_PE_or_bad_width",
    ),
    (
        "af_threshold",
        THRESHOLD_SOURCES,
        {"T_BITS": 1},
        "af_threshold_error_CH_not_multiple_of_PE_or_bad_width",
    ),
    ("af_window", WINDOW_SOURCES, {"C": 6, "LANES": 4}, "af_window_error_bad_shape_or_fold"),
    ("af_window", WINDOW_SOURCES, {"H": 7, "POOL": 2}, "af_window_error_bad_shape_or_fold"),
    ("af_window", WINDOW_SOURCES, {"KH": 11, "PAD": 1}, "af_window_error_bad_shape_or_fold"),
    (
        "af_window",
        WINDOW_SOURCES,
        {"H": 6, "W": 6, "POOL": 3, "POOL_MODE": "avg", "PAD": 1},
        "af_window_error_bad_pool_mode",
    ),
    ("af_window", WINDOW_SOURCES, {"POOL_MODE": "min"}, "af_window_error_bad_pool_mode"),
    ("af_window", WINDOW_SOURCES, {"PAD_R": -1}, "af_window_error_bad_shape_or_fold"),
    ("af_window", WINDOW_SOURCES, {"STRIDE_W": 0}, "af_window_error_bad_shape_or_fold"),
    ("af_window", WINDOW_SOURCES, {"W": 7, "POOL_W": 2}, "af_window_error_bad_shape_or_fold"),
    (
        "af_window",
        WINDOW_SOURCES,
        {"POOL_H": 1, "POOL_W": 3, "W": 9, "POOL_MODE": "avg"},
        "af_window_error_bad_pool_mode",
    ),
    ("af_linewin", LINEWIN_SOURCES, {"C": 6, "LANES": 4}, "af_linewin_error_bad_shape_or_fold"),
    ("af_linewin", LINEWIN_SOURCES, {"C": 4, "GROUPS": 3}, "af_linewin_error_bad_shape_or_fold"),
    ("af_window", WINDOW_SOURCES, {"C": 6, "GROUPS": 4}, "af_window_error_bad_shape_or_fold"),
    (
        "af_mvu",
        MVU_SOURCES,
        {"OUT": 6, "PE": 2, "GROUPS": 2},
        "af_mvu_error_K_not_multiple_of_SIMD_or_OUT_not_multiple_of_PE",
    ),
    ("af_maxpool", MAXPOOL_SOURCES, {"C": 6, "LANES": 4}, "af_maxpool_error_bad_shape"),
    ("af_maxpool", MAXPOOL_SOURCES, {"TAPS": 0}, "af_maxpool_error_bad_shape"),
    ("af_linewin", LINEWIN_SOURCES, {"KH": 11, "PAD": 1}, "af_linewin_error_bad_shape_or_fold"),
    ("af_linewin", LINEWIN_SOURCES, {"PAD": 3}, "af_linewin_error_bad_shape_or_fold"),
    ("af_linewin", LINEWIN_SOURCES, {"STRIDE": 0}, "af_linewin_error_bad_shape_or_fold"),
    ("af_linewin", LINEWIN_SOURCES, {"PAD_B": 3}, "af_linewin_error_bad_shape_or_fold"),
    ("af_linewin", LINEWIN_SOURCES, {"KW": 2, "PAD_L": 2}, "af_linewin_error_bad_shape_or_fold"),
    (
        "af_linewin",
        LINEWIN_SOURCES,
        {"W": 2000, "C": 4, "PAD": 0},
        "af_linewin_error_bad_shape_or_fold",
    ),
    (
        "af_sumpool",
        SUMPOOL_SOURCES,
        {"C": 6, "LANES": 4},
        "af_sumpool_error_bad_shape_fold_or_width",
    ),
    ("af_sumpool", SUMPOOL_SOURCES, {"H": 3, "KH": 4}, "af_sumpool_error_bad_shape_fold_or_width"),
    (
        "af_sumpool",
        SUMPOOL_SOURCES,
        {"IN_BITS": 8, "OUT_BITS": 7},
        "af_sumpool_error_bad_shape_fold_or_width",
    ),
    ("af_concat", CONCAT_SOURCES, {"CA": 3, "LANES": 2}, "af_concat_error_bad_fold_or_width"),
    ("af_concat", CONCAT_SOURCES, {"CB": 0}, "af_concat_error_bad_fold_or_width"),
    ("af_mul", MUL_SOURCES, {"C": 6, "LANES": 4}, "af_mul_error_bad_shape_fold_or_width"),
    ("af_mul", MUL_SOURCES, {"PIXELS": 0}, "af_mul_error_bad_shape_fold_or_width"),
    ("af_lut", LUT_SOURCES, {"IN_BITS": 13}, "af_lut_error_bad_lanes_or_width"),
    ("af_lut", LUT_SOURCES, {"IN_BITS": 1}, "af_lut_error_bad_lanes_or_width"),
    ("af_fork", FORK_SOURCES, {"N": 0}, "af_fork_error_N_or_W_below_1"),
    ("af_fifo", FIFO_SOURCES, {"DEPTH": 0}, "af_fifo_error_DEPTH_or_W_below_1"),
    (
        "af_add",
        ADD_SOURCES,
        {"A_BITS": 8, "B_BITS": 4, "SHIFT_B": 5, "OUT_BITS": 9},
        "af_add_error_bad_shape_or_OUT_BITS_below_sum_width",
    ),
    (
        "af_add",
        ADD_SOURCES,
        {"A_BITS": 16, "SHIFT_A": 40, "OUT_BITS": 56, "LANES": 0},
        "af_add_error_bad_shape_or_OUT_BITS_below_sum_width",
    ),
]


@pytest.mark.parametrize(
    ("top", "names", "parameters", "marker"),
    REFUSALS,
    ids=[f"{r[0]}-{'-'.join(map(str, r[2].values()))}" for r in REFUSALS],
)
def test_impossible_parameters_stop_elaboration(
    verilator_exe, iverilog_exe, tmp_path, top, names, parameters, marker
):
    lint = verilator_lint(verilator_exe, top, names, parameters, {})
    assert lint.returncode != 0 and marker in lint.stdout + lint.stderr
    compiled = icarus_compile(iverilog_exe, top, names, parameters, {}, tmp_path / "a.vvp")
    assert compiled.returncode != 0 and marker in compiled.stdout + compiled.stderr
