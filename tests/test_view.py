"""The layer view (``sim/view.py``): the one reading of the IR every backend consumes.

Checked against the reference executor on random in-contract networks (tests/fuzz.py): every
tensor's view shape is the shape the reference computes, every activation's view width is
the width the contract gives it, and the ±1 tensors are exactly those the executor's
binary layers read.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from fuzz import random_cases
from onnx import helper

from adderflow.errors import ModelFormatError
from adderflow.sim.executor import run_reference
from adderflow.sim.view import read_view

CASES = random_cases(seed=11, count=60, allow_violations=False)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"net{CASES.index(c)}")
def test_shapes_are_the_reference_shapes(case):
    view = read_view(case.model)
    tensors = run_reference(case.model, case.images)
    for name, value in tensors.items():
        if name in view.tensors and not view.tensors[name].is_const:
            assert view.tensors[name].static_shape() == value.shape, name


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"net{CASES.index(c)}")
def test_widths_hold_every_code(case):
    """Every activation code the reference computes fits the view's width for it."""
    view = read_view(case.model)
    tensors = run_reference(case.model, case.images)
    for node in view.nodes:
        if not node.is_adderflow:
            continue
        out = node.out
        assert out.bits is not None and out.producer == node.label
        codes = tensors[out.name]
        assert codes.min() >= -(2 ** (out.bits - 1)) and codes.max() < 2 ** (out.bits - 1)
        if out.bipolar:
            assert set(np.unique(codes)) <= {-1, 1}
        for weight in node.inputs[1:]:
            if weight.is_const and weight.datatype and weight.datatype.startswith("INT"):
                assert weight.value_bits <= weight.bits


def test_bipolar_follows_thresholds_through_pools():
    seen = 0
    for case in CASES:
        view = read_view(case.model)
        for node in view.nodes:
            if node.op in ("XnorConv", "XnorGemm"):
                assert node.x.bipolar and node.x.bits == 2, node.label
                seen += 1
            elif node.is_adderflow and node.inputs[1:] and node.x.bits is not None:
                assert not node.x.bipolar, node.label
    assert seen, "the sample must hold binary layers"


def test_errors_name_the_node():
    node = helper.make_node("Relu", ["x"], ["y"], name="act")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])],
    )
    view = read_view(helper.make_model(graph))
    (relu,) = view.nodes
    assert view.tensors["y"].shape == (1, 4) and view.input_bits is None
    with pytest.raises(ModelFormatError, match="node 'act' \\(Relu\\) lacks attribute 'alpha'"):
        relu.attr("alpha")
    assert relu.attr("alpha", 0.5) == 0.5
    with pytest.raises(ModelFormatError, match="node 'act' \\(Relu\\): input 'x' is not an init"):
        relu.const(0)


# --- graph ops (issue #20): widths through Concat and Reshape, shapes of the new ops -------


def _bipolar_concat(second: str = "threshold"):
    """Two ±1 branches (window sums thresholded) concatenated, then reshaped; with
    ``second="requant"`` the second branch is 2-bit codes instead (same width, not ±1)."""
    from graph_ops import Graph

    g = Graph(4, (2, 3, 3))
    outs = []
    for name, kind in (("a", "threshold"), ("b", second)):
        acc, shape = g.sum_pool(name, "input_codes", (2, 3, 3), (1, 1), (1, 1), 4)
        if kind == "threshold":
            th = g.init(f"{name}_th", np.array([0, 1], np.int64))
            direction = g.init(f"{name}_dir", np.array([1, -1], np.int64))
            outs.append(
                g.node("BinaryThreshold", [acc, th, direction], f"{name}_out", shape, "BIPOLAR",
                       f"{name}_threshold")  # fmt: skip
            )
        else:
            outs.append(g.requant(name, acc, shape, 2, np.random.default_rng(0)))
    datatype = "BIPOLAR" if second == "threshold" else "INT2"
    cat = g.node("Concat", outs, "cat_out", (4, 3, 3), datatype, "cat", axis=1)
    dims = g.init("flat_shape", np.array([0, 4, 1, 9], np.int64))
    return g.model(g.node("Reshape", [cat, dims], "flat_out", (4, 1, 9), datatype, "flat"))


def test_concat_and_reshape_keep_bipolar_codes_bipolar():
    from adderflow.sim.executor import check_contract

    model = _bipolar_concat()
    check_contract(model)
    view = read_view(model)
    for name in ("cat_out", "flat_out"):
        assert view.tensors[name].bipolar and view.tensors[name].bits == 2, name
    assert view.tensors["cat_out"].producer == "cat"  # two producers: the concatenation
    codes = run_reference(model, np.zeros((2, 2, 3, 3), np.float32))["flat_out"]
    assert codes.shape == (2, 4, 1, 9) and set(np.unique(codes)) <= {-1, 1}


def test_concat_of_bipolar_and_2_bit_codes_is_refused_naming_both():
    from adderflow.errors import QuantizationError
    from adderflow.sim.executor import check_contract

    model = _bipolar_concat(second="requant")
    view = read_view(model)
    assert not view.tensors["cat_out"].bipolar and view.tensors["cat_out"].bits == 2
    with pytest.raises(
        QuantizationError,
        match=r"node 'cat' \(Concat\): operands 'a_out' \(±1 codes, set by node 'a_threshold'\) "
        r"and 'b_out' \(2-bit codes, set by node 'b_requant'\) differ in type",
    ):
        check_contract(model)


def test_graph_op_shapes_and_widths_are_the_references():
    """Every tensor of the hand-built graph-op models: the view's shape is the reference's,
    its width holds every code, and a reshape or concatenation of one producer's codes keeps
    that producer's width and name."""
    from graph_ops import concat_ir, gate_ir, images, reshape_ir, sum_pool_ir

    cases = [
        (sum_pool_ir(9, (2, 3), (2, 1)), 9, (2, 5, 7)),
        (gate_ir(7, 3), 7, (3, 4, 5)),
        (concat_ir(5, branch=False), 5, (2, 4, 5)),
        (reshape_ir(6), 6, (3, 11)),
    ]
    for model, bits, shape in cases:
        view = read_view(model)
        for fill in (None, "max", "min"):
            tensors = run_reference(model, images(bits, shape, n=2, fill=fill))
            for name, value in tensors.items():
                t = view.tensors.get(name)
                if t is None or t.is_const:
                    continue
                assert t.static_shape()[1:] == value.shape[1:], name
                if t.bits is not None and value.dtype == np.int64:
                    lo, hi = -(2 ** (t.bits - 1)), 2 ** (t.bits - 1) - 1
                    assert value.min() >= lo and value.max() <= hi, name
    cat = read_view(concat_ir(5, branch=False)).tensors["cat_out"]
    assert (cat.bits, cat.producer, cat.bipolar) == (5, "input_quant", False)
    as2d = read_view(reshape_ir(6)).tensors["as2d_out"]
    assert (as2d.bits, as2d.producer) == (6, "input_quant")
