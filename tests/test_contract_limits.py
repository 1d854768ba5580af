"""DESIGN.md rule 9's limits, enforced by the one load check (``check_contract``).

Each test first builds the network an independent check found computed wrong or agreed on
by wrapping alike (issue 18), then demands the named refusal; in-contract edge cases
(padding >= kernel, a 16-bit weight of -32768, the tightest accumulator) are accepted and
computed exactly by the reference, qonnx and onnxruntime.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from graph_ops import Graph, concat_ir, gate_ir, reshape_ir, sum_pool_ir
from graph_ops import images as graph_images
from onnx import numpy_helper
from residual import images as residual_images
from residual import residual_ir

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.export.lower_standard import lower_to_standard_onnx, run_onnxruntime
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import (
    MAX_PRODUCT_BITS,
    FixedType,
    RequantParams,
    acc_bits_needed,
    adder_acc_bits,
    check_requant_limits,
    code_bits,
    join_add,
    mul_acc_bits,
    window_sum_bits,
)
from adderflow.quant.spec import ComputeLayer, FlattenLayer, PoolLayer, QuantizedNetwork
from adderflow.sim.executor import check_contract, output_name, run_qonnx, run_reference
from adderflow.sim.ops.int_add import sum_bits


def one_layer(
    x_bits: int,
    weight: np.ndarray,
    *,
    kind: str = "adder",
    pads=(0, 0, 0, 0),
    acc_bits: int | None = None,
    m=None,
    b=None,
    shift: int = 0,
    out_bits: int = 16,
    shape=(1, 1, 1),
    w_bits: int | None = None,
) -> onnx.ModelProto:
    """input Quant → one conv (or dense for a 2-D weight) → Requant, frac 0."""
    t = FixedType(x_bits, 0)
    w_type = t if kind == "adder" else FixedType(w_bits or x_bits, 0)
    terms = int(np.prod(weight.shape[1:]))
    if acc_bits is None:
        acc_bits = (
            adder_acc_bits(x_bits, terms)
            if kind == "adder"
            else mul_acc_bits(x_bits, w_type.bits, terms)
        )
    out = weight.shape[0]
    m = np.ones(out, np.int64) if m is None else np.asarray(m, np.int64)
    b = np.zeros(out, np.int64) if b is None else np.asarray(b, np.int64)
    layers: list = []
    if weight.ndim == 2:
        layers.append(FlattenLayer("flat"))
    layers.append(
        ComputeLayer("layer", kind, weight.astype(np.int64), t, w_type, acc_bits,
                     RequantParams(m, b, shift), FixedType(out_bits, 0), False, (1, 1), tuple(pads))
    )  # fmt: skip
    return build_qonnx(QuantizedNetwork(t, shape, tuple(layers)))


def codes_everywhere(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The output codes, demanded equal from the reference, qonnx and onnxruntime."""
    check_contract(model)
    name = output_name(model)
    ref = run_reference(model, x)[name]
    np.testing.assert_array_equal(run_qonnx(model, x)[name], ref)
    lowered = run_onnxruntime(lower_to_standard_onnx(model), x)[name]
    np.testing.assert_array_equal(lowered, ref)
    return ref


# --- padding >= kernel (rule 9) -----------------------------------------------------------


def test_padding_at_least_kernel_is_in_contract():
    """x=3, w=2, k=1, pad=1: the border sees only padding, |0 - 2| (issue 18, item 1)."""
    model = one_layer(4, np.full((1, 1, 1, 1), 2), pads=(1, 1, 1, 1))
    out = codes_everywhere(model, np.full((1, 1, 1, 1), 3.0, np.float32))
    np.testing.assert_array_equal(out[0, 0], [[-2, -2, -2], [-2, -1, -2], [-2, -2, -2]])


def test_padding_beyond_kernel_on_one_side():
    model = one_layer(3, np.array([[[[1, -2]]]]), pads=(3, 0, 0, 2), shape=(1, 2, 2))
    x = np.array([[[[1, 2], [3, -4]]]], np.float32)
    out = codes_everywhere(model, x)
    assert out.shape == (1, 1, 5, 3)
    assert np.all(out[0, 0, :3] == -3)  # rows of padding only: -(|0-1| + |0+2|)


# --- accumulators hold rule 2's bound ------------------------------------------------------


