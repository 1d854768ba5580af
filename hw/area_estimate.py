"""Fast FPGA resource estimate of a generated network from its parameters (no synthesis).

Each unit's ECP5 LUT sites and flip-flops are linear functions of structural counts the
parameters fix (lanes x bits, accumulator bits, ROM bits kept as logic, requantizer product
bits, frame buffer bits); BRAM, DSP and LUT RAM are counted from the RTL's memories and
multipliers. The coefficients are least-squares fits, on relative error, to yosys
``synth_ecp5`` results of single units (``calibrate``: af_pe at 6 points and af_mvu at 7
foldings, each as adder, mac and LUT-only mac; af_requant at 8 widths with and without DSP
blocks; af_window at 5 frame sizes, and with average pooling at 6) and are checked
against the benchmark's designs, none of which set them: one af_pe, a 16x16 af_mvu and
whole networks with their mac twins (``python bench/area.py`` prints estimate, yosys count
and error for each; ``python -m adderflow.hw.area_estimate RUN/rtl --measure`` for one
network; docs/benchmarks.md records them). Torch-free.

LUT figures are LUT4 *sites* (LUT4 + 2 per CCU2C carry cell, the ``luts`` of
``adderflow synth``'s summary before LUT RAM).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

# A ROM deeper than this becomes block RAM in yosys' memory mapping; shallower ones logic.
ROM_LOGIC_DEPTH = 64
BRAM_BITS, BRAM_WIDTH = 18432, 36  # ECP5 DP16KD: 18 kbit, up to 36 bits wide (PDPW16KD)

# yosys 0.70 synth_ecp5, fitted by ``calibrate()`` (``python -m adderflow.hw.area_estimate
# --calibrate``; the feature functions below name each coefficient's count).
# LUT sites (LUT4 + 2 * CCU2C):
COEFFS: dict[str, list[float]] = {
    # af_pe alone, ``pe_features``: [simd*bits, acc_bits, 1]
    "pe-adder": [6.907, 1.95, -28.131],
    "pe-mac": [4.896, 2.473, -53.853],
    "pe-mac-nodsp": [46.546, 0.846, -27.127],
    # af_mvu, ``mvu_features``: [lanes*bits, pe*acc_bits, ROM word bits x ceil(depth/16), 1]
    "adder": [6.619, -1.299, 1.365, 51.447],
    "mac": [6.161, -1.885, 0.929, 71.063],
    "mac-nodsp": [34.716, 15.406, 0.252, -193.028],
    # af_requant, ``requant_features``: [pe * width of acc*M + B, M and B ROM logic bits, 1];
    # without DSP blocks the acc*M product is a LUT multiplier, a general one when M comes
    # from a ROM (more than one channel a lane) and shift-and-adds when M is a constant (one
    # channel a lane): [pe*acc_bits*m_bits (ROM M), pe*acc_bits*m_bits (constant M), 1]
    "requant": [2.653, 1.009, 35.7],
    "requant-nodsp": [3.534, 1.381, 124.486],
    # af_window, ``window_features``: [frame buffer bits, lanes*bits, 1]: the buffer is block
    # RAM or LUT RAM behind a registered read address (no read multiplexers left), pooling
    # and the output slice grow with the lanes, the counters with the frame's log.
    "window": [0.026, 2.702, 611.797],
    # average-pool af_window, the same features with the stored lane's width (``BITS +
    # log2(POOL²)``, ``avg_stored_bits``); the rounding (af_round) grows with the lanes.
    "window-avg": [0.124, 5.277, 467.436],
}
# Flip-flops, same keys (yosys drops constant and unused register bits, so a fit beats a
# count of the RTL's registers):
FF_COEFFS: dict[str, list[float]] = {
    # af_mvu, ``mvu_ff_features``: [simd*bits, pe*simd*bits, pe*acc_bits, 1]
    "adder": [2.762, -0.125, 4.941, -16.458],
    "mac": [3.02, -0.151, 4.279, -18.881],
    "mac-nodsp": [3.02, -0.151, 4.279, -18.881],
    # af_requant, ``requant_ff_features``: [pe*(acc_bits + m_bits), M and B ROM output bits, 1]
    "requant": [2.185, 0.685, -0.815],
    "requant-nodsp": [2.185, 0.685, -0.815],
    # af_window, ``window_ff_features``: [lanes*bits, 1]
    "window": [1.941, 177.665],
    "window-avg": [0.973, 165.279],
}


@dataclass
class Estimate:
    luts: float = 0.0
    ffs: float = 0.0
    brams: float = 0.0
    dsps: float = 0.0
    lutram: float = 0.0

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(*(a + b for a, b in zip(self.values(), other.values(), strict=True)))

    def values(self) -> tuple[float, ...]:
        return (self.luts, self.ffs, self.brams, self.dsps, self.lutram)

    def rounded(self) -> dict[str, int]:
        return {k: round(v) for k, v in asdict(self).items()}


def mvu_features(bits: int, k: int, out: int, pe: int, simd: int, acc_bits: int) -> list[float]:
    depth = (out // pe) * (k // simd)
    word = pe * simd * bits
    rom_logic = word * math.ceil(depth / 16) if depth <= ROM_LOGIC_DEPTH else 0
    return [pe * simd * bits, pe * acc_bits, rom_logic, 1.0]


def mvu_ff_features(bits: int, pe: int, simd: int, acc_bits: int) -> list[float]:
    return [simd * bits, pe * simd * bits, pe * acc_bits, 1.0]


def mvu_key(mode: str, dsp: bool) -> str:
    return mode if dsp or mode != "mac" else "mac-nodsp"


def pe_features(bits: int, simd: int, acc_bits: int) -> list[float]:
    return [simd * bits, acc_bits, 1.0]


def pe_estimate(mode: str, bits: int, simd: int, k: int, dsp: bool = True) -> Estimate:
    """One af_pe alone (SIMD lanes, adder tree, accumulator); its flip-flops are the
    accumulator's."""
    from adderflow.hw.units.mvu import pe_acc_bits

    acc = pe_acc_bits(mode, bits, k)
    luts = float(np.dot(COEFFS[f"pe-{mvu_key(mode, dsp)}"], pe_features(bits, simd, acc)))
    dsps = simd if mode == "mac" and dsp else 0
    return Estimate(luts, float(acc), 0.0, dsps, 0.0)


