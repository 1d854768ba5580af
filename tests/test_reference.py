"""The NumPy integer reference against direct loops, on random shapes and at the extremes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adderflow import fixed
from adderflow.fixed import FixedType
from adderflow.sim import reference


def loop_conv(x, w, stride, pad, adder: bool) -> np.ndarray:
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho = (h + 2 * pad - kh) // stride + 1
    wo = (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, o, ho, wo), dtype=np.int64)
    for b, oc, i, j in itertools.product(range(n), range(o), range(ho), range(wo)):
        total = 0
        for ci, di, dj in itertools.product(range(c), range(kh), range(kw)):
            r, s = i * stride + di - pad, j * stride + dj - pad
            xv = int(x[b, ci, r, s]) if 0 <= r < h and 0 <= s < wd else 0  # zero padding
            wv = int(w[oc, ci, di, dj])
            total += -abs(xv - wv) if adder else xv * wv
        out[b, oc, i, j] = total
    return out


def random_codes(rng, shape, bits):
    t = FixedType(bits, 0)
    return rng.integers(t.qmin, t.qmax + 1, size=shape, dtype=np.int64)


CASES = [
    # (n, c, h, w, o, k, stride, pad, bits)
    (2, 3, 5, 5, 4, 3, 1, 1, 8),
    (1, 2, 7, 6, 3, 3, 2, 1, 4),
    (2, 1, 4, 4, 2, 1, 1, 0, 2),
    (1, 3, 6, 5, 5, 5, 1, 0, 16),
    (1, 2, 5, 5, 3, 5, 2, 1, 6),
]


@pytest.mark.parametrize("adder", [True, False], ids=["adder", "mul"])
@pytest.mark.parametrize("case", CASES)
def test_conv_matches_direct_loop(case, adder):
    n, c, h, w, o, k, stride, pad, bits = case
    rng = np.random.default_rng(sum(case))
    x = random_codes(rng, (n, c, h, w), bits)
    wt = random_codes(rng, (o, c, k, k), bits)
    fn = reference.adder_conv if adder else reference.int_conv
    got = fn(x, wt, (stride, stride), (pad, pad, pad, pad))
    assert np.array_equal(got, loop_conv(x, wt, stride, pad, adder))


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
@pytest.mark.parametrize("extreme", ["max_vs_min", "min_vs_max", "all_max", "all_min"])
def test_adder_conv_extremes_hit_the_contract_bound(bits, extreme):
    t = FixedType(bits, 0)
    xv, wv = {
        "max_vs_min": (t.qmax, t.qmin),
        "min_vs_max": (t.qmin, t.qmax),
        "all_max": (t.qmax, t.qmax),
        "all_min": (t.qmin, t.qmin),
    }[extreme]
    c, k = 5, 3
    x = np.full((1, c, 4, 4), xv, dtype=np.int64)
    w = np.full((2, c, k, k), wv, dtype=np.int64)
    acc = reference.adder_conv(x, w, (1, 1), (0, 0, 0, 0))
    terms = c * k * k
    assert np.all(acc == -terms * abs(xv - wv))
    acc_t = FixedType(fixed.adder_acc_bits(bits, terms), 0)
    assert acc.min() >= acc_t.qmin
    if extreme == "max_vs_min":
        assert acc.min() == -fixed.adder_acc_bound(bits, terms)


def test_padding_takes_part():
    """A padded pixel contributes |0 - w| (DESIGN.md rule 3)."""
    x = np.zeros((1, 1, 1, 1), dtype=np.int64)
    w = np.full((1, 1, 3, 3), 5, dtype=np.int64)
    assert reference.adder_conv(x, w, (1, 1), (1, 1, 1, 1)).item() == -45


def test_gemm_matches_loop():
    rng = np.random.default_rng(3)
    x = random_codes(rng, (4, 7), 8)
    w = random_codes(rng, (3, 7), 8)
    pairs = [[list(zip(row, f, strict=True)) for f in w] for row in x]
    want_add = np.array([[-sum(abs(int(a) - int(b)) for a, b in p) for p in r] for r in pairs])
    want_mul = np.array([[sum(int(a) * int(b) for a, b in p) for p in r] for r in pairs])
    assert np.array_equal(reference.adder_gemm(x, w), want_add)
    assert np.array_equal(reference.int_gemm(x, w), want_mul)


def test_max_pool_matches_loop():
    rng = np.random.default_rng(4)
    x = random_codes(rng, (2, 3, 6, 5), 8)
    got = reference.max_pool(x, (2, 2), (2, 2))
    want = np.array(
        [
            [
                [
                    [x[b, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].max() for j in range(2)]
                    for i in range(3)
                ]
                for c in range(3)
            ]
            for b in range(2)
        ]
    )
    assert np.array_equal(got, want)


def test_reference_refuses_non_integer_floats():
    with pytest.raises(ValueError, match="non-integer"):
        reference.adder_gemm(np.array([[0.5]]), np.array([[1]]))


@st.composite
def conv_case(draw):
    bits = draw(st.integers(2, 16))
    k = draw(st.sampled_from([1, 2, 3]))
    pad = draw(st.integers(0, 1))
    stride = draw(st.integers(1, 2))
    c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = draw(st.integers(max(1, k - 2 * pad), 5))
    fill = draw(st.sampled_from(["random", "max_vs_min", "min_vs_max", "all_max", "all_min"]))
    seed = draw(st.integers(0, 2**16))
    return bits, k, pad, stride, c, o, h, fill, seed


def _filled(rng, shape, t: FixedType, fill: str, operand: int) -> np.ndarray:
    value = {
        "max_vs_min": (t.qmax, t.qmin),
        "min_vs_max": (t.qmin, t.qmax),
        "all_max": (t.qmax, t.qmax),
        "all_min": (t.qmin, t.qmin),
    }.get(fill)
    if value is None:
        return random_codes(rng, shape, t.bits)
    return np.full(shape, value[operand], dtype=np.int64)


@given(conv_case())
@settings(max_examples=150, deadline=None)
def test_accumulators_never_overflow_and_equal_big_integers(case):
    """Property over shapes, widths 2-16 and extremes: int64 reference == Python ints."""
    bits, k, pad, stride, c, o, h, fill, seed = case
    rng = np.random.default_rng(seed)
    t = FixedType(bits, 0)
    x = _filled(rng, (1, c, h, h), t, fill, 0)
    w = _filled(rng, (o, c, k, k), t, fill, 1)
    for adder in (True, False):
        fn = reference.adder_conv if adder else reference.int_conv
        got = fn(x, w, (stride, stride), (pad,) * 4)
        want = loop_conv(x, w, stride, pad, adder)  # Python big integers
        assert np.array_equal(got, want)
        terms = c * k * k
        width = (
            fixed.adder_acc_bits(bits, terms) if adder else fixed.mul_acc_bits(bits, bits, terms)
        )
        acc_t = FixedType(width, 0)
        assert all(acc_t.qmin <= int(v) <= acc_t.qmax for v in want.ravel())


# --- residual add (DESIGN.md rule 10) ----------------------------------------------------


@pytest.mark.parametrize("bits", [(2, 2), (4, 8), (8, 4), (16, 16)])
@pytest.mark.parametrize("shifts", [(0, 0), (0, 3), (5, 0)])
@pytest.mark.parametrize("fill", ["random", "all_max", "all_min", "max_min"])
def test_int_add_equals_python_integers(bits, shifts, fill):
    """``a·2^sa + b·2^sb`` in Python's unbounded integers, element by element."""
    rng = np.random.default_rng(sum(bits) + sum(shifts))
    ta, tb = FixedType(bits[0], 0), FixedType(bits[1], 0)
    shape = (2, 3, 4, 5)
    if fill == "random":
        a, b = random_codes(rng, shape, bits[0]), random_codes(rng, shape, bits[1])
    else:
        a = np.full(shape, ta.qmin if fill == "all_min" else ta.qmax)
        b = np.full(shape, tb.qmax if fill == "all_max" else tb.qmin)
    got = reference.int_add(a, b, shifts)
    pairs = zip(a.ravel().tolist(), b.ravel().tolist(), strict=True)
    want = [x * 2 ** shifts[0] + y * 2 ** shifts[1] for x, y in pairs]
    assert got.dtype == np.int64 and got.ravel().tolist() == want


