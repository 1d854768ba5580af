"""The numeric contract (DESIGN.md, "The numeric contract"): the one module that owns it.

Every backend (NumPy reference, quantized PyTorch model, hls4ml, RTL) implements these rules;
the functions here are their executable definition. NumPy only, integer arithmetic only:
nothing here goes through floating point once values are integer codes.

- ``fixed<b, f>``: signed two's complement code ``q`` with value ``q * 2**-f``.
- Rounding is round-half-to-even; overflow on requantization saturates.
- Accumulator widths are derived from bounds, never guessed.
- Binary layers (rule 6): codes ``{-1, +1}``, weights packed as bits, ``2·popcount(xnor) −
  K`` accumulators, batch norm + sign folded into integer thresholds.
- Limits (rule 9), checked once at IR load (``adderflow.sim.executor.check_contract``) for
  every backend: shifts ``0 <= s <= MAX_SHIFT`` (a left shift is folded into ``M``); any
  padding ``p >= 0``, also ``p >= k`` (an output that sees only padding is ``-Σ|w|``);
  every accumulator's declared width holds the bound of the layer's input width and
  weights (``acc_bits_needed``); ``|acc·M + B|`` fits ``MAX_PRODUCT_BITS`` signed bits for
  any accumulator of its declared width (``requant_product_bits``), so int64 never
  overflows and float64 (the onnxruntime lowering) never rounds; ReLU is requantization's
  lower clamp at zero. Outside the limits a model is refused naming the node and limit.
- Joins and global pooling (rule 10): a residual add aligns both power-of-two scales by
  left shifts to the finer one and adds exactly (``join_add``), then requantizes by rule 4;
  average pooling over a power-of-two area is a round-half-even shift (``avg_pool_shift``),
  over any other area the window sum (``window_sum``, as wide as ``window_sum_bits``)
  followed by a rule-4 requantization. The IR's join op computes ``join_add``, its window
  sum ``window_sum`` and its gate product (a squeeze-excite ``x · gate``) exact
  ``gate_product`` codes as wide as ``product_bits``; a requantization follows each. Its
  average pool takes power-of-two areas only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from adderflow.errors import QuantizationError

MIN_BITS = 2
MAX_BITS = 16
# Requantization evaluates acc * M + B in int64; the quantized PyTorch model evaluates it in
# float64, which is exact only below 2**53. Widths above this are refused at build time.
MAX_PRODUCT_BITS = 52
# Shifts beyond this buy no precision for 16-bit multipliers and bloat the RTL's rounding unit.
MAX_SHIFT = 40


def check_bits(bits: int, what: str = "bit width") -> int:
    """Return ``bits`` if the contract supports it, else raise naming ``what``."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise QuantizationError(f"{what} must be an integer, got {bits!r}")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise QuantizationError(
            f"{what} {bits} is outside the supported range {MIN_BITS}..{MAX_BITS}"
        )
    return int(bits)


@dataclass(frozen=True)
class FixedType:
    """``fixed<bits, frac>``: signed codes of ``bits`` bits scaled by ``2**-frac``."""

    bits: int
    frac: int

    def __post_init__(self) -> None:
        if self.bits < 1:
            raise QuantizationError(f"fixed type needs at least 1 bit, got {self.bits}")

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def scale(self) -> float:
        return 2.0**-self.frac

    def __str__(self) -> str:
        return f"fixed<{self.bits},{self.frac}>"


def signed_bits(max_abs: int) -> int:
    """Fewest signed two's complement bits holding every integer in ``[-max_abs, max_abs]``."""
    if max_abs < 0:
        raise ValueError("max_abs must be non-negative")
    return int(max_abs).bit_length() + 1


def code_bits(values: np.ndarray) -> int:
    """Fewest signed two's complement bits holding every integer in ``values`` exactly.

    Unlike ``signed_bits(max |v|)`` this knows that ``-2**(b-1)`` fits ``b`` bits: a 16-bit
    weight of -32768 is 16 bits wide, not 17.
    """
    values = np.asarray(values)
    if values.size == 0:
        return 1
    lo, hi = int(values.min()), int(values.max())
    return max(hi.bit_length() if hi > 0 else 0, (-lo - 1).bit_length() if lo < 0 else 0) + 1