@pytest.mark.parametrize("kind", ["adder", "mul"])
def test_accumulator_narrower_than_the_bound_is_refused(kind):
    weight = np.full((1, 1, 3, 3), -8 if kind == "adder" else 7)
    needed = acc_bits_needed(kind, 4, weight)
    model = one_layer(4, weight, kind=kind, acc_bits=needed - 1, shape=(1, 3, 3))
    op = "AdderConv" if kind == "adder" else "IntConv"
    with pytest.raises(QuantizationError, match=rf"node 'layer' \({op}\): out_bits {needed - 1}"):
        check_contract(model)
    # The exact bound itself is accepted, and the extremes it was derived for reach it.
    exact = one_layer(4, weight, kind=kind, acc_bits=needed, shape=(1, 3, 3))
    x = np.full((1, 1, 3, 3), 7.0 if kind == "adder" else -8.0, np.float32)
    acc = run_reference(exact, x)["layer_acc"]
    assert code_bits(acc) == needed


def test_acc_bits_needed_never_exceeds_rule_2():
    rng = np.random.default_rng(0)
    for bits in range(2, 17):
        for terms in (1, 3, 9, 75):
            lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
            for w in (rng.integers(lo, hi + 1, (3, terms)), np.full((1, terms), lo)):
                assert acc_bits_needed("adder", bits, w) <= adder_acc_bits(bits, terms)
                assert acc_bits_needed("mul", bits, w) <= mul_acc_bits(bits, bits, terms)
    # One term: all-min weight against the max input is rule 2's bound itself.
    assert acc_bits_needed("adder", 16, np.full((1, 1), -32768)) == adder_acc_bits(16, 1)


# --- requantization widths -----------------------------------------------------------------


def test_42_bit_multiplier_is_refused_not_wrapped_alike():
    """A 42-bit M: the reference, qonnx and onnxruntime would all wrap int64 the same way."""
    weight = np.full((1, 1, 3, 3), 5)
    model = one_layer(8, weight, m=[(1 << 41) - 1], shape=(1, 3, 3))
    with pytest.raises(QuantizationError, match=r"node 'layer_requant' \(Requant\): acc·M \+ B"):
        check_contract(model)


def test_product_past_2_53_is_refused():
    """|acc·M + B| past 2**53: the float64 lowering would round it."""
    model = one_layer(8, np.full((1, 1, 1, 1), 3), b=[1 << 53])
    with pytest.raises(QuantizationError, match=r"needs 55 bits .* limit is 52 bits"):
        check_contract(model)


def test_largest_product_in_contract_is_exact_everywhere():
    """|acc·M + B| just inside the limit: the reference, qonnx and onnxruntime agree."""
    weight = np.full((1, 1, 1, 1), -128)
    acc_bits = adder_acc_bits(8, 1)
    m_max = ((1 << (MAX_PRODUCT_BITS - 1)) - 1 - 3) >> (acc_bits - 1)
    model = one_layer(8, weight, m=[m_max], b=[3], shift=40, out_bits=16)
    check_requant_limits(acc_bits, np.array([m_max]), np.array([3]), 40, "probe")
    x = np.array([[[[127.0]]], [[[-128.0]]], [[[0.0]]]], np.float32)
    codes_everywhere(model, x)


def test_negative_and_huge_shifts_are_refused():
    for shift, match in ((-1, "shift -1 is outside 0..40"), (41, "shift 41 is outside")):
        model = one_layer(4, np.ones((1, 1, 1, 1)), shift=0)
        requant = next(n for n in model.graph.node if n.op_type == "Requant")
        next(a for a in requant.attribute if a.name == "shift").i = shift
        with pytest.raises(QuantizationError, match=rf"node 'layer_requant' \(Requant\): {match}"):
            check_contract(model)


