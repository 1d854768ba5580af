"""``adderflow import MODEL.onnx --to-run DIR``: a brevitas QONNX model and an ONNX QDQ model
with power-of-two scales become runs whose integer codes equal the models' own fake-quant
values exactly, ``adderflow verify`` finds 0 mismatches, and what cannot be exact is
refused by name with nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from adderflow.cli import main
from adderflow.export.import_network import network_from_onnx
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.quant.network_file import read_network, write_network
from adderflow.sim.executor import output_name, run_reference

SEED = 7


def _inputs(net, n: int, spread: float) -> np.ndarray:
    """Seeded normal inputs past the input range, the first two all-max and all-min."""
    x = np.random.default_rng(SEED).normal(0.0, spread, (n, *net.input_shape))
    x[0], x[1] = 4 * spread, -4 * spread
    return x.astype(np.float32)


def _values(net, x: np.ndarray, layer: str | None = None) -> np.ndarray:
    """The reference's codes of ``layer`` (default: the output) times their scale."""
    model = build_qonnx(net)
    codes = run_reference(model, x)[f"{layer}_out" if layer else output_name(model)]
    frac = net.type_of(layer).frac if layer else net.output_type.frac
    return codes.astype(np.float64) * 2.0**-frac


def _import(model: Path, run: Path, *extra: str) -> int:
    return main(["import", str(model), "--to-run", str(run), "--samples", "64", *extra])


def _verified(run: Path, capsys) -> dict:
    assert main(["verify", str(run)]) == 0, capsys.readouterr().out
    equivalence = json.loads((run / "metrics.json").read_text())["equivalence"]
    expected = {"torch_vs_reference", "qonnx_exec", "onnxruntime", "imported_model"}
    assert set(equivalence) == expected
    assert all(entry["mismatches"] == 0 for entry in equivalence.values()), equivalence
    return equivalence


# --------------------------------------------------------------------------- brevitas


