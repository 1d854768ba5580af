"""The NumPy integer reference: the oracle every backend must equal bit for bit.

Free functions on int64 code arrays, NCHW, no I/O, no floating point. Kept deliberately
plain (one loop over output channels where a loop is clearer than a trick) so it can be
read in one sitting. The requantization rule itself lives in ``adderflow.fixed``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from adderflow.fixed import (
    FixedType,
    avg_pool_shift,
    binarize,
    gate_product,
    join_add,
    requantize,
    round_shift,
    table_lookup,
    window_sum,
)


def _as_codes(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind == "f":
        if not np.array_equal(a, np.round(a)):
            raise ValueError("integer reference received non-integer values")
    return a.astype(np.int64)


def patches(
    x: np.ndarray,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    pads: tuple[int, int, int, int],
) -> np.ndarray:
    """Sliding windows of ``x`` as ``[N, Ho, Wo, C*kh*kw]`` (C-major, like a flat weight).

    ``pads`` is ONNX order (top, left, bottom, right). Padding is the quantized zero and
    takes part in the layer (DESIGN.md rule 3).
    """
    x = _as_codes(x)
    top, left, bottom, right = pads
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    win = sliding_window_view(x, kernel, axis=(2, 3))  # N, C, H', W', kh, kw
    win = win[:, :, :: strides[0], :: strides[1]]
    n, c, ho, wo, kh, kw = win.shape
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n, ho, wo, c * kh * kw)


def adder_gemm(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``y[n, o] = -sum_k |x[n, k] - w[o, k]|`` (DESIGN.md rule 2)."""
    x = _as_codes(x)
    w = _as_codes(w)
    out = np.empty((x.shape[0], w.shape[0]), dtype=np.int64)
    for o in range(w.shape[0]):
        out[:, o] = -np.abs(x - w[o]).sum(axis=-1)
    return out