def mvu_estimate(
    mode: str, bits: int, k: int, out: int, pe: int, simd: int, acc_bits: int, dsp: bool = True
) -> Estimate:
    """One af_mvu: PEs, weight ROM, operand registers, replay buffer, output slice."""
    key = mvu_key(mode, dsp)
    features = mvu_features(bits, k, out, pe, simd, acc_bits)
    luts = float(np.dot(COEFFS[key], features))
    sf, nf = k // simd, out // pe
    depth, word = nf * sf, pe * simd * bits
    brams = 0.0 if depth <= ROM_LOGIC_DEPTH else _brams(depth, word)
    # Registers: input and weight operands, accumulators, a two-entry output slice, counters.
    ffs = float(np.dot(FF_COEFFS[key], mvu_ff_features(bits, pe, simd, acc_bits)))
    lutram = math.ceil(simd * bits / 4) * math.ceil(sf / 16) if nf > 1 else 0
    dsps = pe * simd if mode == "mac" and dsp else 0
    return Estimate(luts, ffs, brams, dsps, lutram)


def requant_features(
    pe: int, ch: int, acc_bits: int, m_bits: int, b_bits: int, dsp: bool
) -> list[float]:
    p_bits = max(acc_bits + m_bits, b_bits) + 1
    cf = ch // pe
    rom = cf > 1  # else each lane's M and B are constants
    if dsp:
        rom_bits = pe * (m_bits + b_bits) * math.ceil(cf / 16) if rom else 0
        return [pe * p_bits, rom_bits, 1.0]
    product = pe * acc_bits * m_bits
    return [product if rom else 0.0, 0.0 if rom else product, 1.0]


def requant_ff_features(pe: int, ch: int, acc_bits: int, m_bits: int, b_bits: int) -> list[float]:
    rom_regs = pe * (m_bits + b_bits) if ch > pe else 0  # constants when one channel a lane
    return [pe * (acc_bits + m_bits), rom_regs, 1.0]


def window_features(lanes: int, bits: int, frame_bits: int) -> list[float]:
    return [frame_bits, lanes * bits, 1.0]


def window_ff_features(lanes: int, bits: int) -> list[float]:
    return [lanes * bits, 1.0]


def requant_estimate(
    pe: int, ch: int, acc_bits: int, m_bits: int, b_bits: int, out_bits: int, dsp: bool = True
) -> Estimate:
    """One af_requant: per-lane product (DSP, or LUTs), bias add, rounding, saturation."""
    key = "requant" if dsp else "requant-nodsp"
    luts = float(np.dot(COEFFS[key], requant_features(pe, ch, acc_bits, m_bits, b_bits, dsp)))
    # 18x18 signed multipliers: an operand over 18 bits splits into more DSP blocks.
    dsps = pe * math.ceil(acc_bits / 18) * math.ceil(m_bits / 18) if dsp else 0
    ff_features = requant_ff_features(pe, ch, acc_bits, m_bits, b_bits)
    ffs = float(np.dot(FF_COEFFS[key], ff_features))
    return Estimate(luts, ffs, 0.0, dsps, 0.0)


def avg_stored_bits(bits: int, pool: int) -> int:
    """An average-pool window's stored lane: the block's exact sum, ``BITS + log2(POOL²)``."""
    return bits + 2 * (pool.bit_length() - 1)


def window_estimate(
    lanes: int, bits: int, frame_words: int, pool_mode: str = "max", pool: int = 1
) -> Estimate:
    """One af_window: frame buffer (one registered read port), address counters; an
    average-pool window (``pool_mode="avg"``) stores wider lanes and rounds each one
    (af_round), fitted apart (``window-avg``)."""
    key = "window-avg" if pool_mode == "avg" and pool > 1 else "window"
    if key == "window-avg":
        bits = avg_stored_bits(bits, pool)
    frame_bits = frame_words * lanes * bits
    luts = float(np.dot(COEFFS[key], window_features(lanes, bits, frame_bits)))
    # yosys keeps a shallow buffer in LUT RAM (16 words x 4 bits a cell) with the address
    # register, a deeper one goes to block RAM (the calibration points: 16-64 words LUT
    # RAM, 128 and 144 words DP16KD).
    width = lanes * bits
    if frame_words > ROM_LOGIC_DEPTH:
        brams, lutram = float(_brams(frame_words, width)), 0.0
    else:
        brams, lutram = 0.0, float(math.ceil(width / 4) * math.ceil(frame_words / 16))
    # counters (as wide as the frame needs) and the output slice
    ffs = float(np.dot(FF_COEFFS[key], window_ff_features(lanes, bits)))
    return Estimate(luts, ffs, brams, 0.0, lutram)


# ---- the graph units (issue #21): af_fork, af_fifo, af_add, af_sumpool, af_concat, af_mul,
# af_lut. Each: its Verilog files, the structural counts its LUT sites and flip-flops grow
# with, and its calibration points (``calibrate_graph`` fits GRAPH_COEFFS and
# GRAPH_FF_COEFFS to yosys runs of each unit alone, one row per ``graph_key``: af_fifo
# has one per memory kind); ``check_graph`` (``--check-graph``) measures the error at
# GRAPH_CHECK's points, which no fit used (docs/benchmarks.md).


def _log2(n: int) -> int:
    return max(1, (max(1, n) - 1).bit_length())