@pytest.fixture(scope="module")
def brevitas_model(tmp_path_factory):
    """QuantIdentity input (s8), QuantConv2d w8 + Int32Bias, QuantReLU (u4), MaxPool,
    QuantConv2d w4 stride 2 + bias, ReLU, QuantIdentity (s8), AvgPool2d 2×2, QuantIdentity
    (the same grid), QuantLinear w8 + Int32Bias with no output quantizer: power-of-two
    fixed-point quantizers as sw/quant/qat.py uses."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import Int8WeightPerTensorFixedPoint, Int32Bias
    from brevitas.quant.fixed_point import Int8ActPerTensorFixedPointMinMaxInit as MinMax

    def conv(c_in: int, c_out: int, bits: int, **kw):
        return QuantConv2d(
            c_in,
            c_out,
            3,
            weight_quant=Int8WeightPerTensorFixedPoint,
            weight_bit_width=bits,
            bias_quant=Int32Bias,
            return_quant_tensor=True,
            **kw,
        )

    torch.manual_seed(SEED)
    model = torch.nn.Sequential(
        QuantIdentity(act_quant=MinMax, min_val=-2.0, max_val=2.0, return_quant_tensor=True),
        conv(2, 6, 8, padding=1),
        QuantReLU(
            act_quant=MinMax,
            bit_width=4,
            signed=False,
            min_val=0.0,
            max_val=3.0,
            return_quant_tensor=True,
        ),
        torch.nn.MaxPool2d(2),
        conv(6, 8, 4, stride=2),
        torch.nn.ReLU(),
        QuantIdentity(act_quant=MinMax, min_val=-4.0, max_val=4.0, return_quant_tensor=True),
        torch.nn.AvgPool2d(2),
        QuantIdentity(act_quant=MinMax, min_val=-4.0, max_val=4.0, return_quant_tensor=True),
        torch.nn.Flatten(),
        QuantLinear(
            8,
            10,
            weight_quant=Int8WeightPerTensorFixedPoint,
            bias_quant=Int32Bias,
            return_quant_tensor=False,
        ),
    ).eval()
    path = tmp_path_factory.mktemp("brevitas") / "cnn.qonnx.onnx"
    export_qonnx(model, args=torch.zeros(1, 2, 10, 10), export_path=str(path), dynamo=False)
    return model, path


def test_brevitas_fake_quant_equals_the_integer_reference(brevitas_model):
    torch = pytest.importorskip("torch")
    model, path = brevitas_model
    net = network_from_onnx(path)
    assert [getattr(layer, "kind", None) for layer in net.layers if hasattr(layer, "kind")] == [
        "mul"
    ] * 3  # adder-eligible layers stay multiplications
    x = _inputs(net, 200, 1.5)
    with torch.no_grad():
        floats = model(torch.from_numpy(x)).double().numpy()
        hidden = model[:3](torch.from_numpy(x)).value.double().numpy()
    assert np.array_equal(_values(net, x), floats)
    first = net.layers[0]
    assert first.relu and first.out_type.bits == 5  # unsigned 4 bits: fixed<5, f> + clamp
    assert [layer.mode for layer in net.layers if hasattr(layer, "mode")] == ["max", "avg"]
    assert np.array_equal(_values(net, x, first.name), hidden)


def test_brevitas_qcdq_export_is_exact_too(brevitas_model, tmp_path):
    """The same model through brevitas' QCDQ export (QuantizeLinear → Clip →
    DequantizeLinear: the 4-bit weights and unsigned 4-bit activations are Clips)."""
    torch = pytest.importorskip("torch")
    from brevitas.export import export_onnx_qcdq

    model, _ = brevitas_model
    path = tmp_path / "cnn.qcdq.onnx"
    export_onnx_qcdq(model, args=torch.zeros(1, 2, 10, 10), export_path=str(path), dynamo=False)
    assert any(node.op_type == "Clip" for node in onnx.load(path).graph.node)
    net = network_from_onnx(path)
    x = _inputs(net, 200, 1.5)
    with torch.no_grad():
        floats = model(torch.from_numpy(x)).double().numpy()
    assert np.array_equal(_values(net, x), floats)
    assert net.layers[0].out_type.bits == 5 and net.layers[0].relu  # Clip [0, 15]: u4


def test_brevitas_model_to_run_verifies(brevitas_model, tmp_path, capsys):
    _, path = brevitas_model
    run = tmp_path / "run"
    assert _import(path, run) == 0
    for name in (
        "model.qonnx.onnx",
        "model.standard.onnx",
        "model.network.npz",
        "inputs.npz",
        "imported.onnx",
        "config.yaml",
        "stages.json",
        ".adderflow-run",
    ):
        assert (run / name).is_file(), name
    assert "quantize" in json.loads((run / "stages.json").read_text())
    assert _verified(run, capsys)["onnxruntime"]["samples"] == 64
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # `adderflow run` goes on from verify; nothing trains or quantizes the imported model
    from adderflow.pipeline import plan
    from adderflow.runs import reopen_run

    later = ["verify", "rtl", "hls", "synth", "report"]
    assert plan(reopen_run(run), "run", skip_finished=True) == later
    assert plan(reopen_run(run), "run", first="verify") == later
    assert main(["export", str(run)]) == 2
    assert "made by `adderflow import --to-run`" in capsys.readouterr().err


@pytest.fixture(scope="module")
def brevitas_graph(tmp_path_factory):
    """A brevitas network that is no line: a stem conv, a padded 3×3/2 max pool, a
    depthwise (grouped) conv whose output is added to its input (two scales: a residual
    add), a 1×1 conv beside it (per-output-channel power-of-two weight scales, so its bias
    scales are per channel too), both concatenated, then the classifier."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import Int8WeightPerTensorFixedPoint, Int32Bias
    from brevitas.quant.fixed_point import Int8ActPerTensorFixedPointMinMaxInit as MinMax

    def conv(c_in: int, c_out: int, k: int, **kw):
        return QuantConv2d(
            c_in,
            c_out,
            k,
            weight_quant=Int8WeightPerTensorFixedPoint,
            bias_quant=Int32Bias,
            return_quant_tensor=True,
            **kw,
        )

    def act(top: float, bits: int = 8, signed: bool = False):
        return QuantIdentity(
            act_quant=MinMax,
            bit_width=bits,
            signed=signed,
            min_val=-top if signed else 0.0,
            max_val=top,
            return_quant_tensor=True,
        )

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = act(2.0, signed=True)
            self.stem = conv(2, 4, 3, padding=1)
            self.stem_act = QuantReLU(
                act_quant=MinMax,
                bit_width=6,
                signed=False,
                min_val=0.0,
                max_val=3.0,
                return_quant_tensor=True,
            )
            self.pool = torch.nn.MaxPool2d(3, stride=2, padding=1)
            self.dw = conv(4, 4, 3, padding=1, groups=4)
            self.dw_act = act(4.0, signed=True)
            self.join = act(8.0)
            self.side = conv(4, 4, 1, weight_scaling_per_output_channel=True)
            self.side_act = act(8.0)
            self.cat_act = act(8.0)  # the concat's own grid again: QuantLinear's bias needs it
            self.fc = QuantLinear(
                8 * 4 * 4,
                10,
                weight_quant=Int8WeightPerTensorFixedPoint,
                bias_quant=Int32Bias,
                return_quant_tensor=False,
            )

        def forward(self, x):
            s = self.pool(self.stem_act(self.stem(self.inp(x))))
            y = self.join(s.value + self.dw_act(self.dw(s)).value)
            z = self.side_act(torch.relu(self.side(y).value))
            return self.fc(self.cat_act(torch.flatten(torch.cat([y.value, z.value], 1), 1)))

    torch.manual_seed(SEED)
    model = Net().eval()
    with torch.no_grad():  # channels of different magnitudes: their scales differ
        model.side.weight.mul_(torch.tensor([1.0, 4.0, 0.25, 2.0]).view(4, 1, 1, 1))
    path = tmp_path_factory.mktemp("brevitas") / "graph.qonnx.onnx"
    export_qonnx(model, args=torch.zeros(1, 2, 8, 8), export_path=str(path), dynamo=False)
    return model, path


