"""RTL generator helpers: unit configurations, memory files and the cycle model.

Torch-free, NumPy only (DESIGN.md dependency rule 2). The Verilog kernels live in
``hw/rtl/*.v`` (docs/rtl.md); this module holds what a generator needs to instantiate them:

* ``MvuConfig`` / ``RequantConfig`` / ``ThresholdConfig``: one unit's parameters, checked
  against the numeric contract (``adderflow.fixed``) and turned into HDL parameter values;
* memory files for ``$readmemh`` (weights, per-channel multipliers and biases, binary
  thresholds and directions) and stream words, packed lane 0 in the least significant
  bits, two's complement;
* the cycle model (``mvu_cycles``, ``requant_cycles``, ``threshold_cycles``) that the
  cocotb tests check equal to the simulated cycle counts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from adderflow.atomic import atomic_write_text
from adderflow.errors import ConfigError, QuantizationError
from adderflow.fixed import (
    MAX_SHIFT,
    adder_acc_bits,
    avg_pool_shift,
    check_bits,
    mul_acc_bits,
    round_shift,
    signed_bits,
)

RTL_DIR = Path(__file__).resolve().parent / "rtl"
MODES = ("adder", "mac", "xnor")
# Clock edges from an accepted input beat to its last output beat, minus the fold length:
# issue registers -> accumulator -> output slice (af_mvu.v); operands -> product -> slice
# (af_requant.v). Counted inclusively, first input transfer to last output transfer.
MVU_LATENCY = 3
REQUANT_LATENCY = 3
# af_threshold: operands -> comparison register -> slice, the requantizer's depth on
# purpose, so a layer's latency does not depend on which of the two ends it.
THRESHOLD_LATENCY = 3
# af_window: its first window beat is offered two cycles after the last input transfer.
WINDOW_LATENCY = 2

# Requantizer outputs feed the next layer as codes (2..16 bits, fixed.check_bits), except
# the last layer's logits, which keep the accumulator's width plus the bias.
MAX_OUT_BITS = 48

# Binary activations travel as 2-bit signed codes: +1 = 01, -1 = 11, and 0 = 00 only as
# af_window's padding, which the xnor PE does not count (docs/ir.md: padding does not vote).
BINARY_CODE_BITS = 2

MVU_SOURCES = ("af_mvu.v", "af_pe.v", "af_skid.v")
REQUANT_SOURCES = ("af_requant.v", "af_round.v", "af_skid.v")
THRESHOLD_SOURCES = ("af_threshold.v", "af_skid.v")
# af_round.v: the average pool's rounding (POOL_MODE "avg").
WINDOW_SOURCES = ("af_window.v", "af_skid.v", "af_round.v")
POOL_MODES = ("max", "avg")


def rtl_sources(names: Iterable[str]) -> list[Path]:
    """Paths of the named Verilog files under ``hw/rtl``; a missing one is an error."""
    paths = [RTL_DIR / name for name in names]
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"RTL source {path} not found")
    return paths


# ---- widths ------------------------------------------------------------------------


def pe_acc_bits(mode: str, bits: int, terms: int) -> int:
    """Accumulator width that holds every dot product of ``terms`` lanes exactly.

    adder: ``b + ceil(log2 K) + 1`` and mac: ``2b + ceil(log2 K)`` come from
    ``adderflow.fixed`` (DESIGN.md rule 2); xnor sums ``K`` values of +-1, so it needs the
    signed width of ``K``.
    """
    if mode == "adder":
        return adder_acc_bits(bits, terms)
    if mode == "mac":
        return mul_acc_bits(bits, bits, terms)
    if mode == "xnor":
        return signed_bits(terms)
    raise ConfigError(f"unknown PE mode {mode!r}; valid modes: {', '.join(MODES)}")


def hdl_literal(value: object) -> str:
    """A Python parameter value as a Verilog literal (strings quoted, ints in decimal)."""
    if isinstance(value, str):
        if '"' in value or "\\" in value:
            raise ConfigError(f"HDL string parameter {value!r} may not hold quotes or '\\'")
        return f'"{value}"'
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    raise ConfigError(f"cannot write {value!r} as a Verilog parameter")


# ---- lane packing and memory files ---------------------------------------------------


def pack_lanes(
    values: np.ndarray, bits: int, signed: bool = True, what: str = "value"
) -> list[int]:
    """Pack the last axis of ``values`` into one word per row, lane 0 in the low bits.

    Each lane is ``bits`` wide, two's complement when ``signed`` (else unsigned). A value
    that does not fit is refused, naming ``what``. Words are Python ints (any width).
    """
    v = np.asarray(values, dtype=np.int64)
    if v.ndim == 1:
        v = v[None, :]
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if v.size and (v.min() < lo or v.max() > hi):
        bad = v[(v < lo) | (v > hi)][0]
        raise ConfigError(f"{what} {int(bad)} does not fit {bits}-bit lanes [{lo}, {hi}]")
    mask = (1 << bits) - 1
    words = []
    for row in v.reshape(-1, v.shape[-1]):
        word = 0
        for lane, value in enumerate(row.tolist()):
            word |= (int(value) & mask) << (lane * bits)
        words.append(word)
    return words


def unpack_lanes(word: int, lanes: int, bits: int, signed: bool = True) -> np.ndarray:
    """Inverse of ``pack_lanes`` for one word: ``lanes`` values as int64."""
    mask = (1 << bits) - 1
    out = np.empty(lanes, dtype=np.int64)
    for lane in range(lanes):
        value = (int(word) >> (lane * bits)) & mask
        if signed and value >> (bits - 1):
            value -= 1 << bits
        out[lane] = value
    return out


def write_memh(path: str | os.PathLike, words: Sequence[int], width: int, note: str = "") -> Path:
    """Write ``words`` for ``$readmemh``: one zero-padded hex word per line, atomically.

    The first line is a ``//`` comment (accepted by Icarus, Verilator and yosys) naming
    the width, depth and ``note``.
    """
    path = Path(path)
    digits = max(1, -(-width // 4))
    limit = 1 << width
    lines = [f"// adderflow memh: {len(words)} words x {width} bits{'; ' + note if note else ''}"]
    for i, word in enumerate(words):
        if not 0 <= word < limit:
            raise ConfigError(f"{path}: word {i} = {word} does not fit {width} bits")
        lines.append(f"{word:0{digits}x}")
    return atomic_write_text(path, "\n".join(lines) + "\n")


def read_memh(path: str | os.PathLike) -> list[int]:
    """Words of a memory file written by ``write_memh`` (comments and blanks skipped)."""
    words = []
    for line in Path(path).read_text().splitlines():
        text = line.split("//", 1)[0].strip()
        if text:
            words.append(int(text, 16))
    return words


def bipolar_to_bits(values: np.ndarray, what: str = "value") -> np.ndarray:
    """{-1, +1} codes to the xnor PE's bits (1 codes +1, 0 codes -1; DESIGN.md rule 6)."""
    v = np.asarray(values, dtype=np.int64)
    if not np.all((v == 1) | (v == -1)):
        raise ConfigError(f"xnor {what}s must be -1 or +1")
    return (v > 0).astype(np.int64)