def add_sum_bits_kept(p: dict[str, int]) -> tuple[int, int]:
    """af_add's (distinct sum bits, carry-chain bits) a lane, from its parameters.

    Below the smaller shift the sum is constant zero; from the finer operand's sign bit up
    to the coarser operand's shift every bit is that sign (yosys merges their registers);
    the adder proper spans from the coarser shift to OUT_BITS."""
    fine_bits = p["A_BITS"] if p["SHIFT_A"] <= p["SHIFT_B"] else p["B_BITS"]
    lo, hi = sorted((p["SHIFT_A"], p["SHIFT_B"]))
    copies = max(0, hi - lo - fine_bits)
    return p["OUT_BITS"] - lo - copies, p["OUT_BITS"] - hi


def fifo_in_lutram(depth: int, width: int) -> bool:
    """Whether yosys 0.70 maps af_fifo's memory to LUT RAM (else block RAM), as measured:
    up to 32 words always (32x128: 64 cells), deeper while it takes at most 26 cells of
    16 words x 4 bits (LUT RAM at 40x24, 64x24, 96x16, 100x12, 120x8, 200x4; block RAM at
    48x36 = 27 cells, 64x28, 104x16, 128x16)."""
    return depth <= 32 or math.ceil(width / 4) * math.ceil(depth / 16) <= 26


def graph_key(kind: str, p: dict[str, int]) -> str:
    """The coefficient row of a graph unit: af_fifo has one per memory kind."""
    if kind == "fifo" and fifo_in_lutram(p["DEPTH"], p["W"]):
        return "fifo-lutram"
    return kind