def test_a_brevitas_graph_with_a_residual_add_and_a_concat_is_exact(
    brevitas_graph, tmp_path, capsys
):
    torch = pytest.importorskip("torch")
    model, path = brevitas_graph
    net = network_from_onnx(path)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert {"AddLayer", "ConcatLayer"} <= set(kinds), kinds
    assert any(getattr(layer, "groups", 1) == 4 for layer in net.layers)
    side = next(layer for layer in net.layers if "side" in layer.name)
    assert len(set(side.requant.multiplier.tolist())) > 1  # per-channel scales, exact
    assert any(
        any(getattr(layer, "pads", ())) for layer in net.layers if "Pool" in str(type(layer))
    )
    x = _inputs(net, 200, 1.5)
    with torch.no_grad():
        floats = model(torch.from_numpy(x)).double().numpy()
    assert np.array_equal(_values(net, x), floats)
    run = tmp_path / "run"
    assert _import(path, run) == 0
    _verified(run, capsys)


def test_a_brevitas_1d_network_runs_as_height_1(tmp_path, capsys):
    """QuantConv1d (padded, then stride 2), MaxPool1d, QuantLinear on [N, 1, 40] signals
    (MNIST-1D's shape): the input is reshaped to height 1, and the result is exact."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantConv1d, QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import Int8WeightPerTensorFixedPoint, Int32Bias
    from brevitas.quant.fixed_point import Int8ActPerTensorFixedPointMinMaxInit as MinMax

    quant = {"weight_quant": Int8WeightPerTensorFixedPoint, "bias_quant": Int32Bias}
    relu = {"act_quant": MinMax, "signed": False, "min_val": 0.0, "return_quant_tensor": True}
    torch.manual_seed(SEED)
    model = torch.nn.Sequential(
        QuantIdentity(act_quant=MinMax, min_val=-4.0, max_val=4.0, return_quant_tensor=True),
        QuantConv1d(1, 4, 5, padding=2, return_quant_tensor=True, **quant),
        QuantReLU(max_val=4.0, **relu),
        torch.nn.MaxPool1d(2),
        QuantConv1d(4, 6, 3, stride=2, return_quant_tensor=True, **quant),
        QuantReLU(max_val=8.0, **relu),
        torch.nn.Flatten(),
        QuantLinear(6 * 9, 10, return_quant_tensor=False, **quant),
    ).eval()
    path = tmp_path / "conv1d.qonnx.onnx"
    export_qonnx(model, args=torch.zeros(1, 1, 40), export_path=str(path), dynamo=False)
    net = network_from_onnx(path)
    assert net.input_shape == (1, 40) and type(net.layers[0]).__name__ == "ReshapeLayer"
    x = _inputs(net, 200, 2.0)
    with torch.no_grad():
        floats = model(torch.from_numpy(x)).double().numpy()
    assert np.array_equal(_values(net, x), floats)
    assert _import(path, tmp_path / "run") == 0
    _verified(tmp_path / "run", capsys)


def test_network_file_round_trips(brevitas_model, tmp_path):
    net = network_from_onnx(brevitas_model[1])
    again = read_network(write_network(tmp_path / "net.npz", net))
    x = _inputs(net, 16, 1.0)
    assert again.input_type == net.input_type and again.input_shape == net.input_shape
    assert np.array_equal(_values(again, x), _values(net, x))


def test_swap_to_adder_says_it_needs_training(brevitas_model, tmp_path, capsys):
    assert _import(brevitas_model[1], tmp_path / "run", "--swap-to-adder") == 2
    assert "must be trained" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- QDQ


def _qdq_model(
    path: Path,
    weight_scale: float = 2.0**-6,
    extra_op: str | None = None,
    shape: tuple[int, int] = (2, 6),
    unsigned_input: bool = False,
    batch_norm: bool = False,
    batch: int = 1,
    average: bool = False,
) -> Path:
    """int8 input → Conv (int8 per-output-channel weights, int32 bias) → Relu → uint8 →
    MaxPool → Flatten → MatMul (int8) + Add (int32 bias) → int8 output, built with
    onnx.helper; every scale a power of two unless ``weight_scale`` says otherwise.
    ``shape``: input channels and side; ``batch`` > 1 flattens with a Reshape to
    ``[batch, -1]``, as a traced ``x.view(x.size(0), -1)`` does; ``average`` pools by a
    2×2 AveragePool quantized onto a coarser uint8 grid instead of the max pool."""
    channels, side = shape
    rng = np.random.default_rng(SEED)
    s_in, s_act, s_out = 2.0**-5, 2.0**-4, 2.0**-3
    w_scales = np.array([2.0**-6, 2.0**-7, 2.0**-5, weight_scale], np.float32)
    inits = {
        "s_in": np.float32(s_in),
        "z_in": np.uint8(0) if unsigned_input else np.int8(0),
        "w1": rng.integers(-128, 128, (4, channels, 3, 3)).astype(np.int8),
        "w1_s": w_scales,
        "b1": rng.integers(-3000, 3000, 4).astype(np.int32),
        "b1_s": (w_scales * s_in).astype(np.float32),
        "s_act": np.float32(s_act),
        "z_act": np.uint8(0),
        "w2": rng.integers(-128, 128, (4 * (side // 2) ** 2, 5)).astype(np.int8),
        "w2_s": np.float32(2.0**-7),
        "b2": rng.integers(-500, 500, 5).astype(np.int32),
        "b2_s": np.float32(s_act * 2.0**-7),
        "s_out": np.float32(s_out),
        "z_out": np.int8(0),
        "flat": np.array([batch, -1], np.int64),
        "s_avg": np.float32(2.0**-2),
    }
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s_in", "z_in"], ["xq"], name="in_q"),
        helper.make_node("DequantizeLinear", ["xq", "s_in", "z_in"], ["xd"], name="in_dq"),
        helper.make_node("DequantizeLinear", ["w1", "w1_s"], ["w1d"], name="w1_dq", axis=0),
        helper.make_node("DequantizeLinear", ["b1", "b1_s"], ["b1d"], name="b1_dq", axis=0),
        helper.make_node("Conv", ["xd", "w1d", "b1d"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("QuantizeLinear", ["r1", "s_act", "z_act"], ["aq"], name="act_q"),
        helper.make_node("DequantizeLinear", ["aq", "s_act", "z_act"], ["ad"], name="act_dq"),
        helper.make_node(
            "AveragePool" if average else "MaxPool",
            ["ad"],
            ["pa" if average else "p"],
            name="pool",
            kernel_shape=[2, 2],
            strides=[2, 2],
        ),
        *(
            [
                helper.make_node("QuantizeLinear", ["pa", "s_avg", "z_act"], ["pq"], name="avg_q"),
                helper.make_node(
                    "DequantizeLinear", ["pq", "s_avg", "z_act"], ["p"], name="avg_dq"
                ),
            ]
            if average
            else []
        ),
        helper.make_node("Reshape", ["p", "flat"], ["f"], name="flatten")
        if batch > 1
        else helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("DequantizeLinear", ["w2", "w2_s"], ["w2d"], name="w2_dq"),
        helper.make_node("MatMul", ["f", "w2d"], ["m"], name="fc"),
        helper.make_node("DequantizeLinear", ["b2", "b2_s"], ["b2d"], name="b2_dq"),
        helper.make_node("Add", ["m", "b2d"], ["a"], name="fc_bias"),
        helper.make_node("QuantizeLinear", ["a", "s_out", "z_out"], ["oq"], name="out_q"),
        helper.make_node("DequantizeLinear", ["oq", "s_out", "z_out"], ["y"], name="out_dq"),
    ]
    if extra_op is not None:
        nodes[-1].output[0] = "y0"
        nodes.append(helper.make_node(extra_op, ["y0"], ["y"], name="extra"))
    if batch_norm:
        for name, value in (("g", 1.5), ("beta", 0.25), ("mean", 0.125), ("var", 1.0)):
            inits[f"bn_{name}"] = np.full(4, value, np.float32)
        nodes[5].input[0] = "c1n"
        bn_inputs = ["c1", "bn_g", "bn_beta", "bn_mean", "bn_var"]
        nodes.insert(5, helper.make_node("BatchNormalization", bn_inputs, ["c1n"], name="bn1"))
    graph = helper.make_graph(
        nodes,
        "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, channels, side, side])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 5])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_qdq_model_equals_onnxruntime_and_verifies(tmp_path, capsys):
    import onnxruntime as ort

    path = _qdq_model(tmp_path / "qdq.onnx")
    net = network_from_onnx(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = _inputs(net, 100, 2.0)
    floats = np.concatenate([session.run(None, {"x": x[i : i + 1]})[0] for i in range(len(x))])
    assert np.array_equal(_values(net, x), floats.astype(np.float64))
    first = net.layers[0]
    assert first.relu and first.out_type.bits == 9  # uint8 after ReLU: fixed<9, f> + clamp
    assert len(set(first.requant.multiplier.tolist())) > 1  # per-channel weight scales
    run = tmp_path / "run"
    assert _import(path, run) == 0
    _verified(run, capsys)
    # verify runs the imported model itself: one that computes otherwise is caught
    _qdq_model(run / "imported.onnx", weight_scale=2.0**-4)
    assert main(["verify", str(run)]) == 1
    equivalence = json.loads((run / "metrics.json").read_text())["equivalence"]
    assert equivalence["imported_model"]["mismatches"] > 0
    assert equivalence["onnxruntime"]["mismatches"] == 0


def test_a_flatten_traced_at_batch_2_imports_and_verifies(tmp_path, capsys):
    """A Reshape to [2, -1] (x.view(x.size(0), -1) traced with 2 samples) is a flatten; the
    imported model itself runs in chunks of 2 when verify checks it."""
    path = _qdq_model(tmp_path / "b2.onnx", batch=2)
    assert _import(path, tmp_path / "run") == 0
    _verified(tmp_path / "run", capsys)


def test_an_average_pool_onto_a_coarser_grid_is_a_requantized_window_sum(tmp_path):
    import onnxruntime as ort

    path = _qdq_model(tmp_path / "avg.onnx", average=True)
    net = network_from_onnx(path)
    assert "SumPoolLayer" in [type(layer).__name__ for layer in net.layers]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = _inputs(net, 100, 2.0)
    floats = np.concatenate([session.run(None, {"x": x[i : i + 1]})[0] for i in range(len(x))])
    assert np.array_equal(_values(net, x), floats.astype(np.float64))


def test_an_unsigned_input_is_clamped_by_an_identity_layer(tmp_path, capsys):
    """A uint8 input quantizer clamps negative inputs at 0, the IR's signed one does not:
    the input becomes fixed<9, f> and an identity 1×1 layer clamps; exact on inputs below
    0 and above the range too."""
    import onnxruntime as ort

    path = _qdq_model(tmp_path / "u8.onnx", unsigned_input=True)
    net = network_from_onnx(path)
    stem = net.layers[0]
    assert net.input_type.bits == 9 and stem.relu and stem.out_type == net.input_type
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = _inputs(net, 100, 2.0)
    floats = np.concatenate([session.run(None, {"x": x[i : i + 1]})[0] for i in range(len(x))])
    assert np.array_equal(_values(net, x), floats.astype(np.float64))
    assert _import(path, tmp_path / "run") == 0
    _verified(tmp_path / "run", capsys)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"weight_scale": 0.3}, ["w1_dq", "not a power of two"]),
        ({"extra_op": "Sigmoid"}, ["extra", "Sigmoid", "not supported"]),
        ({"batch_norm": True}, ["bn1", "BatchNormalization", "merge it into the convolution"]),
    ],
    ids=["non-power-of-two-scale", "unsupported-op", "batch-norm"],
)
def test_refusals_name_the_node_and_leave_nothing(tmp_path, capsys, kwargs, words):
    path = _qdq_model(tmp_path / "bad.onnx", **kwargs)
    run = tmp_path / "run"
    assert _import(path, run) == 2
    err = capsys.readouterr().err
    assert all(word in err for word in words), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


def test_a_binary_model_goes_through_import_binary_to_a_run(tmp_path, capsys):
    """A model that binarizes activations (qonnx MultiThreshold/XnorPopcountMatMul) is
    converted by export.import_binary and verifies like any other run."""
    from binary_imports import finn_mlp

    path = tmp_path / "finn.onnx"
    onnx.save(finn_mlp(batch=1), path)
    assert any(layer.kind == "xnor" for layer in network_from_onnx(path).layers[1:-1])
    run = tmp_path / "run"
    assert _import(path, run) == 0
    _verified(run, capsys)


def test_import_to_run_and_verify_need_no_torch(tmp_path):
    """A hardware engineer without PyTorch imports a QDQ model and verifies the run
    (the quantized PyTorch comparison is skipped; the imported model's is not)."""
    import subprocess
    import sys

    from test_import_hygiene import BLOCK_TORCH

    path, run = _qdq_model(tmp_path / "qdq.onnx"), tmp_path / "run"
    code = (
        "from adderflow.cli import main\n"
        f"codes = [main(['import', {str(path)!r}, '--to-run', {str(run)!r}]),"
        f" main(['verify', {str(run)!r}])]\n"
        "print(codes, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.stdout.splitlines()[-1] == "[0, 0] False", done.stdout[-2000:] + done.stderr
    equivalence = json.loads((run / "metrics.json").read_text())["equivalence"]
    assert set(equivalence) == {"qonnx_exec", "onnxruntime", "imported_model"}
    assert all(entry["mismatches"] == 0 for entry in equivalence.values())


def test_a_named_dataset_is_checked_instead_of_random_inputs(tmp_path, capsys):
    """--data digits: the run checks digits' test split (8×8, one channel); a dataset
    whose inputs do not fit the model is refused naming both shapes."""
    run = tmp_path / "run"
    assert _import(_qdq_model(tmp_path / "digits.onnx", shape=(1, 8)), run, "--data", "digits") == 0
    assert not (run / "inputs.npz").exists()
    assert _verified(run, capsys)["onnxruntime"]["samples"] == 360
    other = tmp_path / "other"
    assert _import(_qdq_model(tmp_path / "qdq.onnx"), other, "--data", "digits") == 2
    assert "[1, 8, 8]" in capsys.readouterr().err and not other.exists()