def test_int_add_refuses_what_rule_10_does_not_define():
    a = np.zeros((1, 2, 2, 2), np.int64)
    with pytest.raises(ValueError, match="shapes"):
        reference.int_add(a, a[:, :1], (0, 0))
    with pytest.raises(ValueError, match="finer operand"):
        reference.int_add(a, a, (1, 2))


# --- grouped and depthwise convolution (ONNX Conv's ``group``) ----------------------------


def loop_grouped_conv(x, w, strides, pads, group: int, arithmetic: str) -> np.ndarray:
    """Output channel ``oc`` sees input channels ``g·C/group ..`` of its group ``g``; a padded
    tap is 0 (it takes part in an adder conv, adds nothing to a product, and does not vote
    in an xnor conv: ``arithmetic`` ``xnor`` counts ``a·w`` over taps inside the image)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    top, left, bottom, right = pads
    ho = (h + top + bottom - kh) // strides[0] + 1
    wo = (wd + left + right - kw) // strides[1] + 1
    out = np.zeros((n, o, ho, wo), dtype=np.int64)
    for b, oc, i, j in itertools.product(range(n), range(o), range(ho), range(wo)):
        g = oc // (o // group)
        total = 0
        for ci, di, dj in itertools.product(range(cg), range(kh), range(kw)):
            r, s = i * strides[0] + di - top, j * strides[1] + dj - left
            inside = 0 <= r < h and 0 <= s < wd
            xv = int(x[b, g * cg + ci, r, s]) if inside else 0
            wv = int(w[oc, ci, di, dj])
            if arithmetic == "adder":
                total += -abs(xv - wv)
            elif inside or arithmetic == "mac":
                total += xv * wv
        out[b, oc, i, j] = total
    return out


GROUP_CASES = [
    # (n, c, h, w, o, group, (kh, kw), strides, pads, bits)
    (2, 4, 5, 5, 6, 2, (3, 3), (1, 1), (1, 1, 1, 1), 8),
    (1, 6, 6, 5, 6, 6, (3, 3), (2, 1), (1, 0, 2, 1), 2),  # depthwise, asymmetric pads
    (1, 4, 4, 4, 8, 4, (1, 1), (1, 1), (0, 0, 0, 0), 16),  # depthwise, channel multiplier 2
    (2, 6, 5, 4, 3, 3, (2, 3), (2, 2), (0, 1, 1, 0), 5),
    (1, 8, 3, 3, 4, 2, (3, 3), (1, 1), (3, 3, 3, 3), 12),  # pad >= kernel: padding only
]


@pytest.mark.parametrize("fill", ["random", "max_vs_min", "min_vs_max", "all_max", "all_min"])
@pytest.mark.parametrize("case", GROUP_CASES)
def test_grouped_conv_matches_direct_loop(case, fill):
    n, c, h, w, o, group, kernel, strides, pads, bits = case
    rng = np.random.default_rng(sum(case[:6]) + bits)
    t = FixedType(bits, 0)
    x = _filled(rng, (n, c, h, w), t, fill, 0)
    wt = _filled(rng, (o, c // group, *kernel), t, fill, 1)
    for arithmetic, fn in (("adder", reference.adder_conv), ("mac", reference.int_conv)):
        got = fn(x, wt, strides, pads, group)
        assert np.array_equal(got, loop_grouped_conv(x, wt, strides, pads, group, arithmetic))
        terms = c // group * kernel[0] * kernel[1]  # K per output is its group's
        kind = "adder" if arithmetic == "adder" else "mul"
        acc_t = FixedType(fixed.acc_bits_needed(kind, bits, wt), 0)
        assert acc_t.bits <= (
            fixed.adder_acc_bits(bits, terms) if kind == "adder" else fixed.mul_acc_bits(
                bits, bits, terms)
        )  # fmt: skip
        assert acc_t.qmin <= got.min() and got.max() <= acc_t.qmax


@pytest.mark.parametrize("bits", [2, 8, 16])
def test_depthwise_adder_conv_reaches_the_per_group_bound(bits):
    """All-min inputs against all-max weights: each output sums its own ``kh·kw`` terms of
    ``2^b - 1``, not ``C·kh·kw`` (rule 2 with K per group)."""
    t = FixedType(bits, 0)
    x = np.full((1, 5, 4, 4), t.qmin, dtype=np.int64)
    w = np.full((5, 1, 3, 3), t.qmax, dtype=np.int64)
    acc = reference.adder_conv(x, w, (1, 1), (0, 0, 0, 0), 5)
    assert np.all(acc == -fixed.adder_acc_bound(bits, 9))
    needed = fixed.acc_bits_needed("adder", bits, w)
    assert needed == fixed.signed_bits(fixed.adder_acc_bound(bits, 9))
    assert needed < fixed.signed_bits(fixed.adder_acc_bound(bits, 5 * 9))


@pytest.mark.parametrize("case", GROUP_CASES)
def test_grouped_xnor_conv_matches_direct_loop(case):
    """Over ±1 codes; a padded tap does not vote."""
    n, c, h, w, o, group, kernel, strides, pads, _ = case
    rng = np.random.default_rng(sum(case[:6]))
    x = rng.choice(np.array([-1, 1]), size=(n, c, h, w))
    wt = rng.choice(np.array([-1, 1]), size=(o, c // group, *kernel))
    got = reference.xnor_conv(x, fixed.pack_bits(wt), wt.shape, strides, pads, group)
    assert np.array_equal(got, loop_grouped_conv(x, wt, strides, pads, group, "xnor"))


@pytest.mark.parametrize(
    "c, w_shape, group",
    [(4, (6, 2, 3, 3), 3), (4, (4, 1, 3, 3), 2), (6, (6, 2, 1, 1), 4), (4, (4, 4, 1, 1), 0)],
)
def test_reference_refuses_groups_that_do_not_divide(c, w_shape, group):
    x = np.zeros((1, c, 3, 3), np.int64)
    with pytest.raises(ValueError, match=rf"group {group}: {c} input channels"):
        reference.adder_conv(x, np.zeros(w_shape, np.int64), (1, 1), (0,) * 4, group)


# --- max pool with padding: padded positions never win ------------------------------------


def loop_max_pool(x, kernel, strides, pads) -> np.ndarray:
    """The max over each window's positions inside the image (padding takes no part)."""
    n, c, h, w = x.shape
    top, left, bottom, right = pads
    ho = (h + top + bottom - kernel[0]) // strides[0] + 1
    wo = (w + left + right - kernel[1]) // strides[1] + 1
    out = np.zeros((n, c, ho, wo), dtype=np.int64)
    for b, ch, i, j in itertools.product(range(n), range(c), range(ho), range(wo)):
        inside = [
            int(x[b, ch, r, s])
            for r in range(i * strides[0] - top, i * strides[0] - top + kernel[0])
            for s in range(j * strides[1] - left, j * strides[1] - left + kernel[1])
            if 0 <= r < h and 0 <= s < w
        ]
        out[b, ch, i, j] = max(inside)
    return out