def test_wide_requant_output_hidden_behind_a_pool_is_refused():
    """Requant out_bits 40 feeding a max pool whose out_bits claims 8 (issue 17, item 6)."""
    t = FixedType(4, 0)
    conv = ComputeLayer("c", "adder", np.ones((1, 1, 1, 1), np.int64), t, t, 6,
                        RequantParams(np.ones(1, np.int64), np.zeros(1, np.int64), 0),
                        FixedType(8, 0), False)  # fmt: skip
    unit = RequantParams(np.ones(1, np.int64), np.zeros(1, np.int64), 0)
    dense = ComputeLayer("d", "mul", np.ones((1, 4), np.int64), FixedType(8, 0),
                         FixedType(4, 0), 16, unit, FixedType(16, 0), False)  # fmt: skip
    net = QuantizedNetwork(
        t, (1, 4, 4), (conv, PoolLayer("p", (2, 2), (2, 2)), FlattenLayer("f"), dense)
    )
    model = build_qonnx(net)
    requant = next(n for n in model.graph.node if n.name == "c_requant")
    next(a for a in requant.attribute if a.name == "out_bits").i = 40
    with pytest.raises(QuantizationError, match=r"node 'c_requant' \(Requant\): out_bits 40 .*'p'"):
        check_contract(model)
    # A pool narrower than an in-range input is refused too (the width would be lost).
    next(a for a in requant.attribute if a.name == "out_bits").i = 8
    pool = next(n for n in model.graph.node if n.name == "p")
    next(a for a in pool.attribute if a.name == "out_bits").i = 4
    with pytest.raises(QuantizationError, match=r"node 'p' \(IntMaxPool\): out_bits 4 is narrower"):
        check_contract(model)


# --- the input quantizer (rule 5) ----------------------------------------------------------


@pytest.mark.parametrize(
    "attr,value",
    [("rounding_mode", "FLOOR"), ("rounding_mode", "HALF_UP"), ("narrow", 1), ("signed", 0)],
)
def test_input_quant_attributes_other_than_the_contract_are_refused(attr, value):
    """fixed<4,1>, x = -3.25: FLOOR would give -7 where the contract gives -6 (issue 18 item 5)."""
    model = one_layer(4, np.ones((1, 1, 1, 1)))
    quant = next(n for n in model.graph.node if n.op_type == "Quant")
    for a in quant.attribute:
        if a.name == attr:
            quant.attribute.remove(a)
            break
    quant.attribute.append(onnx.helper.make_attribute(attr, value))
    with pytest.raises(
        QuantizationError, match=rf"node 'input_quant' \(Quant\): {attr}={value} is not"
    ):
        check_contract(model)


def test_input_quant_rounds_half_even_everywhere():
    model = one_layer(4, np.zeros((1, 1, 1, 1)), shape=(1, 1, 1))
    x = np.array([-3.25, -2.5, 2.5, 0.5, 1.5], np.float32).reshape(-1, 1, 1, 1) / 2.0
    out = codes_everywhere(model, x)  # frac 0: codes -2 (−1.625), -1, 1, 0, 1 → -|x - 0|
    np.testing.assert_array_equal(out.ravel(), [-2, -1, -1, 0, -1])


# --- widths ---------------------------------------------------------------------------------


def test_code_bits_knows_the_most_negative_code():
    assert code_bits(np.array([-32768])) == 16
    assert code_bits(np.array([32767])) == 16
    assert code_bits(np.array([32768])) == 17
    assert code_bits(np.array([-1, 0])) == 1
    assert code_bits(np.array([-2, 1])) == 2


def test_join_add_aligns_scales_by_left_shifts():
    """Rule 10: 3·2^-1 + 5·2^-3 = 17·2^-3, exactly."""
    total, frac = join_add(np.array([3]), 1, np.array([5]), 3)
    assert frac == 3 and total.tolist() == [17]


def test_rule_9_is_in_the_docs():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "ir.md").read_text()
    for needle in ("Rule 9", "p >= k", "2**53", "Rule 10", "rounding_mode"):
        assert needle in text, needle


def test_multiplier_weight_values_annotated_wider_are_refused():
    model = one_layer(4, np.full((1, 1, 1, 1), 9), kind="mul", w_bits=4)
    with pytest.raises(QuantizationError, match="has values outside INT4"):
        check_contract(model)


# --- residual add (rule 10): aligned by left shifts, added exactly, then rule 4 ------------


def _join_node(model: onnx.ModelProto) -> onnx.NodeProto:
    return next(n for n in model.graph.node if n.op_type == "IntAdd")


def _set_attr(node: onnx.NodeProto, name: str, value) -> None:
    attr = next(a for a in node.attribute if a.name == name)
    if isinstance(value, list):
        del attr.ints[:]
        attr.ints.extend(value)
    else:
        attr.i = value