def binary_codes(values: np.ndarray, what: str = "value") -> np.ndarray:
    """Binary stream codes: -1, +1, or 0 for a padded tap that does not vote."""
    v = np.asarray(values, dtype=np.int64)
    if not np.all((v == 1) | (v == -1) | (v == 0)):
        raise ConfigError(f"binary {what}s must be -1, +1 or 0 (padding)")
    return v


# ---- the cycle model -----------------------------------------------------------------


def check_fold(k: int, out: int, pe: int, simd: int) -> None:
    """Refuse a folding the MVU does not support: it needs K % SIMD == 0 and OUT % PE == 0."""
    for name, value in (("K", k), ("OUT", out), ("PE", pe), ("SIMD", simd)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"MVU {name} must be a positive integer, got {value!r}")
    if k % simd:
        raise ConfigError(f"MVU K={k} is not a multiple of SIMD={simd}; pick SIMD dividing K")
    if out % pe:
        raise ConfigError(f"MVU OUT={out} is not a multiple of PE={pe}; pick PE dividing OUT")


def mvu_cycles(K: int, OUT: int, PE: int, SIMD: int, vectors: int = 1) -> int:  # noqa: N803
    """Cycles af_mvu takes for ``vectors`` input vectors, input always valid, output ready.

    Counted from the first input transfer to the last output transfer, both included:
    each vector occupies the issue stage for ``(OUT/PE) * (K/SIMD)`` cycles (the first
    neuron fold reads the stream, the others replay the buffer), plus the pipeline depth.
    """
    check_fold(K, OUT, PE, SIMD)
    return vectors * (OUT // PE) * (K // SIMD) + MVU_LATENCY


def requant_cycles(CH: int, PE: int, vectors: int = 1) -> int:  # noqa: N803
    """Cycles af_requant takes for ``vectors`` vectors of ``CH`` channels, ``PE`` per beat."""
    if CH % PE:
        raise ConfigError(f"requantizer CH={CH} is not a multiple of PE={PE}")
    return vectors * (CH // PE) + REQUANT_LATENCY


def threshold_cycles(CH: int, PE: int, vectors: int = 1) -> int:  # noqa: N803
    """Cycles af_threshold takes for ``vectors`` vectors of ``CH`` channels, ``PE`` per beat."""
    if CH % PE:
        raise ConfigError(f"threshold unit CH={CH} is not a multiple of PE={PE}")
    return vectors * (CH // PE) + THRESHOLD_LATENCY


# ---- unit configurations -------------------------------------------------------------


@dataclass(frozen=True)
class MvuConfig:
    """One af_mvu instance: ``y[o] = sum_k f(x[k], w[o, k])`` with ``PE x SIMD`` lanes."""

    mode: str
    bits: int
    k: int
    out: int
    pe: int = 1
    simd: int = 1
    acc_bits: int | None = None  # None: the contract's bound for K terms

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown PE mode {self.mode!r}; valid modes: {', '.join(MODES)}")
        if self.mode == "xnor":
            if self.bits not in (1, BINARY_CODE_BITS):
                raise ConfigError(
                    f"xnor PEs take 1-bit lanes (bits) or 2-bit lanes (codes -1/+1/0), "
                    f"got bits={self.bits}"
                )
        else:
            check_bits(self.bits, f"{self.mode} MVU bit width")
        check_fold(self.k, self.out, self.pe, self.simd)
        need = pe_acc_bits(self.mode, self.bits, self.k)
        if self.acc_bits is None:
            object.__setattr__(self, "acc_bits", need)
        elif self.acc_bits < need:
            raise ConfigError(
                f"MVU acc_bits={self.acc_bits} is below the {need} bits {self.k} "
                f"{self.bits}-bit {self.mode} terms need; accumulators must never wrap"
            )

    @property
    def sf(self) -> int:
        """Input beats per vector (synapse fold)."""
        return self.k // self.simd

    @property
    def nf(self) -> int:
        """Output beats per vector (neuron fold)."""
        return self.out // self.pe

    @property
    def in_bits(self) -> int:
        return self.simd * self.bits

    @property
    def out_word_bits(self) -> int:
        return self.pe * self.acc_bits

    @property
    def weight_bits(self) -> int:
        """Weight lane width: xnor weights are single bits (1 codes +1) at any input width."""
        return 1 if self.mode == "xnor" else self.bits

    @property
    def weight_word_bits(self) -> int:
        return self.pe * self.simd * self.weight_bits

    def parameters(self, weight_file: str = "weights.hex") -> dict[str, object]:
        """HDL parameters of af_mvu (render them with ``hdl_literal``)."""
        return {
            "MODE": self.mode,
            "BITS": self.bits,
            "K": self.k,
            "OUT": self.out,
            "PE": self.pe,
            "SIMD": self.simd,
            "ACC_BITS": self.acc_bits,
            "WEIGHT_FILE": weight_file,
        }

    def cycles(self, vectors: int = 1) -> int:
        return mvu_cycles(self.k, self.out, self.pe, self.simd, vectors)

    def _codes(self, values: np.ndarray, what: str) -> np.ndarray:
        if self.mode == "xnor" and (what == "weight" or self.bits == 1):
            return bipolar_to_bits(values, what)
        if self.mode == "xnor":
            return binary_codes(values, what)
        return np.asarray(values, dtype=np.int64)

    @property
    def _signed_inputs(self) -> bool:
        # 1-bit xnor lanes are bits (1 codes +1); every other lane is two's complement.
        return not (self.mode == "xnor" and self.bits == 1)

    def weight_words(self, w: np.ndarray) -> list[int]:
        """ROM words for ``w[OUT, K]``: word ``n*SF + s``, PE ``p``, lane ``i`` holds
        ``w[n*PE + p, s*SIMD + i]`` at bits ``[(p*SIMD + i)*WB +: WB]`` (``weight_bits``)."""
        w = np.asarray(w)
        if w.shape != (self.out, self.k):
            raise ConfigError(f"MVU weights have shape {w.shape}, expected {(self.out, self.k)}")
        codes = self._codes(w, "weight")
        # [NF, PE, SF, SIMD] -> [NF, SF, PE, SIMD] -> one row of PE*SIMD lanes per word.
        tiles = codes.reshape(self.nf, self.pe, self.sf, self.simd).transpose(0, 2, 1, 3)
        return pack_lanes(
            tiles.reshape(self.nf * self.sf, self.pe * self.simd),
            self.weight_bits,
            signed=self.mode != "xnor",
            what="weight",
        )

    def write_weights(self, path: str | os.PathLike, w: np.ndarray) -> Path:
        """Write the weight ROM's ``$readmemh`` file for ``w[OUT, K]``."""
        note = f"af_mvu {self.mode} OUT={self.out} K={self.k} PE={self.pe} SIMD={self.simd}"
        return write_memh(path, self.weight_words(w), self.weight_word_bits, note)

    def input_words(self, x: np.ndarray) -> list[int]:
        """Stream beats for ``x[N, K]``: beat ``s`` of a vector holds ``x[s*SIMD + i]``."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.k:
            raise ConfigError(f"MVU input has shape {x.shape}, expected (N, {self.k})")
        codes = self._codes(x, "input")
        return pack_lanes(
            codes.reshape(-1, self.simd), self.bits, signed=self._signed_inputs, what="input"
        )

    def output_values(self, words: Sequence[int]) -> np.ndarray:
        """Output beats back to ``y[N, OUT]`` (beat ``n`` holds channels ``n*PE + p``)."""
        if len(words) % self.nf:
            raise ConfigError(f"{len(words)} output beats is not a multiple of NF={self.nf}")
        lanes = [unpack_lanes(word, self.pe, self.acc_bits) for word in words]
        return np.concatenate(lanes).reshape(-1, self.out)


class _ChannelStream:
    """The stream of a unit after an MVU: beat ``c`` carries channels ``c·PE + p``,
    accumulators in, ``out_bits`` codes out (af_requant, af_threshold)."""

    unit: ClassVar[str]
    ch: int
    pe: int
    acc_bits: int

    def input_words(self, acc: np.ndarray) -> list[int]:
        """Stream beats for accumulators ``acc[N, CH]``."""
        acc = np.asarray(acc, dtype=np.int64)
        if acc.ndim != 2 or acc.shape[1] != self.ch:
            raise ConfigError(f"{self.unit} input has shape {acc.shape}, expected (N, {self.ch})")
        return pack_lanes(acc.reshape(-1, self.pe), self.acc_bits, what="accumulator")

    def output_values(self, words: Sequence[int]) -> np.ndarray:
        """Output beats back to codes ``[N, CH]``."""
        bits = self.out_bits  # type: ignore[attr-defined]
        lanes = [unpack_lanes(word, self.pe, bits) for word in words]
        return np.concatenate(lanes).reshape(-1, self.ch)


@dataclass(frozen=True)
class RequantConfig(_ChannelStream):
    """One af_requant instance: ``sat(round((acc*M + B) * 2**-shift))`` per channel."""

    unit: ClassVar[str] = "requantizer"

    ch: int
    acc_bits: int
    m_bits: int
    b_bits: int
    shift: int
    out_bits: int
    relu: bool = False
    pe: int = 1

    def __post_init__(self) -> None:
        if self.ch < 1 or self.pe < 1 or self.ch % self.pe:
            raise ConfigError(f"requantizer CH={self.ch} is not a multiple of PE={self.pe}")
        # Wider than the 16-bit code limit only for a network's logits, which no layer reads.
        if not 2 <= self.out_bits <= MAX_OUT_BITS:
            raise ConfigError(
                f"requantizer output bit width {self.out_bits} is outside 2..{MAX_OUT_BITS}"
            )
        if not 0 <= self.shift <= MAX_SHIFT:
            raise ConfigError(f"requantizer shift {self.shift} is outside 0..{MAX_SHIFT}")
        for name in ("acc_bits", "m_bits", "b_bits"):
            if getattr(self, name) < 1:
                raise ConfigError(f"requantizer {name} must be positive")

    @classmethod
    def fit(
        cls,
        multiplier: np.ndarray,
        bias: np.ndarray,
        shift: int,
        acc_bits: int,
        out_bits: int,
        relu: bool = False,
        pe: int = 1,
    ) -> RequantConfig:
        """The narrowest widths holding the given per-channel ``M`` and ``B``."""
        m = np.asarray(multiplier, dtype=np.int64)
        b = np.asarray(bias, dtype=np.int64)
        if m.shape != b.shape or m.ndim != 1:
            raise ConfigError(f"multiplier {m.shape} and bias {b.shape} must be equal 1-D shapes")
        m_bits = signed_bits(int(np.max(np.abs(m), initial=0)))
        b_bits = signed_bits(int(np.max(np.abs(b), initial=0)))
        return cls(m.size, acc_bits, m_bits, b_bits, int(shift), out_bits, bool(relu), pe)

    @property
    def cf(self) -> int:
        """Beats per vector (channel fold)."""
        return self.ch // self.pe

    def parameters(
        self, mult_file: str = "mult.hex", bias_file: str = "bias.hex"
    ) -> dict[str, object]:
        """HDL parameters of af_requant (render them with ``hdl_literal``)."""
        return {
            "CH": self.ch,
            "PE": self.pe,
            "ACC_BITS": self.acc_bits,
            "M_BITS": self.m_bits,
            "B_BITS": self.b_bits,
            "SHIFT": self.shift,
            "OUT_BITS": self.out_bits,
            "RELU": int(self.relu),
            "MULT_FILE": mult_file,
            "BIAS_FILE": bias_file,
        }

    def cycles(self, vectors: int = 1) -> int:
        return requant_cycles(self.ch, self.pe, vectors)

    def channel_words(self, values: np.ndarray, bits: int, what: str) -> list[int]:
        """Per-channel values packed ``PE`` lanes a word, word ``c`` = channels ``c*PE + p``."""
        v = np.asarray(values, dtype=np.int64)
        if v.shape != (self.ch,):
            raise ConfigError(f"requantizer {what} has shape {v.shape}, expected ({self.ch},)")
        return pack_lanes(v.reshape(self.cf, self.pe), bits, what=what)

    def write_params(
        self,
        mult_path: str | os.PathLike,
        bias_path: str | os.PathLike,
        multiplier: np.ndarray,
        bias: np.ndarray,
    ) -> tuple[Path, Path]:
        """Write the multiplier and bias ROM files."""
        note = f"af_requant CH={self.ch} PE={self.pe}"
        m = write_memh(
            mult_path,
            self.channel_words(multiplier, self.m_bits, "multiplier"),
            self.pe * self.m_bits,
            note,
        )
        b = write_memh(
            bias_path,
            self.channel_words(bias, self.b_bits, "bias"),
            self.pe * self.b_bits,
            note,
        )
        return m, b



@dataclass(frozen=True)
class ThresholdConfig(_ChannelStream):
    """One af_threshold instance: ``+1 if direction*acc >= threshold else -1`` per channel.

    The IR's ``BinaryThreshold`` (DESIGN.md rule 6, ``adderflow.fixed.binarize``); output
    beats carry ``BINARY_CODE_BITS``-bit codes (+1 = 01, -1 = 11), ``pe`` channels a beat.
    """

    unit: ClassVar[str] = "threshold"

    ch: int
    acc_bits: int
    t_bits: int
    pe: int = 1

    def __post_init__(self) -> None:
        if self.ch < 1 or self.pe < 1 or self.ch % self.pe:
            raise ConfigError(f"threshold unit CH={self.ch} is not a multiple of PE={self.pe}")
        if self.acc_bits < 1:
            raise ConfigError("threshold unit acc_bits must be positive")
        if self.t_bits < 2:
            raise ConfigError(f"threshold unit t_bits must be at least 2, got {self.t_bits}")

    @classmethod
    def fit(
        cls, threshold: np.ndarray, direction: np.ndarray, acc_bits: int, pe: int = 1
    ) -> ThresholdConfig:
        """The narrowest threshold width holding the given per-channel thresholds."""
        t = np.asarray(threshold, dtype=np.int64)
        d = np.asarray(direction, dtype=np.int64)
        if t.shape != d.shape or t.ndim != 1:
            raise ConfigError(
                f"threshold {t.shape} and direction {d.shape} must be equal 1-D shapes"
            )
        t_bits = max(2, signed_bits(int(np.max(np.abs(t), initial=0))))
        return cls(t.size, acc_bits, t_bits, pe)

    @property
    def cf(self) -> int:
        """Beats per vector (channel fold)."""
        return self.ch // self.pe

    @property
    def out_bits(self) -> int:
        return BINARY_CODE_BITS

    def parameters(
        self, thresh_file: str = "thresh.hex", dir_file: str = "dir.hex"
    ) -> dict[str, object]:
        """HDL parameters of af_threshold (render them with ``hdl_literal``)."""
        return {
            "CH": self.ch,
            "PE": self.pe,
            "ACC_BITS": self.acc_bits,
            "T_BITS": self.t_bits,
            "THRESH_FILE": thresh_file,
            "DIR_FILE": dir_file,
        }

    def cycles(self, vectors: int = 1) -> int:
        return threshold_cycles(self.ch, self.pe, vectors)

    def channel_words(self, values: np.ndarray, what: str) -> list[int]:
        """Per-channel words, ``PE`` lanes a word: thresholds as ``t_bits`` signed lanes,
        directions as single bits (1 for +1, 0 for -1, the bipolar bit code)."""
        v = np.asarray(values, dtype=np.int64)
        if v.shape != (self.ch,):
            raise ConfigError(f"threshold unit {what} has shape {v.shape}, expected ({self.ch},)")
        if what == "direction":
            return pack_lanes(bipolar_to_bits(v, what).reshape(self.cf, self.pe), 1, False, what)
        return pack_lanes(v.reshape(self.cf, self.pe), self.t_bits, what=what)

    def write_params(
        self,
        thresh_path: str | os.PathLike,
        dir_path: str | os.PathLike,
        threshold: np.ndarray,
        direction: np.ndarray,
    ) -> tuple[Path, Path]:
        """Write the threshold and direction ROM files."""
        note = f"af_threshold CH={self.ch} PE={self.pe}"
        t = write_memh(
            thresh_path,
            self.channel_words(threshold, "threshold"),
            self.pe * self.t_bits,
            note,
        )
        d = write_memh(dir_path, self.channel_words(direction, "direction"), self.pe, note)
        return t, d



# ---- window generator -------------------------------------------------------------------

WINDOW_COUNTER_BITS = 16  # af_window's signed counters (CW)


@dataclass(frozen=True)
class WindowConfig:
    """One af_window instance: frame buffer, optional pool on write, window taps.

    The input frame is ``height x width`` pixels of ``channels`` codes (before pooling),
    ``lanes`` channels a beat in raster order; the output is, per output pixel, the taps
    ``(ky, kx)`` of the pooled and zero-padded frame, ``lanes`` channels a beat. The pool
    (kernel = stride = ``pool``) is ``pool_mode`` ``"max"`` (``IntMaxPool``) or ``"avg"``
    (``IntAvgPool``: ``round_half_even(sum / pool²)``, ``pool`` a power of two).
    """

    bits: int
    channels: int
    height: int
    width: int
    kernel: tuple[int, int] = (3, 3)
    stride: int = 1
    pad: int = 0
    pool: int = 1
    lanes: int = 1
    pool_mode: str = "max"

    def __post_init__(self) -> None:
        check_bits(self.bits, "window code width")
        if self.pool_mode not in POOL_MODES:
            raise ConfigError(f"window pool mode '{self.pool_mode}' is not one of {POOL_MODES}")
        if self.pool_mode == "avg":
            try:  # the contract's rule, reported as this generator's configuration error
                avg_pool_shift((self.pool, self.pool), (self.pool, self.pool), "window")
            except QuantizationError as exc:
                raise ConfigError(str(exc)) from None
        kh, kw = self.kernel
        if min(self.channels, self.height, self.width, kh, kw, self.stride, self.pool) < 1:
            raise ConfigError(f"window sizes must be positive: {self}")
        if self.pad < 0:
            raise ConfigError(f"window padding must not be negative, got {self.pad}")
        if self.channels % self.lanes:
            raise ConfigError(
                f"window channels {self.channels} not a multiple of lanes {self.lanes}"
            )
        if self.height % self.pool or self.width % self.pool:
            raise ConfigError(f"frame {self.height}x{self.width} not divisible by pool {self.pool}")
        fh, fw = self.frame
        if kh > fh + 2 * self.pad or kw > fw + 2 * self.pad:
            raise ConfigError(
                f"kernel {self.kernel} larger than the padded frame "
                f"{fh + 2 * self.pad}x{fw + 2 * self.pad}"
            )
        if (fh + self.pad) * fw * (self.channels // self.lanes) >= 1 << (WINDOW_COUNTER_BITS - 2):
            raise ConfigError(
                f"frame {fh}x{fw}x{self.channels} too large for af_window's "
                f"{WINDOW_COUNTER_BITS}-bit address counters"
            )

    @property
    def frame(self) -> tuple[int, int]:
        """The stored frame (after pooling)."""
        return self.height // self.pool, self.width // self.pool

    @property
    def out_size(self) -> tuple[int, int]:
        (fh, fw), (kh, kw) = self.frame, self.kernel
        return (
            (fh + 2 * self.pad - kh) // self.stride + 1,
            (fw + 2 * self.pad - kw) // self.stride + 1,
        )

    @property
    def in_beats(self) -> int:
        return self.height * self.width * (self.channels // self.lanes)

    @property
    def out_beats(self) -> int:
        (oh, ow), (kh, kw) = self.out_size, self.kernel
        return oh * ow * kh * kw * (self.channels // self.lanes)

    def parameters(self) -> dict[str, object]:
        kh, kw = self.kernel
        return {
            "BITS": self.bits,
            "C": self.channels,
            "H": self.height,
            "W": self.width,
            "POOL": self.pool,
            "POOL_MODE": self.pool_mode,
            "LANES": self.lanes,
            "KH": kh,
            "KW": kw,
            "STRIDE": self.stride,
            "PAD": self.pad,
        }

    def cycles(self, frames: int = 1) -> int:
        """Load then emit, frame after frame (one buffer): first input to last output."""
        return frames * (self.in_beats + self.out_beats) + WINDOW_LATENCY - 1

    def _check_frames(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.int64)
        if x.ndim != 4 or x.shape[1:] != (self.channels, self.height, self.width):
            raise ConfigError(
                f"window input has shape {x.shape}, expected "
                f"(N, {self.channels}, {self.height}, {self.width})"
            )
        return x

    def input_words(self, x: np.ndarray) -> list[int]:
        """Beats for frames ``x[N, C, H, W]``: raster order, ``lanes`` channels a beat."""
        lanes = self._check_frames(x).transpose(0, 2, 3, 1).reshape(-1, self.lanes)
        return pack_lanes(lanes, self.bits, what="window input")

    def pooled(self, x: np.ndarray) -> np.ndarray:
        """The stored frame ``[N, C, FH, FW]``: max, or the contract's rounded mean, per block."""
        n, c, _, _ = x.shape
        fh, fw = self.frame
        blocks = x.reshape(n, c, fh, self.pool, fw, self.pool)
        if self.pool_mode == "avg":
            area = (self.pool, self.pool)
            return round_shift(blocks.sum(axis=(3, 5)), avg_pool_shift(area, area, "af_window"))
        return blocks.max(axis=(3, 5))

    def windows(self, x: np.ndarray) -> np.ndarray:
        """Reference output ``[N, OH, OW, KH*KW*C]``: each window in ``(ky, kx, c)`` order."""
        x = self._check_frames(x)
        n, c, _, _ = x.shape
        (fh, fw), (kh, kw), p, s = self.frame, self.kernel, self.pad, self.stride
        pooled = self.pooled(x)
        padded = np.zeros((n, fh + 2 * p, fw + 2 * p, c), dtype=np.int64)
        padded[:, p : p + fh, p : p + fw] = pooled.transpose(0, 2, 3, 1)
        oh, ow = self.out_size
        out = np.empty((n, oh, ow, kh * kw * c), dtype=np.int64)
        for oy in range(oh):
            for ox in range(ow):
                tile = padded[:, oy * s : oy * s + kh, ox * s : ox * s + kw]
                out[:, oy, ox] = tile.reshape(n, -1)
        return out


# ---- line-buffered window generator -------------------------------------------------------

LINEWIN_COUNTER_BITS = 16  # af_linewin's signed counters (CW)
LINEWIN_SOURCES = ("af_linewin.v", "af_skid.v")
# af_linewin: an output row starts in the cycle after the edge that completes its last
# input row, and a beat emitted into the output slice leaves one cycle later.
LINEWIN_LATENCY = 2


@dataclass(frozen=True)
class LineWindowConfig(WindowConfig):
    """One af_linewin instance: a ring of ``ring_rows`` rows, loading overlapped with emission.

    The streams are af_window's without pooling (``pool`` must stay 1), so the data side is
    inherited: ``input_words``, ``windows`` (the NumPy window reference), ``out_size``,
    ``in_beats``, ``out_beats``. Only the checks, the HDL parameters and the cycle model
    differ. Construct with keywords past ``pad`` (``lanes=``), the field order being
    WindowConfig's.
    """

    def __post_init__(self) -> None:
        # Not WindowConfig's checks: its address bound is a whole frame's, this unit's is
        # the ring's, which is what lets it take frames af_window cannot hold.
        check_bits(self.bits, "line window code width")
        if self.pool != 1 or self.pool_mode != "max":
            raise ConfigError("af_linewin does not pool (pool must be 1); use af_window")
        kh, kw = self.kernel
        if min(self.channels, self.height, self.width, kh, kw, self.stride, self.lanes) < 1:
            raise ConfigError(f"line window sizes must be positive: {self}")
        if self.pad < 0:
            raise ConfigError(f"line window padding must not be negative, got {self.pad}")
        if self.channels % self.lanes:
            raise ConfigError(
                f"line window channels {self.channels} not a multiple of lanes {self.lanes}"
            )
        if self.pad >= kh or self.pad >= kw:
            # The row accounting assumes every window holds a frame row (docs/rtl.md).
            raise ConfigError(
                f"line window padding {self.pad} must be below the kernel {self.kernel}"
            )
        if kh > self.height + 2 * self.pad or kw > self.width + 2 * self.pad:
            raise ConfigError(
                f"kernel {self.kernel} larger than the padded frame "
                f"{self.height + 2 * self.pad}x{self.width + 2 * self.pad}"
            )
        limit = 1 << (LINEWIN_COUNTER_BITS - 2)
        cg = self.channels // self.lanes
        if (
            self.storage_words >= limit
            or (self.width + 2 * self.pad + self.stride) * cg >= limit
            or self.height + 2 * self.pad + self.stride >= limit
        ):
            raise ConfigError(
                f"line window {self.height}x{self.width}x{self.channels} (ring of "
                f"{self.ring_rows} rows) too large for af_linewin's "
                f"{LINEWIN_COUNTER_BITS}-bit address counters"
            )

    @property
    def ring_rows(self) -> int:
        """Rows stored: the KH an output row reads plus the STRIDE the next one adds."""
        return min(self.kernel[0] + self.stride, self.height)

    @property
    def storage_words(self) -> int:
        """Ring depth in beats (``lanes`` codes each)."""
        return self.ring_rows * self.width * (self.channels // self.lanes)

    @property
    def storage_codes(self) -> int:
        return self.ring_rows * self.width * self.channels

    def parameters(self) -> dict[str, object]:
        kh, kw = self.kernel
        return {
            "BITS": self.bits,
            "C": self.channels,
            "H": self.height,
            "W": self.width,
            "LANES": self.lanes,
            "KH": kh,
            "KW": kw,
            "STRIDE": self.stride,
            "PAD": self.pad,
        }

    def schedule(self, frames: int = 1) -> tuple[list[int], list[int]]:
        """af_linewin's row schedule, input always valid and output always ready.

        Returns the cycle of the last beat of every input row (global rows, frame after
        frame) and the cycle in which every output row's last beat enters the output
        slice, cycle 0 being the first input transfer. With ``IB = W·C/LANES`` beats an
        input row, ``NB = OW·KH·KW·C/LANES`` an output row, ring ``R`` rows, output row
        ``k`` reading global rows ``[rel_k, need_k)`` (``rel_k = f·H + max(0, lo)``,
        ``need_k = f·H + min(H, lo + KH)``, ``lo = oy·STRIDE − PAD``) and
        ``rel_K = frames·H`` after the last one:

        * input row ``G`` starts at ``max(in_end[G−1] + 1, out_end[j−1] + 1)``, ``j`` the
          first output row with ``rel_j + R > G`` (its slot's old row is released; the
          term is absent for ``j = 0``), and ends ``IB − 1`` cycles later;
        * output row ``k`` starts at ``max(out_end[k−1] + 1, in_end[need_k − 1] + 1)``
          and ends ``NB − 1`` cycles later.
        """
        if frames < 1:
            raise ConfigError(f"frames must be positive, got {frames}")
        (oh, ow), (kh, kw) = self.out_size, self.kernel
        h, r, cg = self.height, self.ring_rows, self.channels // self.lanes
        ib, nb = self.width * cg, ow * kh * kw * cg
        rel, need = [], []
        for f in range(frames):
            for oy in range(oh):
                lo = oy * self.stride - self.pad
                rel.append(f * h + max(0, lo))
                need.append(f * h + min(h, lo + kh))
        rel.append(frames * h)
        rows, outs = frames * h, len(need)
        in_end: list[int] = []
        out_end: list[int] = []
        j = 0  # first output row whose rel admits the next input row (rel only grows)
        while len(in_end) < rows or len(out_end) < outs:
            g = len(in_end)
            if g < rows:
                while rel[j] + r <= g:
                    j += 1
                if j <= len(out_end):  # the release it waits for is known
                    start = max(in_end[-1] + 1 if g else 0, out_end[j - 1] + 1 if j else 0)
                    in_end.append(start + ib - 1)
                    continue
            k = len(out_end)
            # need_k <= rel_k + R, so the rows are always writable: no deadlock.
            assert need[k] <= len(in_end), "af_linewin schedule deadlock"
            start = max(out_end[-1] + 1 if k else 0, in_end[need[k] - 1] + 1)
            out_end.append(start + nb - 1)
        return in_end, out_end

    def cycles(self, frames: int = 1) -> int:
        """First input transfer to last output transfer, both included (``schedule``)."""
        _, out_end = self.schedule(frames)
        return out_end[-1] + LINEWIN_LATENCY

    def last_input_cycle(self, frames: int = 1) -> int:
        """Cycle of the last input transfer (stride leftovers may come after the output)."""
        in_end, _ = self.schedule(frames)
        return in_end[-1]