POOL_CASES = [
    # (shape, kernel, strides, pads)
    ((2, 3, 7, 7), (3, 3), (2, 2), (1, 1, 1, 1)),  # ResNet-18's stem pool
    ((1, 2, 5, 6), (3, 2), (1, 2), (2, 0, 1, 1)),
    ((1, 1, 4, 4), (2, 2), (2, 2), (1, 1, 1, 1)),  # border windows hold one code
    ((2, 2, 1, 1), (3, 3), (1, 1), (2, 2, 2, 2)),  # a 1x1 image, pads up to kernel - 1
    ((1, 3, 6, 5), (2, 3), (3, 1), (0, 2, 1, 0)),
]


@pytest.mark.parametrize("fill", ["random", "all_max", "all_min"])
@pytest.mark.parametrize("bits", [2, 4, 8, 16])
@pytest.mark.parametrize("case", POOL_CASES)
def test_padded_max_pool_matches_loop(case, bits, fill):
    """All-min codes: a zero-padded pool would give 0 at the border; padding never wins."""
    shape, kernel, strides, pads = case
    t = FixedType(bits, 0)
    x = _filled(np.random.default_rng(bits + sum(pads)), shape, t, fill, 0)
    got = reference.max_pool(x, kernel, strides, pads)
    assert np.array_equal(got, loop_max_pool(x, kernel, strides, pads))
    assert t.qmin <= got.min() and got.max() <= t.qmax
    if fill == "all_min":
        assert np.all(got == t.qmin)