def graph_features(kind: str, p: dict[str, int]) -> tuple[list[float], list[float]]:
    """(LUT features, FF features) of one graph unit from its Verilog parameters."""
    if kind == "fork":  # one two-entry slice of W bits per output (2W + 2 FFs), the AND
        return [p["N"] * p["W"], p["N"], 1.0], [p["N"] * p["W"], p["N"], 1.0]
    if kind == "fifo":  # pointers and counts (log2 DEPTH), the output register (W)
        log, ff = _log2(p["DEPTH"]), [p["W"], _log2(p["DEPTH"]), 1.0]
        if fifo_in_lutram(p["DEPTH"], p["W"]):  # + read multiplexers over 16-word banks
            return [p["W"] * (math.ceil(p["DEPTH"] / 16) - 1), log, 1.0], ff
        return [p["W"], log, 1.0], ff
    if kind == "add":  # the sum's distinct bits (slice: 2 FFs and a mux each), its carries
        kept, carry = add_sum_bits_kept(p)
        return [p["LANES"] * kept, p["LANES"] * carry, 1.0], [p["LANES"] * kept, 1.0]
    if kind == "sumpool":  # a row of window sums (memory) and one adder per lane
        row = p["C"] * (p["W"] // p["KW"]) * p["OUT_BITS"]
        return [p["LANES"] * p["OUT_BITS"], row, 1.0], [p["LANES"] * p["OUT_BITS"], 1.0]
    if kind == "concat":  # a two-way lane multiplexer, beat counters, the output slice
        return [p["LANES"] * p["BITS"], 1.0], [p["LANES"] * p["BITS"], 1.0]
    if kind == "mul":  # the gate vector held (memory) and a product per lane
        gate = p["C"] * p["B_BITS"]
        return [p["LANES"] * p["OUT_BITS"], gate, 1.0], [p["LANES"] * p["OUT_BITS"], 1.0]
    if kind == "lut":  # a 2^IN_BITS-entry table per lane
        table = p["LANES"] * (1 << p["IN_BITS"]) * p["OUT_BITS"]
        return [table, p["LANES"] * p["OUT_BITS"], 1.0], [p["LANES"] * p["OUT_BITS"], 1.0]
    raise ValueError(f"no area model for graph unit '{kind}'")


def _graph_memory(kind: str, p: dict[str, int]) -> tuple[float, float]:
    """(BRAM, LUT RAM) of the unit's memory as yosys maps it: af_fifo by
    ``fifo_in_lutram`` (one word is a register); the others deeper than ROM_LOGIC_DEPTH
    words to block RAM, else LUT RAM (16 words x 4 bits a cell)."""
    if kind == "fifo":
        depth, width = p["DEPTH"], p["W"]
        if depth == 1:
            return 0.0, 0.0
        if fifo_in_lutram(depth, width):
            return 0.0, float(math.ceil(width / 4) * math.ceil(depth / 16))
        return float(_brams(depth, width)), 0.0
    if kind == "sumpool":
        depth = p["C"] * (p["W"] // p["KW"]) // p["LANES"]
        width = p["LANES"] * p["OUT_BITS"]
    elif kind == "mul":  # the gate vector
        depth, width = p["C"] // p["LANES"], p["LANES"] * p["B_BITS"]
    else:
        return 0.0, 0.0
    if depth > ROM_LOGIC_DEPTH:
        return float(_brams(depth, width)), 0.0
    return 0.0, float(math.ceil(width / 4) * math.ceil(depth / 16))


# yosys 0.70 synth_ecp5 on the units' Verilog of dev-join / dev-units at 16:10 UTC
# (``calibrate_graph``), LUT sites and flip-flops; features as ``graph_features`` names them.
# af_lut has none: yosys keeps some 256-entry tables as logic and puts others, as wide, in
# block RAM, which no count of bits here predicts.
GRAPH_COEFFS: dict[str, list[float]] = {
    # fork, fifo, fifo-lutram, add: yosys 0.70 on main's af_fork/af_fifo/af_add at 16:50 UTC
    "fork": [1.034, 17.059, -11.289],
    "fifo": [0.887, 8.279, 22.03],
    "fifo-lutram": [1.373, -2.059, 58.797],
    "add": [0.832, 1.346, 7.183],
    "sumpool": [3.999, -0.016, 23.147],
    "concat": [2.991, 24.64],
    "mul": [1.073, -0.025, 27.261],
}
GRAPH_FF_COEFFS: dict[str, list[float]] = {
    "fork": [2.0, 2.0, 0.0],  # exactly 2 per slice bit and 2 (valid, full) per output
    "fifo": [1.964, 5.039, 6.043],
    "fifo-lutram": [1.001, 3.458, 5.909],
    "add": [2.0, 2.0],  # exactly 2 per distinct sum bit (slice) and the slice's 2 flags
    "sumpool": [2.018, 17.0],
    "concat": [1.997, 5.535],
    "mul": [3.014, 11.897],
}


def graph_unit_estimate(kind: str, params: dict[str, int], dsp: bool = True) -> Estimate:
    """One graph unit from its Verilog parameters (``ForkConfig(...).parameters()`` etc.)."""
    key = graph_key(kind, params)
    if key not in GRAPH_COEFFS:
        from adderflow.errors import ConfigError

        raise ConfigError(
            f"no calibrated area estimate for af_{kind}: synthesize the design (adderflow synth)"
        )
    lut_x, ff_x = graph_features(kind, params)
    luts = float(np.dot(GRAPH_COEFFS[key], lut_x))
    ffs = float(np.dot(GRAPH_FF_COEFFS[key], ff_x))
    brams, lutram = _graph_memory(kind, params)
    dsps = float(params["LANES"]) if kind == "mul" and dsp else 0.0
    return Estimate(luts, ffs, brams, dsps, lutram)


# (Verilog files, calibration points as parameter dicts); af_skid is every unit's slice.
GRAPH_UNITS: dict[str, tuple[tuple[str, ...], tuple[dict[str, int], ...]]] = {
    "fork": (("af_fork.v", "af_skid.v"), (
        {"N": 2, "W": 8}, {"N": 2, "W": 32}, {"N": 3, "W": 16}, {"N": 4, "W": 64},
        {"N": 2, "W": 128},
    )),
    # both memory kinds (``fifo_in_lutram``), each fitted on its own points
    "fifo": (("af_fifo.v",), (
        {"DEPTH": 8, "W": 16}, {"DEPTH": 16, "W": 8}, {"DEPTH": 32, "W": 16},
        {"DEPTH": 64, "W": 24}, {"DEPTH": 48, "W": 8}, {"DEPTH": 24, "W": 36},
        {"DEPTH": 120, "W": 8}, {"DEPTH": 16, "W": 128},
        {"DEPTH": 128, "W": 16}, {"DEPTH": 256, "W": 8}, {"DEPTH": 512, "W": 36},
        {"DEPTH": 1024, "W": 16}, {"DEPTH": 4096, "W": 8}, {"DEPTH": 96, "W": 36},
        {"DEPTH": 80, "W": 64},
    )),
    "add": (("af_add.v", "af_skid.v"), (
        {"LANES": 1, "A_BITS": 8, "B_BITS": 8, "SHIFT_A": 0, "SHIFT_B": 0, "OUT_BITS": 9},
        {"LANES": 4, "A_BITS": 8, "B_BITS": 4, "SHIFT_A": 0, "SHIFT_B": 3, "OUT_BITS": 9},
        {"LANES": 2, "A_BITS": 16, "B_BITS": 16, "SHIFT_A": 0, "SHIFT_B": 8, "OUT_BITS": 25},
        {"LANES": 8, "A_BITS": 8, "B_BITS": 8, "SHIFT_A": 1, "SHIFT_B": 0, "OUT_BITS": 10},
        {"LANES": 16, "A_BITS": 4, "B_BITS": 4, "SHIFT_A": 0, "SHIFT_B": 2, "OUT_BITS": 7},
    )),
    "sumpool": (("af_sumpool.v", "af_skid.v"), (
        {"C": 16, "H": 8, "W": 8, "KH": 8, "KW": 8, "LANES": 4, "IN_BITS": 8, "OUT_BITS": 14},
        {"C": 8, "H": 8, "W": 8, "KH": 2, "KW": 2, "LANES": 2, "IN_BITS": 8, "OUT_BITS": 10},
        {"C": 64, "H": 4, "W": 4, "KH": 4, "KW": 4, "LANES": 16, "IN_BITS": 8, "OUT_BITS": 12},
        {"C": 32, "H": 16, "W": 16, "KH": 2, "KW": 2, "LANES": 8, "IN_BITS": 6, "OUT_BITS": 8},
    )),
    "concat": (("af_concat.v", "af_skid.v"), (
        {"CA": 8, "CB": 8, "LANES": 2, "BITS": 8}, {"CA": 32, "CB": 16, "LANES": 16, "BITS": 8},
        {"CA": 4, "CB": 12, "LANES": 4, "BITS": 4}, {"CA": 64, "CB": 64, "LANES": 32, "BITS": 8},
    )),
    "mul": (("af_mul.v", "af_skid.v"), (
        {"C": 16, "PIXELS": 64, "LANES": 4, "A_BITS": 8, "B_BITS": 8, "OUT_BITS": 16},
        {"C": 64, "PIXELS": 16, "LANES": 16, "A_BITS": 8, "B_BITS": 8, "OUT_BITS": 16},
        {"C": 8, "PIXELS": 4, "LANES": 1, "A_BITS": 6, "B_BITS": 4, "OUT_BITS": 10},
        {"C": 32, "PIXELS": 64, "LANES": 8, "A_BITS": 8, "B_BITS": 12, "OUT_BITS": 20},
    )),
    "lut": (("af_lut.v", "af_skid.v"), (
        {"LANES": 1, "IN_BITS": 8, "OUT_BITS": 8}, {"LANES": 4, "IN_BITS": 4, "OUT_BITS": 4},
        {"LANES": 8, "IN_BITS": 6, "OUT_BITS": 8}, {"LANES": 2, "IN_BITS": 8, "OUT_BITS": 16},
    )),
}  # fmt: skip

# Points no coefficient was fitted on: ``check_graph`` prints estimate, yosys and error.
GRAPH_CHECK: dict[str, tuple[dict[str, int], ...]] = {
    "fork": ({"N": 3, "W": 40}, {"N": 2, "W": 200}, {"N": 1, "W": 24}),
    "fifo": (
        {"DEPTH": 2048, "W": 24}, {"DEPTH": 600, "W": 20}, {"DEPTH": 64, "W": 28},
        {"DEPTH": 100, "W": 12}, {"DEPTH": 72, "W": 8}, {"DEPTH": 200, "W": 4},
        {"DEPTH": 32, "W": 52}, {"DEPTH": 5, "W": 12},
    ),
    "add": (
        {"LANES": 2, "A_BITS": 11, "B_BITS": 16, "SHIFT_A": 40, "SHIFT_B": 0, "OUT_BITS": 52},
        {"LANES": 4, "A_BITS": 8, "B_BITS": 8, "SHIFT_A": 0, "SHIFT_B": 0, "OUT_BITS": 9},
        {"LANES": 3, "A_BITS": 16, "B_BITS": 8, "SHIFT_A": 0, "SHIFT_B": 4, "OUT_BITS": 17},
    ),
}  # fmt: skip


def _brams(depth: int, width: int) -> float:
    """DP16KD blocks: 512x36, 1024x18, 2048x9, 4096x4, 8192x2 or 16384x1 each."""
    rows = max(512, 1 << (depth - 1).bit_length())
    if rows > 16384:
        return math.ceil(width) * math.ceil(depth / 16384)
    return math.ceil(width / max(1, min(BRAM_WIDTH, BRAM_BITS // rows)))


def requant_widths(top_verilog: str) -> list[dict[str, int]]:
    """M_BITS, B_BITS and OUT_BITS of each af_requant instance, in order, from the top."""
    blocks = re.findall(r"af_requant #\((.*?)\) u_", top_verilog, flags=re.S)
    keys = ("M_BITS", "B_BITS", "OUT_BITS")
    return [
        {k: int(re.search(rf"\.{k}\((\d+)\)", block).group(1)) for k in keys} for block in blocks
    ]


def design_estimate(design, dsp: bool = True) -> tuple[Estimate, list[dict]]:
    """Sum over a Design's layers (``adderflow.hw.network.Design``); per-layer rows too."""
    check_calibrated(design.layers)
    if getattr(design, "stages", None):  # a graph: forks, FIFOs and adds besides layers
        return verilog_estimate((Path(design.directory) / "af_network.v").read_text(), dsp)
    total, rows = Estimate(), []
    widths = requant_widths((Path(design.directory) / "af_network.v").read_text())
    c, h, w = design.frame
    frame_codes = h * w * c  # codes in the current input frame
    for layer, rq_bits in zip(design.layers, widths, strict=True):
        unit = layer_estimate(layer, rq_bits, frame_codes, dsp)
        rows.append({"name": layer["name"], **unit.rounded()})
        total = total + unit
        frame_codes = layer["out"] * layer["vectors"]
    return total, rows


def check_calibrated(layers: list[dict]) -> None:
    """Refuse, by layer name, what the fit has no measurement for (``layers``: design.json's
    layer rows)."""
    from adderflow.errors import ConfigError

    binary = [
        ly["name"] for ly in layers if ly["mode"] == "xnor" or ly.get("post") == "threshold"
    ]
    if binary:
        # The coefficients were fitted on adder/mac MVUs and af_requant only; a guess for
        # xnor MVUs and af_threshold would be a number without a measurement behind it.
        raise ConfigError(
            f"no calibrated area estimate for binary layers ({', '.join(binary)}): xnor MVUs "
            "and af_threshold are not in the fit; synthesize the design (adderflow synth)"
        )
    lined = [ly["name"] for ly in layers if ly.get("window") == "line"]
    if lined:
        # af_linewin (a ring of rows, other counters) is not in the fit either.
        raise ConfigError(
            f"no calibrated area estimate for line-buffered windows ({', '.join(lined)}): "
            "synthesize the design (adderflow synth)"
        )


def layer_estimate(
    layer: dict, rq_bits: dict[str, int], frame_codes: int, dsp: bool = True
) -> Estimate:
    """One ``af_window → af_mvu → af_requant`` chain: ``layer`` has design.json's keys
    (mode, pe, simd, bits, acc_bits, k, out, pool), ``rq_bits`` the requantizer's M_BITS,
    B_BITS and OUT_BITS, ``frame_codes`` the codes of the layer's input frame before
    pooling. ``design_estimate`` and the folding search (``hw.network.explore``) both sum
    it, so the search's figure for a folding is the generated design's estimate."""
    pe, simd, bits, acc = layer["pe"], layer["simd"], layer["bits"], layer["acc_bits"]
    pool = layer["pool"]  # an int, or [rows, columns] for a non-square pool
    if not isinstance(pool, int):
        pool = _pool_side({"POOL_H": pool[0], "POOL_W": pool[1]})
    pooled = frame_codes // (pool**2)
    win = window_estimate(simd, bits, pooled // simd, layer.get("pool_mode", "max"), pool)
    mvu = mvu_estimate(layer["mode"], bits, layer["k"], layer["out"], pe, simd, acc, dsp)
    rq = requant_estimate(
        pe, layer["out"], acc, rq_bits["M_BITS"], rq_bits["B_BITS"], rq_bits["OUT_BITS"], dsp
    )
    return win + mvu + rq


def instance_params(top_verilog: str) -> list[tuple[str, str, dict[str, int | str]]]:
    """``(module, instance, parameters)`` of every unit the top module instantiates, in
    order (integers as ints, strings unquoted)."""
    units = []
    for module, body, name in re.findall(r"(af_\w+) #\((.*?)\) u_(\w+)", top_verilog, re.S):
        params: dict[str, int | str] = {}
        for key, value in re.findall(r"\.(\w+)\(([^()]*)\)", body):
            value = value.strip()
            params[key] = value.strip('"') if value.startswith('"') else int(value)
        units.append((module, name, params))
    return units


def _pool_side(p: dict) -> int:
    """A window's square pool (the fit's windows all pool squares)."""
    from adderflow.errors import ConfigError

    if "POOL" in p:
        return int(p["POOL"])
    if p["POOL_H"] != p["POOL_W"]:
        raise ConfigError(
            f"no calibrated area estimate for a {p['POOL_H']}x{p['POOL_W']} pool in af_window"
        )
    return int(p["POOL_H"])


def unit_estimate(module: str, p: dict, dsp: bool = True) -> Estimate:
    """One instance of the top module from its Verilog parameters; refuses, by module,
    the units the fit has no measurement for."""
    from adderflow.errors import ConfigError

    if module == "af_window":
        side, lanes = _pool_side(p), int(p["LANES"])
        words = int(p["C"]) * int(p["H"]) * int(p["W"]) // side**2 // lanes
        return window_estimate(lanes, int(p["BITS"]), words, str(p["POOL_MODE"]), side)
    if module == "af_mvu":
        return mvu_estimate(str(p["MODE"]), int(p["BITS"]), int(p["K"]), int(p["OUT"]),
                            int(p["PE"]), int(p["SIMD"]), int(p["ACC_BITS"]), dsp)  # fmt: skip
    if module == "af_requant":
        widths = (int(p["ACC_BITS"]), int(p["M_BITS"]), int(p["B_BITS"]), int(p["OUT_BITS"]))
        return requant_estimate(int(p["PE"]), int(p["CH"]), *widths, dsp)
    kind = module.removeprefix("af_")
    if kind in GRAPH_UNITS and kind != "lut":
        numbers = {k: int(v) for k, v in p.items() if not isinstance(v, str)}
        return graph_unit_estimate(kind, numbers, dsp)
    raise ConfigError(
        f"no calibrated area estimate for {module}: synthesize the design (adderflow synth)"
    )


def verilog_estimate(top_verilog: str, dsp: bool = True) -> tuple[Estimate, list[dict]]:
    """Sum over every unit the top module instantiates (a line of layers or a graph:
    windows, MVUs, requantizers, forks, FIFOs, adds, ...); a row per instance."""
    total, rows = Estimate(), []
    for module, name, params in instance_params(top_verilog):
        unit = unit_estimate(module, params, dsp)
        rows.append({"name": name, "module": module, **unit.rounded()})
        total = total + unit
    return total, rows


# ---- calibration against yosys ---------------------------------------------------------

# (PE, SIMD, SF, NF): lanes, ROM depth and ROM width vary independently, so the fit is
# well conditioned (equal depths would make ROM logic a multiple of the lanes).
# None is a benchmark design (bench/area.py): those check the fit.
MVU_POINTS = (
    (1, 1, 9, 1),
    (2, 4, 9, 2),
    (4, 4, 36, 1),
    (8, 2, 4, 4),
    (4, 16, 9, 1),
    (16, 4, 2, 8),
    (8, 16, 4, 2),
)
# af_pe alone (SIMD, K), 8-bit.
PE_POINTS = ((1, 9), (2, 36), (4, 16), (8, 576), (16, 64), (1, 2048))
# af_requant (PE, channel fold, ACC_BITS, M_BITS, OUT_BITS): widths and lanes vary apart.
# One channel a lane (constant M) and several (M from a ROM), both at several widths.
REQUANT_POINTS = (
    (1, 1, 17, 16, 8),
    (4, 1, 17, 16, 8),
    (8, 1, 12, 6, 4),
    (2, 1, 24, 10, 12),
    (2, 4, 20, 8, 12),
    (1, 2, 24, 12, 16),
    (4, 8, 17, 16, 8),
    (2, 16, 20, 12, 8),
)
# af_window (BITS, C, H, W, kernel, pad, pool, LANES): 288- to 8192-bit frame buffers.
WINDOW_POINTS = (
    (8, 1, 6, 6, 3, 1, 1, 1),
    (4, 8, 8, 8, 3, 1, 2, 2),
    (8, 4, 12, 12, 3, 1, 1, 4),
    (8, 16, 8, 8, 3, 1, 1, 8),
    (6, 32, 4, 4, 2, 0, 1, 32),
)
# Average-pool af_window, same fields (POOL a power of two): the dense-after-global-pool
# case (kernel 1 over a 1x1 pooled frame) among them.
WINDOW_AVG_POINTS = (
    (8, 1, 12, 12, 3, 1, 2, 1),
    (4, 8, 8, 8, 3, 1, 2, 2),
    (8, 4, 16, 16, 3, 1, 4, 4),
    (8, 16, 8, 8, 3, 1, 2, 8),
    (8, 32, 4, 4, 1, 0, 4, 8),
    (6, 16, 8, 8, 2, 0, 2, 16),
)
CALIBRATED = ("pe", "mvu", "requant", "window", "window-avg")


def _fit(x: list[list[float]], y: list[float]) -> list[float]:
    """Least squares on relative residuals (each row divided by its count): a small unit
    weighs as much as a large one, as the error is reported in percent."""
    features, counts = np.array(x, dtype=float), np.array(y, dtype=float)
    coef, *_ = np.linalg.lstsq(features / counts[:, None], np.ones_like(counts), rcond=None)
    return [round(float(c), 3) for c in coef]


def calibrate(parts: Sequence[str] = CALIBRATED, log=print) -> dict[str, dict[str, list[float]]]:
    """Fit ``COEFFS`` and ``FF_COEFFS`` to yosys results of single units (minutes).

    ``parts``: any of ``pe`` (af_pe alone) and ``mvu`` (af_mvu), each adder / mac / LUT-only
    mac, ``requant`` (af_requant with and without DSP blocks), ``window`` (af_window).
    Returns the fitted rows, ``{"luts": {key: row}, "ffs": {key: row}}`` (no FF rows for
    ``pe``: its flip-flops are its accumulator). Each unit's random weights or
    multipliers come from its own seed, so any subset reproduces its rows.
    """
    from adderflow.hw.rtlgen import (
        MVU_SOURCES,
        REQUANT_SOURCES,
        WINDOW_SOURCES,
        MvuConfig,
        RequantConfig,
        WindowConfig,
        pe_acc_bits,
        rtl_sources,
    )
    from adderflow.hw.synth import synth_stats

    variants = (("adder", True), ("mac", True), ("mac", False))

    unknown = set(parts) - set(CALIBRATED)
    if unknown:
        raise ValueError(f"unknown calibration parts {sorted(unknown)}; valid: {CALIBRATED}")
    luts: dict[str, list[float]] = {}
    ffs: dict[str, list[float]] = {}

    def measure(key, what, sources, top, params, nodsp, data=()):
        u = synth_stats(rtl_sources(sources), top, "ecp5", params, nodsp, data, log=lambda _: None)
        log(
            f"[calibrate] {key} {what}: {u.lut_equivalent('ecp5')} LUT sites, {u.ffs} FF, "
            f"{u.dsps} DSP, {u.brams} BRAM, {u.lutram} LUT RAM"
        )
        return u.lut_equivalent("ecp5"), u.ffs

    def fit(key, xl, xf, counts):
        luts[key] = _fit(xl, [c[0] for c in counts])
        ffs[key] = _fit(xf, [c[1] for c in counts])

    with tempfile.TemporaryDirectory(prefix="af_calib_") as tmp:
        work = Path(tmp)
        if "pe" in parts:
            for mode, dsp in variants:
                key, xl, counts = f"pe-{mvu_key(mode, dsp)}", [], []
                for simd, k in PE_POINTS:
                    params = {"MODE": mode, "BITS": 8, "SIMD": simd, "K": k}
                    counts.append(measure(key, f"SIMD={simd} K={k}", ["af_pe.v"], "af_pe",
                                          params, not dsp))  # fmt: skip
                    xl.append(pe_features(8, simd, pe_acc_bits(mode, 8, k)))
                luts[key] = _fit(xl, [c[0] for c in counts])
        if "mvu" in parts:
            for mode, dsp in variants:
                key, xl, xf, counts = mvu_key(mode, dsp), [], [], []
                for seed, (pe, simd, sf, nf) in enumerate(MVU_POINTS):
                    rng = np.random.default_rng(seed)
                    cfg = MvuConfig(mode, 8, sf * simd, nf * pe, pe, simd)
                    w = rng.integers(-128, 128, (cfg.out, cfg.k))
                    hexfile = cfg.write_weights(work / "weights.hex", w)
                    what = f"PE={pe} SIMD={simd} SF={sf} NF={nf}"
                    counts.append(
                        measure(key, what, MVU_SOURCES, "af_mvu", cfg.parameters(), not dsp,
                                [hexfile])
                    )  # fmt: skip
                    xl.append(mvu_features(8, cfg.k, cfg.out, pe, simd, cfg.acc_bits))
                    xf.append(mvu_ff_features(8, pe, simd, cfg.acc_bits))
                fit(key, xl, xf, counts)
        if "requant" in parts:
            for key, dsp in (("requant", True), ("requant-nodsp", False)):
                xl, xf, counts = [], [], []
                for seed, (pe, cf, acc, m_bits, out_bits) in enumerate(REQUANT_POINTS):
                    rng = np.random.default_rng(seed)
                    b_bits = acc + m_bits - 3
                    cfg = RequantConfig(pe * cf, acc, m_bits, b_bits, 17, out_bits, True, pe)
                    m = rng.integers(1, 1 << (m_bits - 1), cfg.ch)
                    b = rng.integers(-(1 << (b_bits - 1)), 1 << (b_bits - 1), cfg.ch)
                    files = cfg.write_params(work / "mult.hex", work / "bias.hex", m, b)
                    what = f"PE={pe} CH={cfg.ch} ACC={acc} M={m_bits} OUT={out_bits}"
                    counts.append(
                        measure(key, what, REQUANT_SOURCES, "af_requant", cfg.parameters(),
                                not dsp, files)
                    )  # fmt: skip
                    xl.append(requant_features(pe, cfg.ch, acc, m_bits, b_bits, dsp))
                    xf.append(requant_ff_features(pe, cfg.ch, acc, m_bits, b_bits))
                fit(key, xl, xf, counts)
        if "window" in parts:
            xl, xf, counts = [], [], []
            for bits, c, h, w, kernel, pad, pool, lanes in WINDOW_POINTS:
                cfg = WindowConfig(bits, c, h, w, (kernel, kernel), 1, pad, pool, lanes)
                frame_bits = (h // pool) * (w // pool) * c * bits
                what = f"{frame_bits}-bit frame, {lanes}x{bits}-bit lanes"
                counts.append(
                    measure("window", what, WINDOW_SOURCES, "af_window", cfg.parameters(), False)
                )
                xl.append(window_features(lanes, bits, frame_bits))
                xf.append(window_ff_features(lanes, bits))
            fit("window", xl, xf, counts)
        if "window-avg" in parts:
            xl, xf, counts = [], [], []
            for bits, c, h, w, kernel, pad, pool, lanes in WINDOW_AVG_POINTS:
                cfg = WindowConfig(bits, c, h, w, (kernel, kernel), 1, pad, pool, lanes, "avg")
                stored = avg_stored_bits(bits, pool)
                frame_bits = (h // pool) * (w // pool) * c * stored
                what = f"{frame_bits}-bit avg frame, {lanes}x{bits}-bit lanes"
                params = cfg.parameters()
                u = measure("window-avg", what, WINDOW_SOURCES, "af_window", params, False)
                counts.append(u)
                xl.append(window_features(lanes, stored, frame_bits))
                xf.append(window_ff_features(lanes, stored))
            fit("window-avg", xl, xf, counts)
    return {"luts": luts, "ffs": ffs}


def _graph_synth(kind: str, params: dict, tmp: Path, seed: int, rtl_dir: Path | None = None):
    """yosys on one graph unit alone (af_lut's table: seeded random codes)."""
    from adderflow.hw.synth import synth_stats
    from adderflow.hw.units.common import RTL_DIR

    files = GRAPH_UNITS[kind][0]
    sources = [(rtl_dir or RTL_DIR) / f if f != "af_skid.v" else RTL_DIR / f for f in files]
    data: list[Path] = []
    params = dict(params)
    if kind == "lut":
        rng = np.random.default_rng(seed)
        table = tmp / "table.hex"
        width = (params["OUT_BITS"] + 3) // 4
        codes = rng.integers(0, 1 << params["OUT_BITS"], 1 << params["IN_BITS"])
        table.write_text("".join(f"{int(c):0{width}x}\n" for c in codes))
        data, params["TABLE_FILE"] = [table], "table.hex"
    return synth_stats(sources, f"af_{kind}", "ecp5", params, False, data, lambda _: None)


def calibrate_graph(
    kinds: Sequence[str] = tuple(GRAPH_UNITS), rtl_dir: Path | None = None, log=print
) -> dict[str, dict[str, list[float]]]:
    """Fit ``GRAPH_COEFFS`` / ``GRAPH_FF_COEFFS`` to yosys runs of each graph unit alone at
    its ``GRAPH_UNITS`` points, one row per ``graph_key`` (``rtl_dir``: read the units'
    Verilog from there instead of hw/rtl, af_skid.v still from hw/rtl)."""
    unknown = set(kinds) - set(GRAPH_UNITS)
    if unknown:
        raise ValueError(f"unknown graph units {sorted(unknown)}; valid: {tuple(GRAPH_UNITS)}")
    rows: dict[str, tuple[list, list, list, list]] = {}
    with tempfile.TemporaryDirectory(prefix="af_calib_") as tmp:
        for kind in kinds:
            for seed, params in enumerate(GRAPH_UNITS[kind][1]):
                u = _graph_synth(kind, params, Path(tmp), seed, rtl_dir)
                log(f"[calibrate] {kind} {params}: {u.lut_equivalent('ecp5')} LUT sites, "
                    f"{u.ffs} FF, {u.dsps} DSP, {u.brams} BRAM, {u.lutram} LUT RAM")  # fmt: skip
                lx, fx = graph_features(kind, params)
                xl, xf, yl, yf = rows.setdefault(graph_key(kind, params), ([], [], [], []))
                xl.append(lx), xf.append(fx)
                yl.append(u.lut_equivalent("ecp5")), yf.append(u.ffs)
    luts = {key: _fit(xl, yl) for key, (xl, _, yl, _) in rows.items()}
    ffs = {key: _fit(xf, yf) for key, (_, xf, _, yf) in rows.items()}
    return {"luts": luts, "ffs": ffs}


def check_graph(points: dict | None = None, log=print) -> list[dict]:
    """Estimate against yosys at ``points`` (``{kind: (parameters, ...)}``, default
    ``GRAPH_CHECK``, where no fit was made): one row per point with LUT sites, FFs, BRAM
    and LUT RAM, estimated and measured, and the LUT and FF errors in percent."""
    out = []
    with tempfile.TemporaryDirectory(prefix="af_check_") as tmp:
        for kind, chosen in (points or GRAPH_CHECK).items():
            for seed, params in enumerate(chosen):
                u = _graph_synth(kind, params, Path(tmp), seed)
                est = graph_unit_estimate(kind, params)
                row = {
                    "unit": kind, **params,
                    "luts": round(est.luts), "luts_yosys": u.lut_equivalent("ecp5"),
                    "ffs": round(est.ffs), "ffs_yosys": u.ffs,
                    "brams": est.brams, "brams_yosys": u.brams,
                    "lutram": est.lutram, "lutram_yosys": u.lutram,
                }  # fmt: skip
                sites = u.lut_equivalent("ecp5")
                row["lut_err"] = round(100.0 * (est.luts - sites) / sites, 1)
                row["ff_err"] = round(100.0 * (est.ffs - u.ffs) / u.ffs, 1)
                log(json.dumps(row))
                out.append(row)
    return out


def compare(estimate: Estimate, measured: dict[str, int]) -> list[tuple[str, int, int, str]]:
    """(quantity, estimated, measured, error) rows."""
    rows = []
    for key, value in asdict(estimate).items():
        if key in measured:
            real = int(measured[key])
            err = f"{100.0 * (value - real) / real:+.1f}%" if real else "—"
            rows.append((key, round(value), real, err))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="resource estimate of a generated network")
    parser.add_argument("design_dir", type=Path, nargs="?", help="RUN/rtl (design.json)")
    parser.add_argument("--measure", action="store_true", help="also synthesize with yosys")
    parser.add_argument(
        "--calibrate",
        nargs="?",
        const=",".join(CALIBRATED),
        metavar="PARTS",
        help=f"refit COEFFS from yosys runs of single units (default: {','.join(CALIBRATED)}; "
        "'graph': the graph units' GRAPH_COEFFS, calibrate_graph)",
    )
    parser.add_argument(
        "--check-graph",
        action="store_true",
        help="estimate vs yosys for the graph units at points none of the fits used",
    )
    args = parser.parse_args(argv)
    if args.check_graph:
        check_graph()
        return 0
    if args.calibrate:
        parts = [p.strip() for p in args.calibrate.split(",") if p.strip()]
        fits = calibrate([p for p in parts if p != "graph"]) if parts != ["graph"] else {}
        if "graph" in parts:
            fits["graph"] = calibrate_graph()
        print(json.dumps(fits, indent=2))
        return 0
    if args.design_dir is None:
        parser.error("give a design directory or --calibrate")
    from adderflow.hw.network import Design

    design = Design.load(args.design_dir)
    total, rows = design_estimate(design)
    for row in rows:
        print(row)
    print("estimate:", total.rounded())
    if args.measure:
        from adderflow.hw.synth import synth_stats

        u = synth_stats(
            design.sources, "af_network", "ecp5", data_files=design.directory.glob("*.hex")
        )
        measured = {**u.as_dict(), "luts": u.lut_equivalent("ecp5")}
        for key, est, real, err in compare(total, measured):
            print(f"{key:<7} estimate {est:>8}  yosys {real:>8}  error {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