@pytest.mark.parametrize("bits", [(2, 2), (8, 4), (16, 16)])
@pytest.mark.parametrize("shifts", [(0, 0), (0, 4), (3, 0)])
def test_residual_add_at_its_bound_is_exact_everywhere(bits, shifts):
    """The tightest ``out_bits`` (the exact sum bound) is accepted, and all-max / all-min
    inputs (whose branch saturates at its own extreme) give the same codes everywhere."""
    for fill in ("max", "min"):
        model = residual_ir(*bits, shifts, extreme=fill, seed=sum(bits))
        ref = codes_everywhere(model, residual_images(bits[0], fill=fill))
        assert ref.shape == (4, 2, 3, 3)
    codes_everywhere(residual_ir(*bits, shifts, seed=1), residual_images(bits[0]))


def test_residual_sum_narrower_than_its_bound_is_refused():
    needed = sum_bits([8, 4], (0, 4))
    model = residual_ir(8, 4, (0, 4), add_bits=needed - 1)
    with pytest.raises(QuantizationError, match=rf"node 'join' \(IntAdd\): out_bits {needed - 1}"):
        check_contract(model)


@pytest.mark.parametrize(
    "shifts, message",
    [
        ([1, 2], "the finer operand's shift must be 0"),
        ([0, -1], r"not 2 values in 0\.\.40"),
        ([0, 41], r"not 2 values in 0\.\.40"),
        ([0], r"not 2 values in 0\.\.40"),
    ],
)
def test_residual_shifts_outside_rule_10_are_refused(shifts, message):
    model = residual_ir(4, 4, (0, 0), add_bits=40)
    _set_attr(_join_node(model), "shifts", shifts)
    with pytest.raises(QuantizationError, match=rf"node 'join' \(IntAdd\): shifts .*{message}"):
        check_contract(model)


@pytest.mark.parametrize("bits", [1, 53])
def test_residual_out_bits_outside_the_contract_is_refused(bits):
    model = residual_ir(4, 4, (0, 0))
    _set_attr(_join_node(model), "out_bits", bits)
    message = rf"node 'join' \(IntAdd\): out_bits {bits} is outside 2\.\.52"
    with pytest.raises(QuantizationError, match=message):
        check_contract(model)


def test_residual_operand_wider_than_codes_is_refused():
    """A requantized operand of 20 bits is no code tensor (rule 9's 2..16-bit codes)."""
    model = residual_ir(4, 4, (0, 0), add_bits=30)
    requant = next(n for n in model.graph.node if n.name == "branch_requant")
    _set_attr(requant, "out_bits", 20)
    with pytest.raises(
        QuantizationError, match=r"node 'join' \(IntAdd\): operand .*branch_requant.*width 20"
    ):
        check_contract(model)


def test_residual_operands_of_different_shapes_are_refused():
    model = residual_ir(4, 4, (0, 0))
    join = _join_node(model)
    model.graph.value_info.append(
        onnx.helper.make_tensor_value_info("wide", onnx.TensorProto.INT64, [1, 2, 3, 4])
    )
    join.input[1] = "wide"
    with pytest.raises(QuantizationError, match=r"node 'join' \(IntAdd\): operands .* differ"):
        check_contract(model)


# --- grouped convolution: K per group, group divides, weight covers the input ------------


def _grouped_node(model: onnx.ModelProto, name: str) -> onnx.NodeProto:
    return next(n for n in model.graph.node if n.name == name)


@pytest.mark.parametrize("bits", [2, 8, 16])
def test_grouped_accumulators_at_their_per_group_bound_are_exact_everywhere(bits):
    """Each conv's ``out_bits`` is exactly what its ``C/group·kh·kw`` terms reach: accepted,
    and all-max / all-min images give the same codes in the reference, qonnx and ORT."""
    from grouped import as_ir, grouped_net
    from grouped import images as grouped_images

    for fill in ("max", "min"):
        model = as_ir(grouped_net(bits, seed=bits, extreme=fill))
        codes_everywhere(model, grouped_images(bits, 4, fill=fill))