def ceil_log2(k: int) -> int:
    if k < 1:
        raise ValueError(f"term count must be positive, got {k}")
    return (k - 1).bit_length()


def adder_acc_bits(bits: int, terms: int) -> int:
    """Accumulator width of an adder layer: ``b + ceil(log2 K) + 1`` (DESIGN.md rule 2).

    ``|x - w| <= 2**b - 1`` for ``b``-bit signed codes, so ``|y| <= K * (2**b - 1)``.
    """
    return bits + ceil_log2(terms) + 1


def mul_acc_bits(x_bits: int, w_bits: int, terms: int) -> int:
    """Accumulator width of a multiplication layer (first conv, classifier).

    The largest product is ``(-2**(bx-1)) * (-2**(bw-1)) = 2**(bx+bw-2)``; ``K`` of them
    need ``bx + bw - 2 + ceil(log2 K)`` magnitude bits plus one sign bit, and one more
    because the bound itself is a power of two.
    """
    return x_bits + w_bits + ceil_log2(terms)


def adder_acc_bound(bits: int, terms: int) -> int:
    """Largest ``|y|`` an adder layer can produce: ``K * (2**b - 1)``."""
    return terms * ((1 << bits) - 1)


def frac_for_range(max_abs: float, bits: int) -> int:
    """Largest ``f`` such that ``max_abs`` fits in ``fixed<bits, f>`` without clipping.

    Power-of-two scales are required on the hardware path (shifts, ``ap_fixed``).
    """
    check_bits(bits)
    if not math.isfinite(max_abs):
        raise QuantizationError(f"cannot choose a scale for a non-finite range {max_abs}")
    if max_abs <= 0:
        return bits - 1
    return math.floor(math.log2(((1 << (bits - 1)) - 1) / max_abs))


