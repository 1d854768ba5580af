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
