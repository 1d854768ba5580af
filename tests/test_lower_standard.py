"""Lowering to standard ONNX: onnxruntime alone reproduces the reference's integer codes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from test_ir import images, random_network

from adderflow.errors import ModelFormatError
from adderflow.export.lower_standard import lower_to_standard_onnx, run_onnxruntime
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.sim.compare import compare
from adderflow.sim.executor import run_reference


@pytest.mark.parametrize("bits", [2, 4, 8, 12, 16])
@pytest.mark.parametrize("geometry", [(3, 1, 1), (1, 1, 0), (3, 2, 1), (5, 1, 2)])
def test_onnxruntime_equals_reference_layer_by_layer(bits, geometry):
    k, stride, pad = geometry
    model = build_qonnx(random_network(bits, seed=bits * k, k=k, stride=stride, pad=pad))
    x = images(bits + k)
    got = run_onnxruntime(lower_to_standard_onnx(model, expose_layers=True), x)
    result = compare(model, run_reference(model, x), got)
    assert result.first is None, result.first
    assert result.mismatches == 0 and len(result.layers) >= 10


@pytest.mark.parametrize("extreme", ["max", "min"])
@pytest.mark.parametrize("bits", [2, 8, 16])
def test_extremes(bits, extreme):
    model = build_qonnx(random_network(bits, seed=2, extreme=extreme))
    x = np.full((3, 1, 8, 8), 1e6 if extreme == "max" else -1e6, dtype=np.float32)
    got = run_onnxruntime(lower_to_standard_onnx(model, expose_layers=True), x)
    assert compare(model, run_reference(model, x), got).first is None


def test_lowered_model_is_standard_onnx_with_free_batch():
    lowered = lower_to_standard_onnx(build_qonnx(random_network(8)))
    onnx.checker.check_model(lowered)
    assert {node.domain for node in lowered.graph.node} <= {""}
    assert [o.name for o in lowered.graph.output] == ["head_out"]
    for batch in (1, 7):
        out = run_onnxruntime(lowered, images(0, n=batch))["head_out"]
        assert out.shape == (batch, 3) and out.dtype == np.int64


def test_a_batch_runs_in_chunks_of_bounded_memory(monkeypatch):
    """A batch whose broadcast adder terms would not fit runs in chunks: the same codes,
    every layer, as one run (ResNet-50 on digits asked for 24 GB at once)."""
    from adderflow.export import lower_standard

    lowered = lower_to_standard_onnx(build_qonnx(random_network(8)), expose_layers=True)
    x = images(3, n=10)
    whole = run_onnxruntime(lowered, x)
    per_sample = lower_standard.largest_sample_bytes(lowered)
    monkeypatch.setattr(lower_standard, "CHUNK_BYTES", 3 * per_sample)  # 3 samples a run
    chunked = run_onnxruntime(lowered, x)
    assert whole.keys() == chunked.keys()
    for name, codes in whole.items():
        assert codes.shape[0] == 10 and np.array_equal(codes, chunked[name]), name


def test_unknown_custom_op_is_named():
    model = build_qonnx(random_network(8))
    model.graph.node[3].op_type = "AdderWarp"
    with pytest.raises(ModelFormatError, match="AdderWarp"):
        lower_to_standard_onnx(model)


@pytest.mark.parametrize("node, tensor", [("stem", "stem_weight"), ("dense_requant", "dense_bias")])
def test_a_parameter_that_is_no_initializer_is_refused_naming_the_node(node, tensor):
    model = build_qonnx(random_network(8))
    init = next(t for t in model.graph.initializer if t.name == tensor)
    model.graph.initializer.remove(init)
    model.graph.input.append(
        onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.INT64, list(init.dims))
    )
    with pytest.raises(
        ModelFormatError, match=rf"node '{node}' \(\w+\): input '{tensor}' is not an init"
    ):
        lower_to_standard_onnx(model)


def test_a_conv_without_strides_and_pads_lowers_with_their_defaults():
    """The op's attributes default to stride 1, no padding; the reference runs such a
    model, so the lowering must too."""
    model = build_qonnx(random_network(8, seed=4, pad=0))
    for node in model.graph.node:
        if node.op_type.endswith("Conv"):
            keep = [a for a in node.attribute if a.name not in ("strides", "pads")]
            del node.attribute[:]
            node.attribute.extend(keep)
    x = images(4)
    got = run_onnxruntime(lower_to_standard_onnx(model, expose_layers=True), x)
    result = compare(model, run_reference(model, x), got)
    assert result.first is None and result.mismatches == 0


@pytest.mark.parametrize("bits", [(2, 2), (4, 8), (16, 16)])
@pytest.mark.parametrize("shifts", [(0, 0), (0, 5), (7, 0)])
def test_residual_add_onnxruntime_equals_reference_layer_by_layer(bits, shifts):
    from residual import images as residual_images
    from residual import residual_ir

    model = residual_ir(*bits, shifts, seed=bits[0] + shifts[0])
    x = residual_images(bits[0], n=5, seed=shifts[1])
    lowered = lower_to_standard_onnx(model, expose_layers=True)
    assert {node.domain for node in lowered.graph.node} <= {""}
    result = compare(model, run_reference(model, x), run_onnxruntime(lowered, x))
    assert result.first is None, result.first
    assert result.mismatches == 0 and "join" in [layer.node for layer in result.layers]


@pytest.mark.parametrize("bits", [2, 5, 8, 16])
@pytest.mark.parametrize("fill", [None, "max", "min"])
def test_grouped_convs_onnxruntime_equals_reference_and_qonnx_layer_by_layer(bits, fill):
    """Grouped mul, depthwise adder and grouped 1x1 adder convs (tests/grouped.py)."""
    from grouped import as_ir, grouped_net
    from grouped import images as grouped_images

    from adderflow.sim.executor import run_qonnx

    model = as_ir(grouped_net(bits, seed=bits, extreme=fill))
    x = grouped_images(bits, 4, n=3, seed=bits, fill=fill)
    ref = run_reference(model, x)
    lowered = lower_to_standard_onnx(model, expose_layers=True)
    assert {node.domain for node in lowered.graph.node} <= {""}
    result = compare(model, ref, run_onnxruntime(lowered, x))
    assert result.first is None, result.first
    assert {"stem", "dw", "gc"} <= {layer.node for layer in result.layers}
    result = compare(model, ref, run_qonnx(model, x))
    assert result.first is None and result.mismatches == 0, result.first


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_binary_convs_onnxruntime_equals_reference_and_qonnx(seed):
    from grouped import as_ir, grouped_binary_net
    from grouped import images as grouped_images

    from adderflow.sim.executor import run_qonnx

    model = as_ir(grouped_binary_net(seed))
    x = grouped_images(8, 2, n=4, seed=seed)
    ref = run_reference(model, x)
    lowered = lower_to_standard_onnx(model, expose_layers=True)
    result = compare(model, ref, run_onnxruntime(lowered, x))
    assert result.first is None, result.first
    assert {"xg", "xd"} <= {layer.node for layer in result.layers}
    assert compare(model, ref, run_qonnx(model, x)).first is None


@pytest.mark.parametrize("bits", [2, 8, 16])
@pytest.mark.parametrize("fill", [None, "min"])
@pytest.mark.parametrize("pads", [(1, 1, 1, 1), (0, 2, 1, 0), (2, 1, 2, 2)])
def test_padded_max_pool_onnxruntime_equals_reference_and_qonnx(bits, fill, pads):
    """A 3x3 stride-2 max pool with ``pads`` on signed codes (the stem has no ReLU): padded
    positions never win in the reference, qonnx or onnxruntime's float64 MaxPool."""
    from grouped import as_ir, grouped_net
    from grouped import images as grouped_images

    from adderflow.sim.executor import run_qonnx

    model = as_ir(grouped_net(bits, seed=bits + pads[1], extreme=fill, pool_pads=pads))
    x = grouped_images(bits, 4, n=3, seed=bits, fill=fill)
    ref = run_reference(model, x)
    assert ref["stem_out"].min() < 0  # a zero padding would win somewhere
    lowered = lower_to_standard_onnx(model, expose_layers=True)
    result = compare(model, ref, run_onnxruntime(lowered, x))
    assert result.first is None, result.first
    assert "pool" in {layer.node for layer in result.layers}
    assert compare(model, ref, run_qonnx(model, x)).first is None


