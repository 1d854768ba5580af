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
    pooled = frame_codes // (layer["pool"] ** 2)
    win = window_estimate(simd, bits, pooled // simd, layer.get("pool_mode", "max"), layer["pool"])
    mvu = mvu_estimate(layer["mode"], bits, layer["k"], layer["out"], pe, simd, acc, dsp)
    rq = requant_estimate(
        pe, layer["out"], acc, rq_bits["M_BITS"], rq_bits["B_BITS"], rq_bits["OUT_BITS"], dsp
    )
    return win + mvu + rq


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
        help=f"refit COEFFS from yosys runs of single units (default: {','.join(CALIBRATED)})",
    )
    args = parser.parse_args(argv)
    if args.calibrate:
        parts = [p.strip() for p in args.calibrate.split(",") if p.strip()]
        print(json.dumps(calibrate(parts), indent=2))
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