@pytest.mark.parametrize("case", POOL_CASES)
def test_padded_max_pool_of_bipolar_codes_stays_bipolar(case):
    shape, kernel, strides, pads = case
    x = np.random.default_rng(sum(pads)).choice(np.array([-1, 1]), size=shape)
    got = reference.max_pool(x, kernel, strides, pads)
    assert np.array_equal(got, loop_max_pool(x, kernel, strides, pads))
    assert np.all(reference.max_pool(-np.ones(shape, np.int64), kernel, strides, pads) == -1)


@pytest.mark.parametrize("pads", [(3, 0, 0, 0), (0, 0, 0, 2), (-1, 0, 0, 0)])
def test_max_pool_refuses_pads_outside_onnx(pads):
    with pytest.raises(ValueError, match=r"pads .* are not 0 <= pad < kernel \[3, 2\]"):
        reference.max_pool(np.zeros((1, 1, 4, 4), np.int64), (3, 2), (1, 1), pads)


# --- window sum and gate product (DESIGN.md rule 10, issue #20) --------------------------

FILLS = ["random", "all_max", "all_min"]


def _codes(rng, shape, bits, fill):
    t = FixedType(bits, 0)
    if fill == "random":
        return random_codes(rng, shape, bits)
    return np.full(shape, t.qmax if fill == "all_max" else t.qmin, dtype=np.int64)