@pytest.mark.parametrize("pads", [(1, 1, 1, 1), (2, 0, 0, 1)])
def test_padded_max_pool_of_bipolar_codes_everywhere(pads):
    """Over ±1 codes padding never wins either: the pooled codes stay ±1 for the xnor layer."""
    from grouped import as_ir, grouped_binary_net
    from grouped import images as grouped_images

    from adderflow.sim.executor import run_qonnx

    model = as_ir(grouped_binary_net(seed=sum(pads), pool_pads=pads))
    x = grouped_images(8, 2, n=4, seed=1)
    ref = run_reference(model, x)
    assert set(np.unique(ref["pool_out"])) == {-1, 1}
    lowered = lower_to_standard_onnx(model, expose_layers=True)
    assert compare(model, ref, run_onnxruntime(lowered, x)).first is None
    assert compare(model, ref, run_qonnx(model, x)).first is None


def _graph_op_models():
    from graph_ops import concat_ir, gate_ir, reshape_ir, sum_pool_ir

    return [
        ("pool", lambda b: sum_pool_ir(b, (2, 3), (2, 1), seed=b), (2, 5, 7)),
        ("pool", lambda b: sum_pool_ir(b, (3, 3), (1, 1), shape=(3, 3, 4), seed=b), (3, 3, 4)),
        ("gate", lambda b: gate_ir(b, max(2, b // 2), seed=b), (3, 4, 5)),
        ("gate", lambda b: gate_ir(b, b, squeeze="max", seed=b), (3, 4, 5)),
        ("cat_out", lambda b: concat_ir(b, seed=b), (2, 4, 5)),
        ("as2d_out", lambda b: reshape_ir(b, seed=b), (3, 11)),
    ]


@pytest.mark.parametrize("bits", [2, 6, 16])
@pytest.mark.parametrize("index", range(6))
def test_graph_ops_onnxruntime_equal_reference_layer_by_layer(bits, index):
    """IntSumPool, IntMul, Concat and Reshape (issue #20), lowered and run by onnxruntime,
    give the reference's codes in every exposed tensor (random, all-max, all-min codes)."""
    from graph_ops import images as graph_images

    layer, build, shape = _graph_op_models()[index]
    model = build(bits)
    lowered = lower_to_standard_onnx(model, expose_layers=True)
    assert {node.domain for node in lowered.graph.node} <= {""}
    for fill in (None, "max", "min"):
        x = graph_images(bits, shape, n=3, seed=index, fill=fill)
        ref = run_reference(model, x)
        got = run_onnxruntime(lowered, x)
        for name, codes in got.items():
            np.testing.assert_array_equal(codes, ref[name], err_msg=name)
        assert any(name.startswith(layer) for name in got), layer
