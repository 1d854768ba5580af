"""Graph-shaped networks (residual, concat, grouped, global average, 1-D, squeeze-excite):
the torch integer model, the NumPy reference, qonnx execution and onnxruntime on the
standard lowering give the same integer codes on every layer."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from graph_networks import GRAPHS, inputs, residual_identity, residual_projection

from adderflow.errors import QuantizationError
from adderflow.export.lower_standard import lower_to_standard_onnx, run_onnxruntime
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import FixedType
from adderflow.quant.integer_model import run_integer_model
from adderflow.quant.spec import INPUT, AddLayer, ConcatLayer, QuantizedNetwork
from adderflow.sim.compare import compare
from adderflow.sim.executor import check_contract, run_qonnx, run_reference


def _samples(net: QuantizedNetwork, seed: int) -> np.ndarray:
    """Random codes, then one all-max and one all-min sample (past the quantizer's range:
    it saturates, and the sums behind it reach their extremes)."""
    parts = [inputs(net, 3, seed), inputs(net, 1, fill="max"), inputs(net, 1, fill="min")]
    return np.concatenate(parts)


def _layer_tensors(net: QuantizedNetwork) -> set[str]:
    names = {f"{layer.name}_out" for layer in net.layers}
    return names | {f"{layer.name}_acc" for layer in net.layers if hasattr(layer, "acc_bits")}


@pytest.mark.parametrize("bits", [2, 8, 16])
@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_every_backend_gives_the_same_codes_on_every_layer(graph, bits):
    net = GRAPHS[graph](bits, seed=bits)
    model = build_qonnx(net)
    onnx.checker.check_model(model)
    check_contract(model)  # the IR's load checks accept it
    x = _samples(net, seed=bits)
    ref = run_reference(model, x)
    lowered = lower_to_standard_onnx(model, expose_layers=True)
    backends = {
        "torch": run_integer_model(net, x),
        "qonnx": run_qonnx(model, x),
        "onnxruntime": run_onnxruntime(lowered, x),
    }
    for backend, got in backends.items():
        result = compare(model, ref, got)
        assert result.first is None, (backend, result.first)
        compared = {d.tensor for d in result.layers}
        assert _layer_tensors(net) <= compared, (backend, _layer_tensors(net) - compared)


def test_the_extremes_saturate_the_join():
    """All-max and all-min inputs drive the join's sum past its output range; both
    saturation bounds are reached and every backend agrees on them."""
    net = residual_identity(8, seed=8)
    model = build_qonnx(net)
    x = np.concatenate([inputs(net, 1, fill="max"), inputs(net, 1, fill="min")])
    ref = run_reference(model, x)
    out_t = net.layers[-1].out_type
    assert {out_t.qmax, 0} <= set(np.unique(ref["join_out"]))  # ReLU: 0 is the lower bound
    acc = ref["join_acc"]
    acc_t = FixedType(net.layers[-1].acc_bits, 0)
    assert acc_t.qmin <= acc.min() and acc.max() <= acc_t.qmax
    assert compare(model, ref, run_integer_model(net, x)).first is None


def test_graph_ir_names_operands_and_shifts():
    model = build_qonnx(residual_projection(8))
    join = next(n for n in model.graph.node if n.name == "join")
    assert join.op_type == "IntAdd" and list(join.input) == ["b_out", "proj_out"]
    assert [a.ints for a in join.attribute if a.name == "shifts"][0] == [3, 0]
    proj = next(n for n in model.graph.node if n.name == "proj")
    assert list(proj.input)[0] == "input_codes"
    assert model.graph.output[0].name == "head_out"


def test_grouped_conv_and_padded_pool_attributes():
    model = build_qonnx(GRAPHS["grouped"](8))
    attrs = {n.name: {a.name: list(a.ints) or a.i for a in n.attribute} for n in model.graph.node}
    assert attrs["grouped"]["group"] == 2 and attrs["depthwise"]["group"] == 6
    assert attrs["pool"]["pads"] == [0, 0, 1, 1]


def test_concat_of_different_scales_is_refused_naming_the_layer():
    net = GRAPHS["concat"](8)
    primary = net.layers[0]
    layers = (primary, ConcatLayer("cat", ("primary", INPUT)))
    bad = QuantizedNetwork(FixedType(8, 5), net.input_shape, layers)
    with pytest.raises(QuantizationError, match="layer 'cat'.*one type"):
        build_qonnx(bad)


def test_add_of_different_shapes_is_refused_naming_the_layer():
    net = residual_projection(8)
    join = net.layers[3]
    layers = (*net.layers[:3], AddLayer("join", (INPUT, "proj"), *_join_rest(join)))
    with pytest.raises(QuantizationError, match="layer 'join'.*shape"):
        build_qonnx(QuantizedNetwork(net.input_type, net.input_shape, layers))


def _join_rest(join: AddLayer):
    return join.shifts, join.acc_bits, join.requant, join.out_type, join.relu


def test_cost_counts_every_node_of_a_residual_graph_by_hand(tmp_path, capsys):
    """``residual_projection(8)``: 3×6×6 input; ``a`` 3→4 3×3 stride 2 (36 outputs, 27
    terms), ``b`` 4→4 3×3 (36 outputs, 36 terms), ``proj`` 1×1 stride 2 (36 outputs, 3
    terms), the join 36 adds with ``b`` shifted by 3, a 2×2 stride-1 pool (16 outputs, 3
    comparisons), the head 16→5."""
    from adderflow.cli import main
    from adderflow.sim.cost_views import as_ann, as_cnn
    from adderflow.sim.ops.int_add import sum_bits

    net = residual_projection(8)
    model = build_qonnx(net)
    ann = as_ann(model)
    assert ann.uncounted == []
    assert [layer.node for layer in ann.layers] == [node.name for node in model.graph.node]
    ops = {layer.node: layer.ops for layer in ann.layers}
    acc = {layer.name: f"int{layer.acc_bits}" for layer in net.layers if hasattr(layer, "acc_bits")}
    assert ops["a"] == {"add": {"int8": 972, acc["a"]: 972}, "abs": {"int8": 972}}
    assert ops["b"] == {"add": {"int8": 1296, acc["b"]: 1296}, "abs": {"int8": 1296}}
    assert ops["proj"] == {"mul": {"int8": 108}, "add": {acc["proj"]: 108}}
    join = f"int{sum_bits([8, 8], (3, 0))}"
    assert acc["join"] == join and ops["join"] == {"add": {join: 36}, "shift": {join: 36}}
    assert ops["pool"] == {"cmp": {"int8": 48}} and ops["flat"] == {}
    assert ops["head"] == {"mul": {"int8": 80}, "add": {acc["head"]: 80}}
    for name in ("a", "b", "proj", "join", "head"):  # one multiplier per requantized output
        assert sum(ops[f"{name}_requant"]["mul"].values()) == (5 if name == "head" else 36)
    twin = {layer.node: layer.ops for layer in as_cnn(model).layers}
    assert twin["b"]["mul"] == {"int8": 1296} and twin["join"] == ops["join"]
    path = tmp_path / "residual.onnx"
    onnx.save(model, str(path))
    assert main(["energy", str(path)]) == 0
    out = capsys.readouterr().out
    assert "IntAdd" in out and "NOT COUNTED" not in out


@pytest.mark.parametrize("part", range(3))
def test_random_graphs_on_every_backend_layer_by_layer(part):
    """The graph fuzzer (``tests/graph_fuzz.py``): residual, concatenation, grouped, window
    sum, gate and padded-pool blocks with random widths, scales and requantizers; the load
    check accepts each, and qonnx, onnxruntime and the torch integer model equal the
    reference on every tensor."""
    import random

    from fuzz import Draws, describe
    from graph_fuzz import draw_graph_case

    for seed in range(part * 20, part * 20 + 20):
        case = draw_graph_case(Draws(rng=random.Random(seed)))
        model, x = case.model, case.images
        check_contract(model)
        ref = run_reference(model, x)
        backends = {
            "qonnx": run_qonnx(model, x),
            "onnxruntime": run_onnxruntime(lower_to_standard_onnx(model, expose_layers=True), x),
            "torch": run_integer_model(case.net, x),
        }
        for backend, got in backends.items():
            result = compare(model, ref, got)
            assert result.first is None, f"{backend}, seed {seed}:\n{describe(case)}"
            assert _layer_tensors(case.net) <= {d.tensor for d in result.layers}, backend