@pytest.mark.parametrize("bits", [2, 3, 8, 13, 16])
@pytest.mark.parametrize(
    "shape, kernel, strides",
    [
        ((2, 3, 5, 7), (2, 3), (1, 2)),
        ((1, 2, 4, 4), (3, 3), (3, 3)),
        ((3, 1, 6, 2), (5, 1), (1, 1)),
    ],
)
@pytest.mark.parametrize("fill", FILLS)
def test_sum_pool_equals_python_integer_loops(bits, shape, kernel, strides, fill):
    """Every window summed in Python's unbounded integers; the result fits
    ``fixed.window_sum_bits`` and all-min reaches its low end."""
    rng = np.random.default_rng(bits * 7 + kernel[0])
    x = _codes(rng, shape, bits, fill)
    got = reference.sum_pool(x, kernel, strides)
    n, c, h, w = shape
    ho, wo = (h - kernel[0]) // strides[0] + 1, (w - kernel[1]) // strides[1] + 1
    want = np.zeros((n, c, ho, wo), dtype=object)
    for b, ch, i, j in itertools.product(range(n), range(c), range(ho), range(wo)):
        r, s = i * strides[0], j * strides[1]
        want[b, ch, i, j] = sum(
            int(v) for v in x[b, ch, r : r + kernel[0], s : s + kernel[1]].ravel()
        )
    assert got.dtype == np.int64 and got.tolist() == want.tolist()
    width = fixed.window_sum_bits(bits, kernel[0] * kernel[1])
    assert fixed.code_bits(got) <= width
    if fill == "all_min":
        assert fixed.code_bits(got) == width  # the bound is tight


@pytest.mark.parametrize("bits", [(2, 2), (2, 16), (5, 3), (8, 8), (16, 16)])
@pytest.mark.parametrize("fill", [*FILLS, "max_min"])
def test_gate_mul_equals_python_integers(bits, fill):
    """``x[n, c, i, j] · gate[n, c]`` element by element; within ``fixed.product_bits``."""
    rng = np.random.default_rng(sum(bits))
    x_fill, g_fill = (fill, fill) if fill != "max_min" else ("all_max", "all_min")
    x = _codes(rng, (2, 3, 4, 5), bits[0], x_fill)
    gate = _codes(rng, (2, 3, 1, 1), bits[1], g_fill)
    got = reference.gate_mul(x, gate)
    want = [
        [[[int(x[b, c, i, j]) * int(gate[b, c, 0, 0]) for j in range(5)] for i in range(4)]
         for c in range(3)]
        for b in range(2)
    ]  # fmt: skip
    assert got.dtype == np.int64 and got.tolist() == want
    assert fixed.code_bits(got) <= fixed.product_bits(*bits)


def test_width_bounds_equal_brute_force():
    """``window_sum_bits`` and ``product_bits`` are the exact widths of every sum/product
    (brute force over every code for small widths, the extremes up to 16 bits)."""
    for a in range(2, 7):
        codes_a = range(-(1 << (a - 1)), 1 << (a - 1))
        for area in (1, 2, 3, 5, 9):
            sums = [area * lo for lo in (min(codes_a), max(codes_a))]
            assert fixed.window_sum_bits(a, area) == fixed.code_bits(np.array(sums))
        for b in range(2, 7):
            codes_b = range(-(1 << (b - 1)), 1 << (b - 1))
            products = np.array([x * y for x in codes_a for y in codes_b])
            assert fixed.product_bits(a, b) == fixed.code_bits(products)
    for bits in range(2, 17):
        assert fixed.product_bits(bits, bits) == 2 * bits  # (-2**(b-1))**2 = 2**(2b-2)
        assert fixed.window_sum_bits(bits, 9) == bits + 4  # 9·(-2**(b-1)) needs 4 more bits
        assert fixed.window_sum_bits(bits, 4) == bits + 2  # -2**(b+1) fits b + 2 exactly


def test_sum_pool_and_gate_mul_refuse_what_they_do_not_define():
    x = np.zeros((1, 2, 3, 3), np.int64)
    with pytest.raises(ValueError, match="window"):
        reference.sum_pool(x, (4, 1), (1, 1))
    with pytest.raises(ValueError, match="kernel"):
        reference.sum_pool(x, (0, 1), (1, 1))
    with pytest.raises(ValueError, match=r"\[N, C, 1, 1\]"):
        reference.gate_mul(x, np.zeros((1, 2, 3, 1), np.int64))
    with pytest.raises(ValueError, match=r"\[N, C, 1, 1\]"):
        reference.gate_mul(x, np.zeros((1, 3, 1, 1), np.int64))
