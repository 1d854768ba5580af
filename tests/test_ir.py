"""The QONNX IR: built from integer data, run by the reference, by qonnx, and by torch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from networks import images, random_network
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from adderflow.errors import ModelFormatError
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import FixedType
from adderflow.quant.integer_model import run_integer_model
from adderflow.quant.spec import ComputeLayer
from adderflow.sim.compare import compare
from adderflow.sim.executor import load_model, run_qonnx, run_reference


@pytest.mark.parametrize("bits", [2, 4, 8, 12, 16])
@pytest.mark.parametrize("geometry", [(3, 1, 1), (1, 1, 0), (3, 2, 1), (5, 1, 2)])
def test_three_executions_agree_exactly(bits, geometry):
    k, stride, pad = geometry
    net = random_network(bits, seed=bits + k, k=k, stride=stride, pad=pad)
    model = build_qonnx(net)
    x = images(bits)
    ref = run_reference(model, x)
    for other in (run_qonnx(model, x), run_integer_model(net, x)):
        result = compare(model, ref, other)
        assert result.first is None, result.first
        assert result.mismatches == 0 and result.samples == len(x)
        assert len(result.layers) >= 10  # every layer was compared, not only the output


@pytest.mark.parametrize("extreme", ["max", "min"])
@pytest.mark.parametrize("bits", [2, 8, 16])
def test_extreme_weights_and_inputs(bits, extreme):
    net = random_network(bits, seed=1, extreme=extreme)
    model = build_qonnx(net)
    value = 1e6 if extreme == "max" else -1e6  # saturates the input quantizer
    x = np.full((2, 1, 8, 8), value, dtype=np.float32)
    ref = run_reference(model, x)
    assert ref["input_codes"].max() == (
        net.input_type.qmax if extreme == "max" else net.input_type.qmin
    )
    assert compare(model, ref, run_integer_model(net, x)).first is None
    assert compare(model, ref, run_qonnx(model, x)).first is None
    for layer in net.layers:
        if isinstance(layer, ComputeLayer):
            acc = ref[f"{layer.name}_acc"]
            acc_t = FixedType(layer.acc_bits, 0)
            assert acc_t.qmin <= acc.min() and acc.max() <= acc_t.qmax


def test_model_passes_onnx_checker_and_qonnx_inference(tmp_path):
    net = random_network(8)
    model = build_qonnx(net)
    onnx.checker.check_model(model)
    wrapper = ModelWrapper(model).transform(InferShapes()).transform(InferDataTypes())
    assert wrapper.get_tensor_datatype("adder_acc") == DataType[f"INT{net.layers[1].acc_bits}"]
    assert wrapper.get_tensor_datatype("adder_out") == DataType["INT8"]
    assert wrapper.get_tensor_shape("pool_out") == [1, 7, 4, 4]
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    assert load_model(path).graph.node[3].domain == "adderflow"


def test_corrupting_a_weight_names_the_node():
    net = random_network(8, seed=5)
    model = build_qonnx(net)
    x = images(5)
    torch_codes = run_integer_model(net, x)
    init = next(t for t in model.graph.initializer if t.name == "adder_weight")
    w = onnx.numpy_helper.to_array(init).copy()
    w[0, 0, 1, 1] += 3
    init.CopyFrom(onnx.numpy_helper.from_array(w, "adder_weight"))
    result = compare(model, run_reference(model, x), torch_codes)
    assert result.first is not None
    assert result.first.node == "adder"
    assert result.first.tensor == "adder_acc"
    names = [d.tensor for d in result.layers]
    assert names[:3] == ["input_codes", "stem_acc", "stem_out"]
    assert all(d.mismatching == 0 for d in result.layers[:3])  # upstream of the corruption


def test_load_model_errors(tmp_path):
    with pytest.raises(ModelFormatError, match="does not exist"):
        load_model(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all \x00\xff")
    with pytest.raises(ModelFormatError, match="bad.onnx"):
        load_model(bad)
    model = build_qonnx(random_network(8))
    model.graph.node[3].op_type = "AdderWarp"
    path = tmp_path / "unknown.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelFormatError, match="AdderWarp"):
        load_model(path)