@pytest.mark.parametrize("name, kind", [("stem", "mul"), ("dw", "adder"), ("gc", "adder")])
def test_grouped_accumulator_narrower_than_its_per_group_bound_is_refused(name, kind):
    from grouped import as_ir, grouped_net

    net = grouped_net(8, seed=1)
    layer = next(layer for layer in net.layers if layer.name == name)
    needed = acc_bits_needed(kind, 8, layer.weight)
    model = as_ir(net)
    _set_attr(_grouped_node(model, name), "out_bits", needed - 1)
    message = rf"node '{name}' \(\w+Conv\): out_bits {needed - 1} cannot hold"
    with pytest.raises(QuantizationError, match=message):
        check_contract(model)


@pytest.mark.parametrize(
    "name, group, message",
    [
        ("dw", 0, "group must be an integer >= 1, got 0"),
        ("gc", 4, "group 4 does not divide its 6 output channels"),
        ("dw", 4, r"weight \[8, 1, 3, 3\] with group 4 reads 4 input channels, its input .* 8"),
        ("stem", 1, r"weight \[8, 2, 3, 3\] with group 1 reads 2 input channels, .* has 4"),
    ],
)
def test_grouped_conv_geometry_outside_onnx_conv_is_refused(name, group, message):
    from grouped import as_ir, grouped_net

    model = as_ir(grouped_net(8, seed=2))
    _set_attr(_grouped_node(model, name), "group", group)
    with pytest.raises(QuantizationError, match=rf"node '{name}' \(\w+Conv\): {message}"):
        check_contract(model)


def test_grouped_binary_conv_geometry_is_checked():
    from grouped import as_ir, grouped_binary_net

    model = as_ir(grouped_binary_net(seed=3))
    check_contract(model)
    _set_attr(_grouped_node(model, "xd"), "group", 4)
    with pytest.raises(QuantizationError, match=r"node 'xd' \(XnorConv\): group 4 does not divide"):
        check_contract(model)


# --- max pool pads: each below the kernel's side (ONNX), padded positions never win ---------


@pytest.mark.parametrize(
    "pads, message",
    [
        ([3, 0, 0, 0], r"pads \[3, 0, 0, 0\] are not below the kernel \[3, 3\]"),
        ([0, 0, 1, 4], r"pads \[0, 0, 1, 4\] are not below the kernel \[3, 3\]"),
        ([-1, 0, 0, 0], r"pads \[-1, 0, 0, 0\] are not 4 values >= 0"),
        ([1, 1], r"pads \[1, 1\] are not 4 values >= 0"),
    ],
)
def test_max_pool_pads_outside_onnx_are_refused(pads, message):
    from grouped import as_ir, grouped_net

    model = as_ir(grouped_net(8, seed=4, pool_pads=(1, 1, 1, 1)))
    check_contract(model)
    _set_attr(_grouped_node(model, "pool"), "pads", pads)
    with pytest.raises(QuantizationError, match=rf"node 'pool' \(IntMaxPool\): {message}"):
        check_contract(model)


@pytest.mark.parametrize("bits", [2, 16])
def test_padded_max_pool_at_the_extremes_is_exact_everywhere(bits):
    from grouped import as_ir, grouped_net
    from grouped import images as grouped_images

    for fill in ("max", "min"):
        model = as_ir(grouped_net(bits, seed=bits, extreme=fill, pool_pads=(2, 2, 2, 2)))
        codes_everywhere(model, grouped_images(bits, 4, fill=fill))


# --- graph ops (issue #20): window sum, gate product, concatenation, reshape ------------


def _node(model: onnx.ModelProto, name: str) -> onnx.NodeProto:
    return next(n for n in model.graph.node if n.name == name)


@pytest.mark.parametrize("bits", [2, 5, 11, 16])
@pytest.mark.parametrize("geometry", [((2, 3), (1, 2)), ((3, 3), (3, 3)), ((1, 7), (2, 1))])
def test_sum_pool_at_its_bound_is_exact_everywhere(bits, geometry):
    """The tightest ``out_bits`` (``window_sum_bits``) is accepted; random, all-max and
    all-min codes give the same sums and requantized codes in the reference, qonnx and
    onnxruntime."""
    kernel, strides = geometry
    model = sum_pool_ir(bits, kernel, strides, seed=bits)
    out_bits = next(a.i for a in _node(model, "pool").attribute if a.name == "out_bits")
    assert out_bits == window_sum_bits(bits, kernel[0] * kernel[1])
    for fill in (None, "max", "min"):
        x = graph_images(bits, (2, 5, 7), fill=fill, seed=bits)
        ref = codes_everywhere(model, x)
        assert ref.shape[:2] == (4, 2)