def int_gemm(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``y[n, o] = sum_k x[n, k] * w[o, k]``: a multiplication layer, exact in int64."""
    return _as_codes(x) @ _as_codes(w).T


def group_sizes(c: int, weight_shape, group: int) -> tuple[int, int]:
    """(input channels, output channels) per group of a convolution over ``c`` channels
    with weight ``[O, C/group, kh, kw]``; a geometry that does not divide is refused."""
    out_ch, per_group = int(weight_shape[0]), int(weight_shape[1])
    if group < 1 or c % group or out_ch % group or per_group * group != c:
        raise ValueError(
            f"convolution with group {group}: {c} input channels, weight "
            f"{[int(d) for d in weight_shape]} (needs [O, C/group, kh, kw], O and C divisible)"
        )
    return per_group, out_ch // group


def _grouped(rows_fn, x, weight_shape, strides, pads, group) -> np.ndarray:
    """``rows_fn(rows [M, K], g) -> [M, O/group]`` over each group's patches, concatenated
    along the output channels (group ``g`` owns inputs and outputs ``g·C/group ..``)."""
    x = _as_codes(x)
    per_group, _ = group_sizes(x.shape[1], weight_shape, group)
    kh, kw = int(weight_shape[2]), int(weight_shape[3])
    parts = []
    for g in range(group):
        cols = patches(x[:, g * per_group : (g + 1) * per_group], (kh, kw), strides, pads)
        n, ho, wo, k = cols.shape
        acc = rows_fn(cols.reshape(n * ho * wo, k), g)
        parts.append(acc.reshape(n, ho, wo, -1))
    return np.concatenate(parts, axis=-1).transpose(0, 3, 1, 2)


def _conv(kernel_fn, x, w, strides, pads, group) -> np.ndarray:
    w = _as_codes(w)
    _, out_per_group = group_sizes(np.shape(x)[1], w.shape, group)
    rows = w.reshape(group, out_per_group, -1)
    return _grouped(lambda cols, g: kernel_fn(cols, rows[g]), x, w.shape, strides, pads, group)


def adder_conv(x, w, strides=(1, 1), pads=(0, 0, 0, 0), group: int = 1) -> np.ndarray:
    """Adder convolution: every output is ``-sum |patch - filter|`` over the
    ``C/group*kh*kw`` terms of its group (rule 3's zero padding takes part)."""
    return _conv(adder_gemm, x, w, strides, pads, group)


def int_conv(x, w, strides=(1, 1), pads=(0, 0, 0, 0), group: int = 1) -> np.ndarray:
    """Ordinary integer convolution (first layer of an adder network), grouped like ONNX's."""
    return _conv(int_gemm, x, w, strides, pads, group)


def max_pool(
    x: np.ndarray,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> np.ndarray:
    """Max pooling; on codes it commutes with any monotone quantizer.

    ``pads`` (top, left, bottom, right) are positions that never win: they hold a value
    below every code. Each is below the kernel's side (ONNX's rule), so every window holds
    at least one code and the max is one (over ±1 codes, ±1 again).
    """
    top, left, bottom, right = pads
    if min(pads) < 0 or max(top, bottom) >= kernel[0] or max(left, right) >= kernel[1]:
        raise ValueError(f"max pool pads {list(pads)} are not 0 <= pad < kernel {list(kernel)}")
    floor = np.iinfo(np.int64).min
    x = np.pad(_as_codes(x), ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=floor)
    win = sliding_window_view(x, kernel, axis=(2, 3))
    return win[:, :, :: strides[0], :: strides[1]].max(axis=(-2, -1))


def avg_pool(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """Average pooling without padding: ``round_half_even(window sum / area)``, integers only.

    The area is a power of two (``fixed.avg_pool_shift`` refuses any other), so the mean is
    the window sum shifted with the contract's rounding; the result fits the input width.
    """
    shift = avg_pool_shift(kernel, strides, "average pool")
    win = sliding_window_view(_as_codes(x), kernel, axis=(2, 3))
    sums = win[:, :, :: strides[0], :: strides[1]].sum(axis=(-2, -1))
    return round_shift(sums, shift)


def int_add(a: np.ndarray, b: np.ndarray, shifts: tuple[int, int]) -> np.ndarray:
    """A residual add (DESIGN.md rule 10): ``(a << shifts[0]) + (b << shifts[1])``, exact.

    ``shifts`` align the two power-of-two scales to the finer one (the finer operand's is
    0); the rule is ``fixed.join_add``. No rounding and no saturation here: a rule-4
    requantization of the sum follows.
    """
    a, b = _as_codes(a), _as_codes(b)
    if a.shape != b.shape:
        raise ValueError(f"residual add of shapes {list(a.shape)} and {list(b.shape)}")
    if min(shifts) != 0:
        raise ValueError(f"residual add shifts {list(shifts)}: the finer operand's must be 0")
    top = max(shifts)
    total, _ = join_add(a, top - shifts[0], b, top - shifts[1])
    return total


def sum_pool(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """Window sums without padding (DESIGN.md rule 10: an average over an area that is not a
    power of two is this sum, then a rule-4 requantization); the rule is
    ``fixed.window_sum``. Exact: no rounding, no saturation."""
    kernel, strides = tuple(int(k) for k in kernel), tuple(int(s) for s in strides)
    if len(kernel) != 2 or len(strides) != 2 or min(kernel + strides) < 1:
        raise ValueError(f"sum pool kernel {list(kernel)} / strides {list(strides)}")
    x = _as_codes(x)
    if x.ndim != 4 or kernel[0] > x.shape[2] or kernel[1] > x.shape[3]:
        raise ValueError(f"sum pool window {list(kernel)} over codes of shape {list(x.shape)}")
    return window_sum(x, kernel, strides)


def gate_mul(x: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """``x · gate`` with per-channel gate codes ``[N, C, 1, 1]`` broadcast over the spatial
    axes (a squeeze-excite gate), exact; the rule is ``fixed.gate_product`` and a rule-4
    requantization follows."""
    return gate_product(_as_codes(x), _as_codes(gate))


def lut(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[x - qmin]`` (``len(table) = 2**b`` for ``b``-bit codes): a nonlinearity as
    a table lookup; the rule is ``fixed.table_lookup``."""
    return table_lookup(_as_codes(x), _as_codes(table))


def requant(acc, multiplier, bias, shift: int, out_bits: int, relu: bool) -> np.ndarray:
    """Per-channel requantization to ``out_bits`` codes; the rule is ``fixed.requantize``."""
    # The output fraction is irrelevant to the integer rule; only the width matters here.
    return requantize(acc, multiplier, bias, shift, FixedType(out_bits, 0), relu=relu)


# --- binary layers (DESIGN.md rule 6) ---------------------------------------------------

# Ones in each byte value: a popcount is a table lookup per byte, summed.
POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def _bipolar(x: np.ndarray) -> np.ndarray:
    x = _as_codes(x)
    if not np.all((x == 1) | (x == -1)):
        raise ValueError("binary layer received codes other than -1 and +1")
    return x


def _check_packed(packed: np.ndarray, out: int, terms: int) -> np.ndarray:
    packed = np.asarray(packed)
    if packed.dtype != np.uint8 or packed.shape != (out, (terms + 7) // 8):
        raise ValueError(
            f"packed weight must be uint8 [{out}, {(terms + 7) // 8}], "
            f"got {packed.dtype} {list(packed.shape)}"
        )
    return packed


def _xnor_rows(rows: np.ndarray, packed: np.ndarray) -> np.ndarray:
    """``rows [M, K]`` of codes -1/+1, or 0 for a padded tap, against packed weight rows.

    Bit level: the inputs are packed like the weights (1 for +1), a second bit vector
    marks the taps that vote (not padding); per output ``2·popcount(xnor(a, w) & valid) −
    popcount(valid)``, which is ``Σ a·w`` over the voting taps.
    """
    a = np.packbits(rows > 0, axis=-1, bitorder="little")
    valid = np.packbits(rows != 0, axis=-1, bitorder="little")
    votes = POPCOUNT[valid].sum(axis=-1)
    out = np.empty((rows.shape[0], packed.shape[0]), dtype=np.int64)
    for o in range(packed.shape[0]):
        agree = ~(a ^ packed[o]) & valid  # xnor, padded taps and tail bits masked out
        out[:, o] = 2 * POPCOUNT[agree].sum(axis=-1) - votes
    return out


def xnor_gemm(x: np.ndarray, packed: np.ndarray, weight_shape=None) -> np.ndarray:
    """``acc[n, o] = 2·popcount(xnor(x[n], w[o])) − K`` for ±1 codes ``x [N, K]``.

    ``packed`` is ``fixed.pack_bits`` of the ±1 weight of logical ``weight_shape``
    ``[O, K]`` (default: as many rows as ``packed``, ``K`` from ``x``).
    """
    x = _bipolar(x)
    out, terms = weight_shape if weight_shape is not None else (len(packed), x.shape[1])
    if x.shape[1] != terms:
        raise ValueError(f"binary dense layer: input has {x.shape[1]} terms, weight {terms}")
    return _xnor_rows(x, _check_packed(packed, int(out), int(terms)))


def xnor_conv(
    x, packed, weight_shape, strides=(1, 1), pads=(0, 0, 0, 0), group: int = 1
) -> np.ndarray:
    """Binary convolution of ±1 codes with packed ±1 weights of logical ``weight_shape``
    ``[O, C/group, kh, kw]`` (each output sees the ``C/group`` channels of its group).

    Zero padding does not vote: a padded tap is masked out of the popcount, so each output
    is ``Σ a·w`` over the taps inside the image (as ``BinaryConv2d`` trains: its padding
    is a 0 that multiplies to nothing).
    """
    x = _bipolar(x)
    out_ch, per_group, kh, kw = (int(d) for d in weight_shape)
    group_sizes(x.shape[1], weight_shape, group)
    rows = _check_packed(packed, out_ch, per_group * kh * kw).reshape(group, out_ch // group, -1)
    return _grouped(
        lambda cols, g: _xnor_rows(cols, rows[g]), x, weight_shape, strides, pads, group
    )


def binary_threshold(acc, threshold, direction) -> np.ndarray:
    """Batch norm + sign folded: ``+1 if direction·acc >= threshold else -1`` per channel."""
    return binarize(_as_codes(acc), _as_codes(threshold), _as_codes(direction))
