"""Fast FPGA resource estimate of a generated network from its parameters (no synthesis).

Each unit's ECP5 resources are a linear function of structural counts the parameters fix
(lanes x bits, accumulator bits, ROM bits kept as logic, requantizer product bits, frame
buffer bits). The coefficients come from yosys ``synth_ecp5`` results of single units
(af_pe per lane, af_requant at PE 1 and 4, af_window at two frame sizes) and are checked
against whole networks synthesized by yosys, which were not used to set them
(``python -m adderflow.hw.area_estimate RUN/rtl --measure`` prints both and the error;
docs/benchmarks.md records it). ``calibrate`` refits the MVU coefficients by least
squares over af_mvu runs. Flip-flops are counted from the RTL's registers. Torch-free.

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

# yosys 0.70 synth_ecp5. MVU rows: per lane from the af_pe results (adder 63, LUT-only mac
# 351 LUT sites for 8 bits), ROM logic one LUT per 16 words of each word bit.
COEFFS: dict[str, list[float]] = {
    # LUT sites ~ [lanes*bits, pe*acc_bits, rom logic bits / 16, 1]
    "adder": [7.77, 2.10, 1.04, 28.0],
    "mac": [2.06, 1.99, 1.04, 28.0],
    "mac-nodsp": [40.4, 2.10, 1.04, 28.0],
    # requantizer LUT sites ~ [pe * width of acc*M + B, 1] (af_requant, PE 1 and 4)
    "requant": [3.35, 32.0],
    # window LUT sites ~ [frame buffer bits, 1] (af_window, 512- and 8192-bit frames):
    # the buffer's read multiplexers grow with it, the counters do not.
    "window": [0.166, 519.0],
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


def clog2(n: int) -> int:
    return max(1, math.ceil(math.log2(max(n, 2))))


def mvu_features(bits: int, k: int, out: int, pe: int, simd: int, acc_bits: int) -> list[float]:
    depth = (out // pe) * (k // simd)
    word = pe * simd * bits
    rom_logic = word * math.ceil(depth / 16) if depth <= ROM_LOGIC_DEPTH else 0
    return [pe * simd * bits, pe * acc_bits, rom_logic, 1.0]


def mvu_estimate(
    mode: str, bits: int, k: int, out: int, pe: int, simd: int, acc_bits: int, dsp: bool = True
) -> Estimate:
    """One af_mvu: PEs, weight ROM, operand registers, replay buffer, output slice."""
    key = mode if dsp or mode != "mac" else "mac-nodsp"
    features = mvu_features(bits, k, out, pe, simd, acc_bits)
    luts = float(np.dot(COEFFS[key], features))
    sf, nf = k // simd, out // pe
    depth, word = nf * sf, pe * simd * bits
    brams = 0.0 if depth <= ROM_LOGIC_DEPTH else _brams(depth, word)
    # Registers: input and weight operands, accumulators, a two-entry output slice, counters.
    ffs = simd * bits + word + 3 * pe * acc_bits + clog2(sf) + clog2(nf) + clog2(depth) + 4
    lutram = math.ceil(simd * bits / 4) * math.ceil(sf / 16) if nf > 1 else 0
    dsps = pe * simd if mode == "mac" and dsp else 0
    return Estimate(luts, ffs, brams, dsps, lutram)


def requant_estimate(pe: int, acc_bits: int, m_bits: int, b_bits: int, out_bits: int) -> Estimate:
    """One af_requant: per-lane product (DSP), bias add, rounding, saturation."""
    p_bits = max(acc_bits + m_bits, b_bits) + 1
    luts = COEFFS["requant"][0] * pe * p_bits + COEFFS["requant"][1]
    # 18x18 signed multipliers: an operand over 18 bits splits into more DSP blocks.
    dsps = pe * math.ceil(acc_bits / 18) * math.ceil(m_bits / 18)
    ffs = pe * (acc_bits + m_bits + b_bits + p_bits + 2 * out_bits) + 8
    return Estimate(luts, ffs, 0.0, dsps, 0.0)


def window_estimate(lanes: int, bits: int, frame_words: int) -> Estimate:
    """One af_window: frame buffer in LUT RAM (two read ports), address counters."""
    frame_bits = frame_words * lanes * bits
    luts = COEFFS["window"][0] * frame_bits + COEFFS["window"][1]
    lutram = 2 * math.ceil(lanes * bits / 4) * math.ceil(frame_words / 16)
    ffs = 270 + 2 * lanes * bits  # counters (trimmed to their used bits) and output slice
    return Estimate(luts, ffs, 0.0, 0.0, lutram)


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
    total, rows = Estimate(), []
    widths = requant_widths((Path(design.directory) / "af_network.v").read_text())
    c, h, w = design.frame
    frame_bits_words = h * w * c  # codes in the current input frame
    for layer, rq_bits in zip(design.layers, widths, strict=True):
        pe, simd, bits, acc = layer["pe"], layer["simd"], layer["bits"], layer["acc_bits"]
        pooled = frame_bits_words // (layer["pool"] ** 2)
        win = window_estimate(simd, bits, pooled // simd)
        mvu = mvu_estimate(layer["mode"], bits, layer["k"], layer["out"], pe, simd, acc, dsp)
        rq = requant_estimate(pe, acc, rq_bits["M_BITS"], rq_bits["B_BITS"], rq_bits["OUT_BITS"])
        unit = win + mvu + rq
        rows.append({"name": layer["name"], **unit.rounded()})
        total = total + unit
        frame_bits_words = layer["out"] * layer["vectors"]
    return total, rows


# ---- calibration against yosys ---------------------------------------------------------

# (PE, SIMD, SF, NF): lanes, ROM depth and ROM width vary independently, so the fit is
# well conditioned (equal depths would make ROM logic a multiple of the lanes).
MVU_POINTS = ((1, 1, 9, 1), (2, 4, 9, 2), (4, 4, 36, 1), (8, 2, 4, 4), (4, 16, 9, 1), (16, 4, 2, 8))


def calibrate(log=print) -> dict[str, list[float]]:
    """Fit the af_mvu coefficients to yosys results (a minute or two of synthesis)."""
    from adderflow.hw.rtlgen import MVU_SOURCES, MvuConfig, rtl_sources
    from adderflow.hw.synth import synth_stats

    fitted = {}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="af_calib_") as tmp:
        for key, mode, dsp in (("adder", "adder", True), ("mac", "mac", True),
                               ("mac-nodsp", "mac", False)):  # fmt: skip
            x, y = [], []
            for pe, simd, sf, nf in MVU_POINTS:
                cfg = MvuConfig(mode, 8, sf * simd, nf * pe, pe, simd)
                w = rng.integers(-128, 128, (cfg.out, cfg.k))
                hexfile = cfg.write_weights(Path(tmp) / "weights.hex", w)
                u = synth_stats(
                    rtl_sources(MVU_SOURCES), "af_mvu", "ecp5", cfg.parameters(), not dsp,
                    [hexfile], log=lambda _: None,
                )  # fmt: skip
                x.append(mvu_features(8, cfg.k, cfg.out, pe, simd, cfg.acc_bits))
                y.append(u.lut_equivalent("ecp5"))
                log(f"[calibrate] {key} PE={pe} SIMD={simd}: {y[-1]} LUT sites")
            coef, *_ = np.linalg.lstsq(np.array(x), np.array(y, dtype=float), rcond=None)
            fitted[key] = [round(float(c), 2) for c in coef]
    return fitted


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
    parser.add_argument("--calibrate", action="store_true", help="refit the MVU coefficients")
    args = parser.parse_args(argv)
    if args.calibrate:
        print(json.dumps(calibrate(), indent=2))
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