def test_sum_pool_narrower_than_its_bound_is_refused():
    model = sum_pool_ir(8, (3, 3), (1, 1), sum_bits=window_sum_bits(8, 9) - 1)
    with pytest.raises(
        QuantizationError, match=r"node 'pool' \(IntSumPool\): out_bits 11 cannot hold its window"
    ):
        check_contract(model)


@pytest.mark.parametrize(
    "attr, value, message",
    [
        ("kernel_shape", [0, 2], r"kernel_shape \[0, 2\] is not 2 sizes >= 1"),
        ("strides", [1], r"strides \[1\] are not 2 values >= 1"),
        ("kernel_shape", [6, 2], r"window \[6, 2\] does not fit input 'input_codes'"),
        ("out_bits", 53, r"out_bits 53 is outside 2\.\.52"),
    ],
)
def test_sum_pool_geometry_and_widths_outside_the_contract_are_refused(attr, value, message):
    model = sum_pool_ir(4, (2, 2), (1, 1))
    _set_attr(_node(model, "pool"), attr, value)
    with pytest.raises(QuantizationError, match=rf"node 'pool' \(IntSumPool\): {message}"):
        check_contract(model)


def test_sum_pool_of_a_wide_input_is_refused_naming_its_producer():
    """A window sum of 16-bit codes is 20 bits wide: no code tensor for another sum."""
    g = Graph(16, (2, 5, 7))
    acc, shape = g.sum_pool("p1", "input_codes", (2, 5, 7), (3, 3), (1, 1), 16)
    acc, _ = g.sum_pool("p2", acc, shape, (2, 2), (1, 1), 20)
    with pytest.raises(
        QuantizationError,
        match=r"node 'p2' \(IntSumPool\): input 'p1_acc' \(set by node 'p1'\) width 20 is "
        r"outside the supported range 2\.\.16",
    ):
        check_contract(g.model(acc))


@pytest.mark.parametrize("bits", [(2, 2), (3, 16), (8, 5), (16, 16)])
@pytest.mark.parametrize("squeeze", ["sum", "max"])
def test_gate_product_at_its_bound_is_exact_everywhere(bits, squeeze):
    """``out_bits = product_bits`` is accepted (the product of both lows needs all of it);
    the gate is a requantized whole-frame sum (a squeeze-excite gate) or a whole-frame max."""
    model = gate_ir(*bits, seed=sum(bits), squeeze=squeeze)
    for fill in (None, "max", "min"):
        ref = codes_everywhere(model, graph_images(bits[0], (3, 4, 5), fill=fill, seed=bits[1]))
        assert ref.shape == (4, 3, 4, 5)


def test_gate_product_all_min_reaches_its_bound():
    """x and gate both at their lowest code: the product is ``2**(a+b-2)``, ``a + b`` bits."""
    model = gate_ir(6, 6, squeeze="max")
    tensors = run_reference(model, graph_images(6, (3, 4, 5), fill="min"))
    assert np.all(tensors["gate_acc"] == 2**10) and code_bits(tensors["gate_acc"]) == 12


def test_gate_product_narrower_than_its_bound_is_refused():
    model = gate_ir(8, 5, mul_bits=12)
    with pytest.raises(
        QuantizationError,
        match=r"node 'gate' \(IntMul\): out_bits 12 cannot hold its products: 8- and 5-bit "
        r"operands reach 13 bits",
    ):
        check_contract(model)


def test_gate_of_the_wrong_shape_is_refused():
    model = gate_ir(4, 4)
    _node(model, "gate").input[1] = "input_codes"  # a full map is no [N, C, 1, 1] gate
    with pytest.raises(QuantizationError, match=r"node 'gate' \(IntMul\): gate 'input_codes'"):
        check_contract(model)


def test_gate_operand_wider_than_codes_is_refused_naming_its_producer():
    model = gate_ir(4, 4, mul_bits=40)
    _set_attr(_node(model, "squeeze_requant"), "out_bits", 20)
    with pytest.raises(
        QuantizationError,
        match=r"node 'gate' \(IntMul\): operand 'squeeze_out' \(set by node 'squeeze_requant'\) "
        r"width 20",
    ):
        check_contract(model)


