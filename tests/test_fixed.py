"""The numeric contract at its extremes: rounding, saturation, accumulator widths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adderflow import fixed
from adderflow.errors import QuantizationError
from adderflow.fixed import FixedType


def test_round_shift_is_half_to_even_on_ties():
    v = np.array([1, 3, 5, 7, -1, -3, -5, -7, 2, 6, -2, -6], dtype=np.int64)
    # v / 2: 0.5→0, 1.5→2, 2.5→2, 3.5→4, -0.5→0, -1.5→-2, -2.5→-2, -3.5→-4
    expected = [0, 2, 2, 4, 0, -2, -2, -4, 1, 3, -1, -3]
    assert fixed.round_shift(v, 1).tolist() == expected


@given(
    st.lists(st.integers(-(2**45), 2**45), min_size=1, max_size=50),
    st.integers(0, 40),
)
@settings(max_examples=200, deadline=None)
def test_round_shift_matches_exact_rational_rounding(values, shift):
    from fractions import Fraction

    got = fixed.round_shift(np.array(values, dtype=np.int64), shift).tolist()
    expected = [round(Fraction(v, 2**shift)) for v in values]  # Python rounds half to even
    assert got == expected


def test_quantize_rounds_half_even_and_saturates():
    t = FixedType(4, 1)  # codes -8..7, step 0.5
    x = np.array([0.25, 0.75, -0.25, -0.75, 100.0, -100.0, 3.5, -4.0])
    assert fixed.quantize(x, t).tolist() == [0, 2, 0, -2, 7, -8, 7, -8]


@pytest.mark.parametrize("bits", [2, 3, 8, 16])
def test_fixed_type_range(bits):
    t = FixedType(bits, 0)
    assert (t.qmin, t.qmax) == (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


@pytest.mark.parametrize("bits", [0, 1, 17, 40, -3])
def test_impossible_bit_widths_are_refused(bits):
    with pytest.raises(QuantizationError, match=str(bits)):
        fixed.check_bits(bits)


@pytest.mark.parametrize("bits", [2, 4, 8, 12, 16])
@pytest.mark.parametrize("terms", [1, 2, 3, 9, 144, 1000, 4608])
def test_adder_accumulator_holds_the_extremes(bits, terms):
    """All codes at max against weights at min (and vice versa) is the worst case."""
    t = FixedType(bits, 0)
    acc_bits = fixed.adder_acc_bits(bits, terms)
    acc_t = FixedType(acc_bits, 0)
    for xv, wv in ((t.qmax, t.qmin), (t.qmin, t.qmax)):
        worst = -terms * abs(xv - wv)
        assert worst == -fixed.adder_acc_bound(bits, terms)
        assert acc_t.qmin <= worst <= acc_t.qmax
    # and the formula is tight: two bits fewer never holds the bound
    if terms > 1:
        smaller = FixedType(acc_bits - 2, 0)
        assert -fixed.adder_acc_bound(bits, terms) < smaller.qmin


@pytest.mark.parametrize("bits", [2, 8, 16])
@pytest.mark.parametrize("terms", [1, 4, 9, 144])
def test_mul_accumulator_holds_the_extremes(bits, terms):
    acc_t = FixedType(fixed.mul_acc_bits(bits, bits, terms), 0)
    t = FixedType(bits, 0)
    assert acc_t.qmin <= terms * t.qmin * t.qmax
    assert terms * t.qmin * t.qmin <= acc_t.qmax


def test_signed_bits():
    assert [fixed.signed_bits(v) for v in (0, 1, 2, 3, 4, 127, 128)] == [1, 2, 3, 3, 4, 8, 9]


def test_requantize_saturates_and_fuses_relu():
    acc = np.array([[-1000, -3, 3, 1000]], dtype=np.int64).reshape(1, 1, 4)
    out = FixedType(8, 0)
    one = np.array([1]), np.array([0])
    assert fixed.requantize(acc, *one, 0, out).ravel().tolist() == [-128, -3, 3, 127]
    assert fixed.requantize(acc, *one, 0, out, relu=True).ravel().tolist() == [0, 0, 3, 127]


def test_requantize_is_per_channel():
    acc = np.full((2, 3, 1, 1), 10, dtype=np.int64)
    got = fixed.requantize(acc, np.array([1, 2, 3]), np.array([0, 1, -1]), 1, FixedType(8, 0))
    # (10*1+0)/2=5, (10*2+1)/2=10.5→10, (10*3-1)/2=14.5→14
    assert got[:, :, 0, 0].tolist() == [[5, 10, 14], [5, 10, 14]]


def test_fit_requant_approximates_the_affine_map():
    rng = np.random.default_rng(0)
    gain = rng.uniform(-0.3, 0.3, 16)
    offset = rng.uniform(-20, 20, 16)
    rq = fixed.fit_requant(gain, offset, acc_bits=20)
    assert np.abs(rq.multiplier).max() < 2**15
    assert np.abs(rq.multiplier).max() >= 2**13  # the shift uses the multiplier's range
    acc = rng.integers(-(2**19), 2**19, size=(64, 16, 1, 1))
    got = fixed.requantize(acc, rq.multiplier, rq.bias, rq.shift, FixedType(24, 0))
    want = np.round(acc * gain.reshape(1, -1, 1, 1) + offset.reshape(1, -1, 1, 1))
    assert np.abs(got - want).max() <= 1 + 2**19 * 2.0**-rq.shift


def test_fit_requant_refuses_products_beyond_float64_exactness():
    with pytest.raises(QuantizationError, match="layer7"):
        fixed.fit_requant(np.array([2.0**40]), np.array([0.0]), acc_bits=30, layer="layer7")


def test_fit_requant_refuses_non_finite():
    with pytest.raises(QuantizationError, match="non-finite"):
        fixed.fit_requant(np.array([np.nan]), np.array([0.0]), acc_bits=8)


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
def test_frac_for_range_never_clips(bits):
    for peak in (1e-3, 0.3, 1.0, 7.0, 250.0):
        t = FixedType(bits, fixed.frac_for_range(peak, bits))
        assert fixed.quantize(np.array([peak, -peak]), t).tolist() == [
            round(peak * 2**t.frac),
            -round(peak * 2**t.frac),
        ]
        assert abs(peak * 2**t.frac) <= t.qmax
        assert abs(peak * 2 ** (t.frac + 1)) > t.qmax  # the largest such scale


@pytest.mark.parametrize("shift_only", [False, True])
def test_fit_requant_keeps_each_channel_centre(shift_only):
    """At acc == centre the output is the offset, however coarse M is."""
    gain = np.array([0.013, -0.4, 0.07])
    center = np.array([-5000.0, 120.0, -77.0])
    offset = np.array([3.0, -2.0, 10.0])
    rq = fixed.fit_requant(gain, offset, acc_bits=20, shift_only=shift_only, center=center)
    acc = center.astype(np.int64).reshape(1, 3)
    out = fixed.requantize(acc, rq.multiplier, rq.bias, rq.shift, FixedType(8, 0))
    assert out.ravel().tolist() == [3, -2, 10]
    if shift_only:
        m = np.abs(rq.multiplier)
        assert np.all((m & (m - 1)) == 0)