def saturate(q: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Clamp integer codes into ``[lo, hi]`` (the contract's overflow mode, ``AP_SAT``)."""
    return np.clip(q, lo, hi)


def quantize(x: np.ndarray, t: FixedType) -> np.ndarray:
    """Float values to int64 codes of ``t``: round half to even, then saturate.

    Multiplying by ``2**f`` is exact in binary floating point, so ``np.round`` sees the
    true value and its ties are true ties.
    """
    scaled = np.asarray(x, dtype=np.float64) * (2.0**t.frac)
    return saturate(np.round(scaled).astype(np.int64), t.qmin, t.qmax)


def round_shift(v: np.ndarray, shift: int) -> np.ndarray:
    """``round_half_even(v / 2**shift)`` on int64 codes, in integer arithmetic only."""
    v = np.asarray(v, dtype=np.int64)
    if shift < 0:
        raise QuantizationError(f"requantization shift must be >= 0, got {shift}")
    if shift == 0:
        return v.copy()
    floor = v >> shift  # arithmetic shift: floor division for negative values too
    rem = v - (floor << shift)
    half = np.int64(1) << (shift - 1)
    round_up = (rem > half) | ((rem == half) & ((floor & 1) == 1))
    return floor + round_up.astype(np.int64)


def avg_pool_shift(kernel: tuple[int, ...], strides: tuple[int, ...], what: str) -> int:
    """``log2`` of an average pool's window area, the shift that divides its sum exactly.

    The contract's average pool (the IR's average pool op) has a square kernel equal to its stride
    and an area ``k·k`` that is a power of two, so ``round_half_even(sum / (k·k))`` is
    ``round_shift(sum, log2(k·k))``: integer only, no divider in hardware. ``what`` names
    the node or layer in the error.
    """
    kernel, strides = tuple(int(k) for k in kernel), tuple(int(s) for s in strides)
    if len(kernel) != 2 or kernel[0] != kernel[1] or min(kernel) < 1:
        raise QuantizationError(f"{what}: average pool kernel {list(kernel)} is not square")
    if strides != kernel:
        raise QuantizationError(
            f"{what}: average pool strides {list(strides)} differ from its kernel "
            f"{list(kernel)}; only kernel = stride pooling is on the hardware path"
        )
    area = kernel[0] * kernel[1]
    if area & (area - 1):
        raise QuantizationError(
            f"{what}: average pool {kernel[0]}x{kernel[1]}: area {area} is not a power of "
            "two, so the mean is not a shift (use 2x2, 4x4, 8x8 ...)"
        )
    return area.bit_length() - 1


def requantize(
    acc: np.ndarray,
    multiplier: np.ndarray,
    bias: np.ndarray,
    shift: int,
    out: FixedType,
    relu: bool = False,
    axis: int = 1,
) -> np.ndarray:
    """``sat(round((acc * M + B) * 2**-s))`` per channel (DESIGN.md rule 4).

    ``multiplier`` and ``bias`` are int64 vectors indexed by channel along ``axis``. A
    fused ReLU lowers the saturation bound to zero, which is what ReLU after rounding is.
    """
    acc = np.asarray(acc, dtype=np.int64)
    shape = [1] * acc.ndim
    shape[axis] = -1
    m = np.asarray(multiplier, dtype=np.int64).reshape(shape)
    b = np.asarray(bias, dtype=np.int64).reshape(shape)
    rounded = round_shift(acc * m + b, shift)
    lo = 0 if relu else out.qmin
    return saturate(rounded, lo, out.qmax)


@dataclass(frozen=True)
class RequantParams:
    """Integer parameters of one per-channel affine requantization."""

    multiplier: np.ndarray  # int64 [C]
    bias: np.ndarray  # int64 [C]
    shift: int


def fit_requant(
    gain: np.ndarray,
    offset: np.ndarray,
    acc_bits: int,
    multiplier_bits: int = 16,
    layer: str = "layer",
    shift_only: bool = False,
    center: np.ndarray | float = 0.0,
) -> RequantParams:
    """Integer ``M, B, s`` approximating ``out = gain * (acc - center) + offset``.

    All in output codes. ``center`` is where a channel's output equals ``offset`` (batch
    norm's running mean, in accumulator codes); keeping it exact means an approximated
    ``M`` scales each channel around its own centre instead of shifting it wholesale.

    ``s`` is the largest shift keeping every ``|M| < 2**(multiplier_bits-1)``; one shift
    per layer keeps the hardware's rounding unit shared by all channels. With
    ``shift_only`` every ``M`` is a signed power of two (rounded in the log domain), so the
    requantization needs no multiplier at all (DESIGN.md rule 4).
    """
    gain = np.asarray(gain, dtype=np.float64)
    offset = np.asarray(offset, dtype=np.float64)
    center = np.broadcast_to(np.asarray(center, dtype=np.float64), gain.shape)
    if not all(np.all(np.isfinite(a)) for a in (gain, offset, center)):
        raise QuantizationError(f"{layer}: non-finite requantization gain or offset")
    limit = (1 << (multiplier_bits - 1)) - 1
    peak = float(np.max(np.abs(gain))) if gain.size else 0.0
    shift = MAX_SHIFT if peak == 0 else math.floor(math.log2(limit / peak))
    shift = min(shift, MAX_SHIFT)
    while shift >= 0:
        multiplier = _multipliers(gain, shift, shift_only)
        bias = np.round(offset * 2.0**shift - multiplier * center).astype(np.int64)
        fits = np.max(np.abs(multiplier), initial=0) <= limit
        if fits and requant_product_bits(acc_bits, multiplier, bias) <= MAX_PRODUCT_BITS:
            return RequantParams(multiplier=multiplier, bias=bias, shift=shift)
        shift -= 1
    raise QuantizationError(
        f"{layer}: requantization gain {peak:.3g} does not fit {multiplier_bits} multiplier "
        f"bits within {MAX_PRODUCT_BITS}-bit products; lower the bit width"
    )


def _multipliers(gain: np.ndarray, shift: int, shift_only: bool) -> np.ndarray:
    scaled = gain * 2.0**shift
    if not shift_only:
        return np.round(scaled).astype(np.int64)
    magnitude = np.abs(scaled)
    exponent = np.round(np.log2(np.where(magnitude > 0, magnitude, 1.0)))
    power = np.where(magnitude > 0, 2.0**exponent, 0.0)
    return (np.sign(scaled) * power).astype(np.int64)


def acc_bits_needed(kind: str, x_bits: int, weight: np.ndarray) -> int:
    """Signed width of the largest ``|acc|`` a layer can produce (rules 2 and 9).

    ``kind`` is ``"adder"`` (``-Σ|x - w|``) or ``"mul"`` (``Σ x·w``); ``x`` is any
    ``x_bits``-bit code (zero padding included), ``weight`` is ``[O, ...]`` with one row of
    ``K`` terms per output. Exact for the given weights, so never wider than rule 2's
    ``adder_acc_bits``/``mul_acc_bits`` of the same widths, and a declared accumulator at
    least this wide never wraps.
    """
    w = np.asarray(weight, dtype=np.int64)
    w = w.reshape(len(w), -1) if w.ndim else w.reshape(1, 1)
    lo, hi = -(1 << (x_bits - 1)), (1 << (x_bits - 1)) - 1
    if kind == "adder":
        term = np.maximum(hi - w, w - lo)
    elif kind == "mul":
        term = np.maximum(np.abs(lo * w), np.abs(hi * w))
    else:
        raise ValueError(f"unknown layer kind {kind!r}")
    peak = int(term.sum(axis=1).max(initial=0)) if w.size else 0
    return signed_bits(peak)


def join_add(a: np.ndarray, a_frac: int, b: np.ndarray, b_frac: int) -> tuple[np.ndarray, int]:
    """A residual add (rule 10): both codes left-shifted to the finer scale, added exactly.

    Returns the sum's codes and fraction bits; a rule-4 requantization follows.
    """
    frac = max(a_frac, b_frac)
    a = np.asarray(a, dtype=np.int64) << (frac - a_frac)
    b = np.asarray(b, dtype=np.int64) << (frac - b_frac)
    return a + b, frac


def window_sum(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """Rule 10's average over an area that is not a power of two, before its requantization:
    the exact sum of each ``kernel`` window of NCHW codes ``x`` (no padding: rows and columns
    no window covers are dropped)."""
    win = sliding_window_view(np.asarray(x, dtype=np.int64), tuple(kernel), axis=(2, 3))
    return win[:, :, :: strides[0], :: strides[1]].sum(axis=(-2, -1))


def window_sum_bits(bits: int, area: int) -> int:
    """Signed width of every sum of ``area`` codes of ``bits`` bits (rule 9: the sum never
    wraps): ``area·(-2**(b-1))`` is its low end."""
    if area < 1:
        raise ValueError(f"window area must be positive, got {area}")
    return code_bits(np.array([area * -(1 << (bits - 1)), area * ((1 << (bits - 1)) - 1)]))


def gate_product(x: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """``x · gate``, exact: NCHW codes times per-channel ``[N, C, 1, 1]`` gate codes (a
    squeeze-excite gate) broadcast over the spatial axes. A real multiplication; a rule-4
    requantization of the products follows."""
    x, gate = np.asarray(x, dtype=np.int64), np.asarray(gate, dtype=np.int64)
    if x.ndim != 4 or gate.shape != (x.shape[0], x.shape[1], 1, 1):
        raise ValueError(
            f"gate of shape {list(gate.shape)} does not gate codes of shape {list(x.shape)} "
            "(it must be [N, C, 1, 1])"
        )
    return x * gate


def product_bits(a_bits: int, b_bits: int) -> int:
    """Signed width of every product of an ``a_bits``- and a ``b_bits``-bit code: the
    product of both lows, ``2**(a+b-2)``, needs ``a + b`` bits."""
    corners = [
        a * b
        for a in (-(1 << (a_bits - 1)), (1 << (a_bits - 1)) - 1)
        for b in (-(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1)
    ]
    return code_bits(np.array(corners, dtype=np.int64))


MAX_LUT_BITS = 12  # a table lookup's input width: 2**12 entries, a small ROM


def table_lookup(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """A table lookup (a nonlinearity such as a sigmoid gate): ``table[x - qmin]`` for the
    codes ``x`` of a ``b``-bit signed type, ``len(table) = 2**b`` and ``qmin = -2**(b-1)``.
    The table is integer codes computed when the network is quantized; the lookup itself
    is exact whatever function it holds."""
    x, table = np.asarray(x, dtype=np.int64), np.asarray(table, dtype=np.int64)
    size = table.size
    if table.ndim != 1 or size < 2 or size & (size - 1):
        raise ValueError(f"a lookup table must be 1-D of 2**b entries, got {list(table.shape)}")
    index = x + size // 2
    if index.size and (index.min() < 0 or index.max() >= size):
        raise ValueError(
            f"codes in [{int(x.min())}, {int(x.max())}] are outside the table's "
            f"{size.bit_length() - 1}-bit input range"
        )
    return table[index]


def lookup_table(fn, in_type: FixedType, out_type: FixedType) -> np.ndarray:
    """The table of ``fn`` from ``in_type`` codes to ``out_type`` codes: entry ``i`` is
    ``fn((i + qmin)·2**-f_in)`` quantized (round half to even, saturated) to ``out_type``.
    ``fn`` takes and returns float64 arrays; only the table it gives is part of the IR."""
    check_bits(in_type.bits, "lookup input width")
    if in_type.bits > MAX_LUT_BITS:
        raise QuantizationError(
            f"a lookup on {in_type.bits}-bit codes needs 2**{in_type.bits} entries; at most "
            f"{MAX_LUT_BITS}-bit inputs are tabulated"
        )
    codes = np.arange(in_type.qmin, in_type.qmax + 1, dtype=np.int64)
    return quantize(fn(codes.astype(np.float64) * in_type.scale), out_type)


def check_requant_limits(
    acc_bits: int, multiplier: np.ndarray, bias: np.ndarray, shift: int, what: str
) -> None:
    """Rule 9's requantization limits, raising naming ``what``: ``0 <= shift <= MAX_SHIFT``,
    integer ``M`` and ``B``, and ``|acc·M + B|`` within ``MAX_PRODUCT_BITS`` signed bits
    for every ``acc`` of ``acc_bits`` bits (int64 never overflows, float64 never rounds)."""
    if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)):
        raise QuantizationError(f"{what}: shift must be an integer, got {shift!r}")
    if not 0 <= shift <= MAX_SHIFT:
        raise QuantizationError(
            f"{what}: shift {shift} is outside 0..{MAX_SHIFT} (a left shift is folded into M)"
        )
    for name, value in (("multiplier", multiplier), ("bias", bias)):
        if np.asarray(value).dtype.kind not in "iu":
            raise QuantizationError(f"{what}: {name} must be integers, got {value.dtype}")
    bits = requant_product_bits(acc_bits, multiplier, bias)
    if bits > MAX_PRODUCT_BITS:
        raise QuantizationError(
            f"{what}: acc·M + B needs {bits} bits for {acc_bits}-bit accumulators "
            f"(|M| <= {int(np.max(np.abs(multiplier), initial=0))}, "
            f"|B| <= {int(np.max(np.abs(bias), initial=0))}); the limit is {MAX_PRODUCT_BITS} "
            "bits (int64 without overflow, float64 without rounding)"
        )


def requant_product_bits(acc_bits: int, multiplier: np.ndarray, bias: np.ndarray) -> int:
    """Signed width of ``acc * M + B`` for any ``acc`` of ``acc_bits`` bits (rule 9)."""
    m_max = max((abs(int(v)) for v in np.ravel(multiplier)), default=0)
    b_max = max((abs(int(v)) for v in np.ravel(bias)), default=0)
    return signed_bits((1 << (acc_bits - 1)) * m_max + b_max)


# --- binary layers (DESIGN.md rule 6) ---------------------------------------------------


@dataclass(frozen=True)
class BipolarType:
    """Binary codes ``{-1, +1}`` (DESIGN.md rule 6), stored as one bit each: 1 for +1.

    In the IR's int64 tensors a bipolar value is the code -1 or +1 itself; only packed
    weights are bits (``pack_bits``). ``bits`` is the storage width, not a signed width.
    """

    bits: int = 1
    frac: int = 0

    @property
    def qmin(self) -> int:
        return -1

    @property
    def qmax(self) -> int:
        return 1

    @property
    def scale(self) -> float:
        return 1.0

    def __str__(self) -> str:
        return "bipolar"


BIPOLAR = BipolarType()


def xnor_acc_bits(terms: int) -> int:
    """Accumulator width of a binary layer: ``|2·popcount − K| <= K`` needs ``signed_bits(K)``."""
    if terms < 1:
        raise ValueError(f"term count must be positive, got {terms}")
    return signed_bits(terms)


def pack_bits(codes: np.ndarray) -> np.ndarray:
    """±1 codes ``[O, ...]`` → uint8 ``[O, ceil(K/8)]`` with ``K = prod(shape[1:])``.

    Row ``o`` holds ``codes[o]`` flattened in C order (``c, ky, kx`` for a conv weight);
    term ``k`` is bit ``k % 8`` (least significant first) of byte ``k // 8``; 1 is +1 and
    0 is -1. The tail bits of the last byte are 0.
    """
    codes = np.asarray(codes)
    if codes.ndim < 2 or codes.size == 0:
        raise QuantizationError(
            f"packed weights need a non-empty [O, ...] array, got {list(codes.shape)}"
        )
    if not np.all((codes == 1) | (codes == -1)):
        raise QuantizationError("binary weights must be codes -1 or +1")
    flat = (codes.reshape(codes.shape[0], -1) > 0).astype(np.uint8)
    return np.packbits(flat, axis=1, bitorder="little")


def unpack_bits(packed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of ``pack_bits``: int64 ±1 codes of ``shape`` (tail bits must be 0)."""
    packed = np.asarray(packed)
    out, terms = int(shape[0]), int(np.prod(shape[1:]))
    if packed.dtype != np.uint8 or packed.shape != (out, (terms + 7) // 8):
        raise QuantizationError(
            f"packed weights must be uint8 [{out}, {(terms + 7) // 8}] for shape {list(shape)}, "
            f"got {packed.dtype} {list(packed.shape)}"
        )
    bits = np.unpackbits(packed, axis=1, bitorder="little")
    if np.any(bits[:, terms:]):
        raise QuantizationError("packed weights have non-zero tail bits past the last term")
    return (2 * bits[:, :terms].astype(np.int64) - 1).reshape(shape)


@dataclass(frozen=True)
class Threshold:
    """Batch norm + sign folded into integers: ``+1 if direction·acc >= threshold else -1``.

    ``direction`` is +1 per channel, or -1 where the folded gain is negative (the comparison
    flips: ``acc <= -threshold``).
    """

    threshold: np.ndarray  # int64 [C]
    direction: np.ndarray  # int64 [C], each +1 or -1


def binarize(
    acc: np.ndarray, threshold: np.ndarray, direction: np.ndarray, axis: int = 1
) -> np.ndarray:
    """``+1 where direction·acc >= threshold, else -1``, per channel along ``axis``."""
    acc = np.asarray(acc, dtype=np.int64)
    shape = [1] * acc.ndim
    shape[axis] = -1
    t = np.asarray(threshold, dtype=np.int64).reshape(shape)
    d = np.asarray(direction, dtype=np.int64).reshape(shape)
    return np.where(d * acc >= t, 1, -1).astype(np.int64)


def fit_threshold(slope, intercept, acc_bound: int, layer: str = "layer") -> Threshold:
    """The integer ``Threshold`` of ``sign(slope·acc + intercept)`` with ``sign(0) = +1``.

    ``slope`` and ``intercept`` are per channel (floats or ``fractions.Fraction``); the
    fold is done in exact rational arithmetic on their values, so ties (``slope·acc +
    intercept == 0`` at an integer ``acc``) give +1 exactly as the sign does. Thresholds
    are clamped into ``[-acc_bound, acc_bound + 1]``, which changes nothing for any
    ``|acc| <= acc_bound`` and keeps them as narrow as the accumulator (a channel whose
    output never changes gets ``-acc_bound``: always +1, or ``acc_bound + 1``: always -1).
    """
    slopes, intercepts = list(np.ravel(slope)), list(np.ravel(intercept))
    if len(slopes) != len(intercepts):
        raise QuantizationError(f"{layer}: {len(slopes)} slopes but {len(intercepts)} intercepts")
    threshold, direction = [], []
    for a, c in zip(slopes, intercepts, strict=True):
        if not all(math.isfinite(float(v)) for v in (a, c)):
            raise QuantizationError(f"{layer}: non-finite batch-norm fold for a sign threshold")
        a, c = Fraction(a), Fraction(c)
        if a > 0:  # a·acc + c >= 0  <=>  acc >= -c/a
            t, d = math.ceil(-c / a), 1
        elif a < 0:  # acc <= -c/a  <=>  -acc >= c/a
            t, d = math.ceil(c / a), -1
        else:
            t, d = (-acc_bound if c >= 0 else acc_bound + 1), 1
        threshold.append(min(max(t, -acc_bound), acc_bound + 1))
        direction.append(d)
    return Threshold(np.array(threshold, dtype=np.int64), np.array(direction, dtype=np.int64))