@pytest.mark.parametrize("bits", [2, 9, 16])
def test_concat_is_exact_everywhere(bits):
    model = concat_ir(bits, seed=bits)
    for fill in (None, "max", "min"):
        ref = codes_everywhere(model, graph_images(bits, (2, 4, 5), fill=fill, seed=bits))
        assert ref.shape == (4, 4, 3, 2)


def test_concat_of_operands_of_different_widths_is_refused_naming_both():
    model = concat_ir(8, branch_bits=6)
    with pytest.raises(
        QuantizationError,
        match=r"node 'cat' \(Concat\): operands 'input_codes' \(8-bit codes, set by node "
        r"'input_quant'\) and 'branch_out' \(6-bit codes, set by node 'branch_requant'\) differ "
        r"in type",
    ):
        check_contract(model)


def test_concat_on_another_axis_is_refused():
    model = concat_ir(4)
    _set_attr(_node(model, "cat"), "axis", 2)
    with pytest.raises(QuantizationError, match=r"node 'cat' \(Concat\): axis 2: only channel"):
        check_contract(model)


@pytest.mark.parametrize("bits", [2, 7, 16])
@pytest.mark.parametrize("first", [0, -1])
def test_reshape_of_a_1d_network_is_exact_everywhere(bits, first):
    model = reshape_ir(bits, target=[first, 3, 1, 11], seed=bits)
    for fill in (None, "max", "min"):
        ref = codes_everywhere(model, graph_images(bits, (3, 11), fill=fill, seed=bits))
        assert ref.shape == (4, 3, 1, 5)


@pytest.mark.parametrize(
    "target, message",
    [
        ([3, 3, 1, 11], r"shape \[3, 3, 1, 11\] must keep the batch"),
        ([0, -1, 1, 11], r"shape \[0, -1, 1, 11\] must keep the batch"),
        ([0, 3, 1, 10], r"shape \[0, 3, 1, 10\] does not hold the 33 elements"),
    ],
)
def test_reshape_outside_the_contract_is_refused(target, message):
    model = reshape_ir(4, target=target)
    with pytest.raises(QuantizationError, match=rf"node 'as2d' \(Reshape\): {message}"):
        check_contract(model)


def test_reshape_by_a_computed_shape_is_refused():
    model = reshape_ir(4)
    shape = next(t for t in model.graph.initializer if t.name == "as2d_shape")
    model.graph.initializer.remove(shape)
    model.graph.input.append(
        onnx.helper.make_tensor_value_info("as2d_shape", onnx.TensorProto.INT64, [4])
    )
    with pytest.raises(ModelFormatError, match=r"node 'as2d' \(Reshape\): shape 'as2d_shape'"):
        check_contract(model)


@pytest.mark.parametrize(
    "build, requant, acc_bits",
    [
        (lambda: sum_pool_ir(16, (3, 3), (1, 1)), "pool_requant", window_sum_bits(16, 9)),
        (lambda: gate_ir(16, 16, squeeze="max"), "gate_requant", 32),
        (lambda: residual_ir(16, 16, (0, 0)), "join_requant", sum_bits([16, 16], (0, 0))),
    ],
)
def test_requant_after_a_graph_op_is_bounded_by_its_width(build, requant, acc_bits):
    """A requantization of a window sum, a gate product or a residual add is accepted and
    its rule-9 product bound is taken at that producer's ``out_bits``: ``M = 2**(51 -
    acc_bits)`` keeps ``|acc·M + B|`` within 52 bits, twice that is refused naming the node."""
    model = build()
    node = _node(model, requant)
    init = next(t for t in model.graph.initializer if t.name == node.input[1])
    shape = numpy_helper.to_array(init).shape
    for m_log2 in (MAX_PRODUCT_BITS - acc_bits - 1, MAX_PRODUCT_BITS - acc_bits):
        m = np.full(shape, 1 << m_log2, np.int64)
        init.CopyFrom(numpy_helper.from_array(m, node.input[1]))
        if m_log2 < MAX_PRODUCT_BITS - acc_bits:
            check_contract(model)  # |acc·M| <= 2**50, plus a small bias: 52 bits
            continue
        with pytest.raises(
            QuantizationError,
            match=rf"node '{requant}' \(Requant\): acc·M \+ B needs 53 bits for {acc_bits}-bit",
        ):
            check_contract(model)
