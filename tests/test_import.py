"""Importing models made elsewhere (brevitas QONNX, torch.onnx, QDQ, our own IR), and clear
errors on malformed models for the importer and for the IR loader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from networks import random_network
from onnx import TensorProto, helper, numpy_helper

from adderflow.errors import AdderflowError, ModelFormatError, QuantizationError
from adderflow.export.importer import import_model, write_json
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.sim.executor import load_model

CLI = [sys.executable, "-m", "adderflow.cli"]
QONNX = "qonnx.custom_op.general"
RULE_7 = "kept as a multiplication layer"


def adderflow(*args: str):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


def by_name(report) -> dict:
    return {layer.name: layer for layer in report.layers}


# --------------------------------------------------------------------------- made by torch


@pytest.fixture(scope="module")
def brevitas_cnn(tmp_path_factory) -> Path:
    """A brevitas CNN: 8-bit input, a w8 first conv, a w4 middle conv, a middle conv whose
    weight scale is a float (not a power of two), and a w8 classifier; exported as QONNX."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import (
        Int8ActPerTensorFixedPoint,
        Int8WeightPerTensorFixedPoint,
        Int8WeightPerTensorFloat,
    )

    fixed_w = {"weight_quant": Int8WeightPerTensorFixedPoint, "bias": False}

    def act(bits: int) -> QuantIdentity:
        return QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=bits)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = act(8)
            self.c1 = QuantConv2d(1, 4, 3, padding=1, **fixed_w)
            self.r1 = QuantReLU(act_quant=None)
            self.q1 = act(8)
            self.pool = torch.nn.MaxPool2d(2)
            self.c2 = QuantConv2d(4, 8, 3, padding=1, weight_bit_width=4, **fixed_w)
            self.q2 = act(6)
            self.c3 = QuantConv2d(
                8, 8, 3, padding=1, weight_quant=Int8WeightPerTensorFloat, bias=False
            )
            self.q3 = act(5)
            self.fc = QuantLinear(8 * 4 * 4, 10, **fixed_w)

        def forward(self, x):
            x = self.pool(self.q1(self.r1(self.c1(self.inp(x)))))
            x = self.q2(torch.relu(self.c2(x)))
            x = self.q3(torch.relu(self.c3(x)))
            return self.fc(x.flatten(1))

    torch.manual_seed(0)
    model = Net().eval()
    x = torch.randn(1, 1, 8, 8)
    path = tmp_path_factory.mktemp("brevitas") / "cnn.qonnx.onnx"
    export_qonnx(model, args=x, export_path=str(path), dynamo=False)
    return path


@pytest.fixture(scope="module")
def torch_cnn(tmp_path_factory) -> Path:
    """A plain float torch.onnx export: conv, depthwise conv, 1x1 conv, linear."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.c2 = nn.Conv2d(8, 8, 3, padding=1, groups=8)
            self.c3 = nn.Conv2d(8, 16, 1)
            self.fc = nn.Linear(16 * 4 * 4, 10)

        def forward(self, x):
            x = torch.relu(self.c1(x))
            x = torch.relu(self.c2(x))
            x = torch.relu(self.c3(x))
            return self.fc(x.flatten(1))

    path = tmp_path_factory.mktemp("torch") / "cnn.onnx"
    torch.onnx.export(Net().eval(), torch.randn(1, 3, 4, 4), str(path), dynamo=False)
    return path


def test_brevitas_cnn_layers_bits_eligibility_and_mults(brevitas_cnn):
    report = import_model(brevitas_cnn)
    layers = by_name(report)
    assert list(layers) == ["/c1/Conv", "/c2/Conv", "/c3/Conv", "/fc/MatMul"]
    bits = {name: (layer.weight.bits, layer.activation.bits) for name, layer in layers.items()}
    assert bits == {
        "/c1/Conv": (8, 8),
        "/c2/Conv": (4, 8),  # input: q1's 8 bits through max pooling
        "/c3/Conv": (8, 6),
        "/fc/MatMul": (8, 5),  # input: q3's 5 bits through Flatten
    }
    pow2 = {name: layer.weight.scale_pow2 for name, layer in layers.items()}
    assert pow2 == {"/c1/Conv": True, "/c2/Conv": True, "/c3/Conv": False, "/fc/MatMul": True}
    assert all(layer.activation.scale_pow2 for layer in report.layers)
    assert [layer.eligible for layer in report.layers] == [False, True, False, False]
    assert RULE_7 in layers["/c1/Conv"].reasons[0] and "first" in layers["/c1/Conv"].reasons[0]
    assert RULE_7 in layers["/fc/MatMul"].reasons[0] and "last" in layers["/fc/MatMul"].reasons[0]
    assert layers["/c3/Conv"].reasons == [
        f"weight scale {layers['/c3/Conv'].weight.scale:g} is not a power of two"
    ]
    # outputs x terms: 4*8*8 x 1*3*3, 8*4*4 x 4*3*3, 8*4*4 x 8*3*3, 10 x 128
    mults = {name: layer.mults for name, layer in layers.items()}
    assert mults == {"/c1/Conv": 2304, "/c2/Conv": 4608, "/c3/Conv": 9216, "/fc/MatMul": 1280}
    assert layers["/c2/Conv"].weight_shape == (8, 4, 3, 3)
    assert layers["/c2/Conv"].output_shape == (8, 4, 4)
    # costed at the quantized widths: the middle conv multiplies int8 inputs by int4 weights
    cost = {layer.node: layer for layer in report.cost.layers}
    assert cost["/c2/Conv"].ops["mul"] == {"int8": 4608}
    assert report.totals()["eligible_mults"] == 4608
    assert report.totals()["layer_mults"] == 2304 + 4608 + 9216 + 1280
    assert all(layer.energy_pj > 0 for layer in report.layers)


def test_brevitas_cnn_strict_refuses_the_float_scale(brevitas_cnn):
    with pytest.raises(QuantizationError, match=r"layer '/c3/Conv'.*not a power of two"):
        import_model(brevitas_cnn, strict=True)


def test_keep_first_and_last_are_options(brevitas_cnn):
    report = import_model(brevitas_cnn, keep_first=False, keep_last=False)
    assert [layer.eligible for layer in report.layers] == [True, True, False, True]


def test_plain_torch_export(torch_cnn):
    report = import_model(torch_cnn)
    layers = by_name(report)
    assert list(layers) == ["/c1/Conv", "/c2/Conv", "/c3/Conv", "/fc/Gemm"]
    assert all(layer.weight is None and layer.activation is None for layer in report.layers)
    assert [layer.eligible for layer in report.layers] == [False, False, True, False]
    assert layers["/c2/Conv"].reasons == [
        "depthwise convolution (group=8): the adder path has no groups"
    ]
    assert layers["/c3/Conv"].notes == ["float: needs power-of-two quantization first"]
    mults = {name: layer.mults for name, layer in layers.items()}
    # 8*4*4 x 3*3*3, 8*4*4 x 1*3*3 (depthwise), 16*4*4 x 8, 10 x 256
    assert mults == {"/c1/Conv": 3456, "/c2/Conv": 1152, "/c3/Conv": 2048, "/fc/Gemm": 2560}
    assert report.cost.total("mul") == 3456 + 1152 + 2048 + 2560
    assert report.cost.layers[0].ops["mul"] == {"fp32": 3456}


def test_cli_import_prints_a_table_and_writes_json(brevitas_cnn, tmp_path):
    out = tmp_path / "deep" / "import.json"
    done = adderflow("import", str(brevitas_cnn), "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "/c2/Conv" in done.stdout and "1 of 4 layers can take the adder path" in done.stdout
    data = json.loads(out.read_text())
    assert [layer["eligible"] for layer in data["layers"]] == [False, True, False, False]
    assert data["layers"][1]["weight"]["bits"] == 4
    assert data["totals"]["eligible_mults"] == 4608
    assert not list(out.parent.glob(".*tmp"))  # written atomically, nothing left behind


# --------------------------------------------------------------------------- hand-made models


def _quant(name: str, x: str, scale: float, bits: float, inits: list, zeropt: float = 0.0):
    inits += [
        numpy_helper.from_array(np.array(scale, np.float32), f"{name}_scale"),
        numpy_helper.from_array(np.array(zeropt, np.float32), f"{name}_zeropt"),
        numpy_helper.from_array(np.array(bits, np.float32), f"{name}_bits"),
    ]
    return helper.make_node(
        "Quant",
        [x, f"{name}_scale", f"{name}_zeropt", f"{name}_bits"],
        [f"{name}_out"],
        domain=QONNX,
        name=name,
        signed=1,
        narrow=0,
        rounding_mode="ROUND",
    )


def qonnx_chain(w2_scale: float = 2.0**-4, w2_bits: float = 4, drop: str | None = None):
    """x[1,2,4,4] -> Quant -> conv1 -> Relu -> Quant -> conv2 -> Relu -> Quant -> Flatten
    -> gemm[3]; every weight through its own Quant. ``conv2``'s weight quantizer is varied."""
    rng = np.random.default_rng(0)
    inits: list = []
    weights = {
        "w1": rng.normal(size=(4, 2, 3, 3)),
        "w2": rng.normal(size=(4, 4, 3, 3)),
        "w3": rng.normal(size=(3, 64)),
    }
    inits += [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()]
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        _quant("q_in", "x", 2.0**-5, 8, inits),
        _quant("q_w1", "w1", 2.0**-6, 8, inits),
        helper.make_node("Conv", ["q_in_out", "q_w1_out"], ["c1"], name="conv1", **conv),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        _quant("q1", "r1", 2.0**-4, 8, inits),
        _quant("q_w2", "w2", w2_scale, w2_bits, inits),
        helper.make_node("Conv", ["q1_out", "q_w2_out"], ["c2"], name="conv2", **conv),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        _quant("q2", "r2", 2.0**-4, 8, inits),
        helper.make_node("Flatten", ["q2_out"], ["flat"], name="flatten", axis=1),
        _quant("q_w3", "w3", 2.0**-7, 8, inits),
        helper.make_node("Gemm", ["flat", "q_w3_out"], ["y"], name="gemm", transB=1),
    ]
    if drop is not None:
        inits = [t for t in inits if t.name != drop]
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        inits,
    )
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid(QONNX, 1)]
    return helper.make_model(graph, opset_imports=opsets)


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def test_hand_made_qonnx_chain(tmp_path):
    report = import_model(save(qonnx_chain(), tmp_path / "chain.onnx"))
    layers = by_name(report)
    assert list(layers) == ["conv1", "conv2", "gemm"]
    assert (layers["conv2"].weight.bits, layers["conv2"].activation.bits) == (4, 8)
    assert layers["conv2"].weight.node == "q_w2" and layers["conv2"].activation.node == "q1"
    assert [layer.eligible for layer in report.layers] == [False, True, False]
    # 4*4*4 x 2*3*3, 4*4*4 x 4*3*3, 3 x 64
    assert [layer.mults for layer in report.layers] == [1152, 2304, 192]


def test_wide_bits_and_float_scale_are_reported_or_refused(tmp_path):
    wide = save(qonnx_chain(w2_bits=24), tmp_path / "wide.onnx")
    conv2 = by_name(import_model(wide))["conv2"]
    assert not conv2.eligible and conv2.reasons == ["weight bit width 24 outside 2..16"]
    with pytest.raises(QuantizationError, match=r"layer 'conv2'.*'q_w2'.*bit width 24"):
        import_model(wide, strict=True)
    odd = save(qonnx_chain(w2_scale=0.3), tmp_path / "odd.onnx")
    conv2 = by_name(import_model(odd))["conv2"]
    assert not conv2.eligible and conv2.weight.scale_pow2 is False
    with pytest.raises(QuantizationError, match=r"layer 'conv2'.*'q_w2'.*not a power of two"):
        import_model(odd, strict=True)


@pytest.mark.parametrize("bits", [0, 2.5])
def test_impossible_bit_width_is_an_error(tmp_path, bits):
    path = save(qonnx_chain(w2_bits=bits), tmp_path / "bits.onnx")
    with pytest.raises(QuantizationError, match=r"node 'q_w2' \(Quant\): bit width"):
        import_model(path)


def test_missing_initializer_names_the_node(tmp_path):
    path = save(qonnx_chain(drop="q_w2_scale"), tmp_path / "missing.onnx")
    with pytest.raises(ModelFormatError, match=r"node 'q_w2' \(Quant\): input 'q_w2_scale'"):
        import_model(path)


def test_unsupported_ops_name_the_node(tmp_path):
    model = qonnx_chain()
    model.graph.node[3].op_type = "Frobnicate"  # relu1, in the standard domain
    with pytest.raises(ModelFormatError, match=r"node 'relu1': op 'Frobnicate'"):
        import_model(save(model, tmp_path / "frob.onnx"))
    model = qonnx_chain()
    model.graph.node[3].domain = "acme.ops"
    model.opset_import.append(helper.make_opsetid("acme.ops", 1))
    with pytest.raises(ModelFormatError, match=r"node 'relu1': op 'acme.ops.Relu'"):
        import_model(save(model, tmp_path / "acme.onnx"))
    model = qonnx_chain()
    model.graph.node[3].domain = QONNX
    model.graph.node[3].op_type = "NoSuchOp"
    with pytest.raises(ModelFormatError, match=r"node 'relu1'.*NoSuchOp"):
        import_model(save(model, tmp_path / "qonnx.onnx"))


def test_missing_and_non_onnx_files(tmp_path):
    with pytest.raises(ModelFormatError, match="does not exist"):
        import_model(tmp_path / "nothing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\xffnot a protobuf")
    with pytest.raises(ModelFormatError, match="junk.onnx is not a valid ONNX model"):
        import_model(junk)


def test_qdq_model(tmp_path):
    """ONNX QDQ: int8 weights and activations through DequantizeLinear, one layer."""
    w = np.arange(-36, 36, dtype=np.int8).reshape(2, 4, 3, 3)
    inits = [
        numpy_helper.from_array(w, "w_q"),
        numpy_helper.from_array(np.array(0.25, np.float32), "w_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "w_zp"),
        numpy_helper.from_array(np.array(0.1, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "x_zp"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["x_q"], name="qx"),
        helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zp"], ["x_dq"], name="dqx"),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w_dq"], name="dqw"),
        helper.make_node("Conv", ["x_dq", "w_dq"], ["y"], name="conv", kernel_shape=[3, 3]),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3, 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = save(model, tmp_path / "qdq.onnx")
    (conv,) = import_model(path, keep_first=False, keep_last=False).layers
    assert (conv.weight.bits, conv.weight.signed, conv.weight.scale_pow2) == (8, True, True)
    assert (conv.activation.bits, conv.activation.scale_pow2) == (8, False)
    assert conv.reasons == ["input scale 0.1 is not a power of two"]
    assert conv.mults == 2 * 3 * 3 * 4 * 3 * 3


def test_our_own_ir_imports(tmp_path):
    path = save(build_qonnx(random_network(8)), tmp_path / "ours.onnx")
    report = import_model(path)
    layers = by_name(report)
    assert [(layer.op, layer.eligible) for layer in report.layers] == [
        ("IntConv", False),
        ("AdderConv", True),
        ("AdderGemm", True),
        ("IntGemm", False),
    ]
    assert layers["adder"].notes == ["already an adder layer"]
    assert (layers["adder"].weight.bits, layers["adder"].activation.bits) == (8, 8)
    # stem 5*8*8 x 9 products; the adder layers multiply nothing; head 3 x 6
    assert [layer.mults for layer in report.layers] == [2880, 0, 0, 18]


def test_write_json_is_atomic_and_complete(tmp_path):
    report = import_model(save(qonnx_chain(), tmp_path / "chain.onnx"))
    path = write_json(tmp_path / "r.json", report)
    data = json.loads(path.read_text())
    assert data["totals"]["layers"] == 3 and data["totals"]["eligible_layers"] == 1
    assert data["cost"]["view"] == "ann"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize(
    ("variant", "needle"),
    [
        ("missing", "node 'q_w2' (Quant): input 'q_w2_scale' is missing"),
        ("strict", "layer 'conv2': weight quantizer 'q_w2' (Quant): scale 0.3"),
        ("absent", "does not exist"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(tmp_path, variant, needle):
    path = tmp_path / "m.onnx"
    args = [str(path)]
    if variant == "missing":
        save(qonnx_chain(drop="q_w2_scale"), path)
    elif variant == "strict":
        save(qonnx_chain(w2_scale=0.3), path)
        args.append("--strict")
    done = adderflow("import", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("adderflow: error: ")
    assert needle in done.stderr
    assert done.stdout == ""


def test_importer_needs_no_torch():
    code = (
        "import sys\nimport adderflow.export.importer\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- the IR loader


def _ours(tmp_path: Path, corrupt) -> Path:
    model = build_qonnx(random_network(8))
    corrupt(model)
    return save(model, tmp_path / "ours.onnx")


def _node(model: onnx.ModelProto, name: str) -> onnx.NodeProto:
    return next(node for node in model.graph.node if node.name == name)


def _set_attr(model: onnx.ModelProto, node: str, name: str, value) -> None:
    attrs = _node(model, node).attribute
    attr = next(a for a in attrs if a.name == name)
    attr.CopyFrom(helper.make_attribute(name, value))


def _set_init(model: onnx.ModelProto, name: str, value) -> None:
    init = next(t for t in model.graph.initializer if t.name == name)
    init.CopyFrom(numpy_helper.from_array(np.asarray(value, np.float32), name))


def _drop_init(model: onnx.ModelProto, name: str) -> None:
    keep = [t for t in model.graph.initializer if t.name != name]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)


def _annotate(model: onnx.ModelProto, tensor: str, datatype: str) -> None:
    for ann in model.graph.quantization_annotation:
        if ann.tensor_name == tensor:
            for kv in ann.quant_parameter_tensor_names:
                if kv.key == "finn_datatype":
                    kv.value = datatype


def _standard_op(model: onnx.ModelProto) -> None:
    _node(model, "input_to_codes").op_type = "Add"  # a real ONNX op the reference lacks


@pytest.mark.parametrize(
    ("corrupt", "error", "needle"),
    [
        (
            lambda m: _drop_init(m, "adder_weight"),
            ModelFormatError,
            "node 'adder' (AdderConv): input 'adder_weight' is missing",
        ),
        (_standard_op, ModelFormatError, "node 'input_to_codes': op 'ai.onnx.Add'"),
        (
            lambda m: _set_init(m, "input_bits", 20),
            QuantizationError,
            "node 'input_quant' (Quant): bit width 20 is outside",
        ),
        (
            lambda m: _set_init(m, "input_bits", 1),
            QuantizationError,
            "node 'input_quant' (Quant): bit width 1 is outside",
        ),
        (
            lambda m: _set_attr(m, "stem_requant", "out_bits", 20),
            QuantizationError,
            "node 'adder' (AdderConv): input 'stem_out' (set by node 'stem_requant') width 20",
        ),
        (
            lambda m: _set_attr(m, "adder", "out_bits", 80),
            QuantizationError,
            "node 'adder' (AdderConv): out_bits 80 is outside",
        ),
        (
            lambda m: _annotate(m, "adder_weight", "INT20"),
            QuantizationError,
            "node 'adder' (AdderConv): weight 'adder_weight' width 20",
        ),
        (
            lambda m: _annotate(m, "adder_weight", "INT3"),
            QuantizationError,
            "node 'adder' (AdderConv): weight 'adder_weight' has values outside INT3",
        ),
        (
            lambda m: _set_attr(m, "adder_requant", "shift", 99),
            QuantizationError,
            "node 'adder_requant' (Requant): shift 99",
        ),
        (
            lambda m: _set_init(m, "input_scale", 0.3),
            QuantizationError,
            "node 'input_quant' (Quant): scale 0.3 is not a power of two",
        ),
        (
            lambda m: _set_init(m, "input_unscale", 3.0),
            QuantizationError,
            "node 'input_to_codes' (Mul): factor 3 is not a power of two",
        ),
    ],
    ids=[
        "missing-initializer",
        "unsupported-standard-op",
        "input-bits-high",
        "input-bits-low",
        "activation-bits",
        "accumulator-bits",
        "weight-bits",
        "weight-values",
        "shift",
        "input-scale",
        "code-scale",
    ],
)
def test_ir_loader_names_the_node(tmp_path, corrupt, error, needle):
    path = _ours(tmp_path, corrupt)
    with pytest.raises(error) as info:
        load_model(path)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)
    assert issubclass(error, AdderflowError)


def test_ir_loader_accepts_every_contract_width(tmp_path):
    for bits in (2, 16):
        path = save(build_qonnx(random_network(bits)), tmp_path / f"ok{bits}.onnx")
        assert "AdderConv" in [node.op_type for node in load_model(path).graph.node]


# --------------------------------------------------------------------------- one cost path
# Issues 16 and 17: `energy` and `import` priced one file 2.7x apart (energy costed quantized
# convs as fp32, and a Quant -> MatMul model at 0 pJ, "shape unknown"); energy accepted
# quantizer widths 0, -3, 3.5 and 40; QCDQ widths were read from the int8 storage type.


def _energy_cli_pj(path: Path) -> float:
    """The ANN energy total `adderflow energy` prints, through the real CLI dispatch."""
    import contextlib
    import io

    from adderflow.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["energy", str(path)]) == 0
    row = next(line for line in out.getvalue().splitlines() if line.startswith("energy "))
    return row.split()[1:3]


def test_energy_and_import_give_one_answer_on_brevitas_qonnx(brevitas_cnn):
    from adderflow.export.importer import costing_model
    from adderflow.sim.cost import fmt_pj, twins

    report = import_model(brevitas_cnn)
    energy = twins(costing_model(brevitas_cnn)).ann
    assert energy.energy_pj == report.cost.energy_pj
    # Quantized convs are priced at their integer widths, never as fp32 multiplications.
    c2 = next(layer for layer in energy.layers if layer.node == "/c2/Conv")
    assert set(c2.ops["mul"]) == {"int8"}, c2.ops
    assert " ".join(_energy_cli_pj(brevitas_cnn)) == fmt_pj(report.cost.energy_pj)


def test_plain_quant_matmul_is_priced_by_energy_too(tmp_path):
    inits: list = [numpy_helper.from_array(np.ones((6, 3), np.float32), "w")]
    nodes = [
        _quant("q_in", "x", 2.0**-4, 8, inits),
        _quant("q_w", "w", 2.0**-4, 4, inits),
        helper.make_node("MatMul", ["q_in_out", "q_w_out"], ["y"], name="mm"),
    ]
    graph = helper.make_graph(
        nodes, "mm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits,
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid(QONNX, 1)]
    path = save(helper.make_model(graph, opset_imports=opsets), tmp_path / "mm.onnx")
    from adderflow.export.importer import costing_model
    from adderflow.sim.cost import twins

    energy = twins(costing_model(path)).ann
    assert not energy.uncounted, energy.uncounted
    assert energy.energy_pj == import_model(path).cost.energy_pj > 0


@pytest.mark.parametrize("bits", [0, -3, 3.5, 40])
def test_energy_and_import_refuse_impossible_quant_widths(tmp_path, bits):
    path = save(qonnx_chain(w2_bits=bits), tmp_path / "bits.onnx")
    with pytest.raises(QuantizationError, match=r"node 'q_w2' \(Quant\): bit width"):
        import_model(path)
    done = subprocess.run([*CLI, "energy", str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "node 'q_w2' (Quant): bit width" in done.stderr and done.stdout == ""


def _ir_with(tmp_path: Path, **edit) -> Path:
    """Our own IR (tests/networks.py) with one attribute of one node changed."""
    model = build_qonnx(random_network(4, seed=1))
    node_name, attr, value = edit["node"], edit["attr"], edit["value"]
    node = next(n for n in model.graph.node if n.name == node_name)
    for a in node.attribute:
        if a.name == attr:
            node.attribute.remove(a)
            break
    node.attribute.append(helper.make_attribute(attr, value))
    return save(model, tmp_path / "ir.onnx")


@pytest.mark.parametrize(
    "edit,needle",
    [
        ({"node": "adder_requant", "attr": "out_bits", "value": 40}, "out_bits 40"),
        ({"node": "input_quant", "attr": "rounding_mode", "value": "FLOOR"}, "FLOOR"),
    ],
)
def test_ir_width_errors_refused_by_verify_import_and_energy(tmp_path, edit, needle):
    """One load check (check_contract) for `verify` (load_model), `import` and `energy`."""
    path = _ir_with(tmp_path, **edit)
    with pytest.raises(QuantizationError, match=needle):
        load_model(path)
    for strict in (False, True):
        with pytest.raises(QuantizationError, match=needle):
            import_model(path, strict=strict)
    done = subprocess.run([*CLI, "energy", str(path)], capture_output=True, text=True)
    assert done.returncode == 2 and needle in done.stderr, done.stderr


def test_qcdq_widths_come_from_the_clip_bounds(tmp_path):
    """brevitas export_onnx_qcdq: 4-bit weights and 6-bit unsigned activations live in
    int8/uint8 tensors narrowed by a Clip; they were read as 8 bits and u8."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    from brevitas.export import export_onnx_qcdq
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import (
        Int8ActPerTensorFixedPoint,
        Int8WeightPerTensorFixedPoint,
        Uint8ActPerTensorFixedPoint,
    )

    w4 = {"weight_quant": Int8WeightPerTensorFixedPoint, "weight_bit_width": 4, "bias": False}

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=8)
            self.c1 = QuantConv2d(1, 4, 3, padding=1, **w4)
            self.r1 = QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=6)
            self.c2 = QuantConv2d(4, 4, 3, padding=1, **w4)
            self.r2 = QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=6)
            self.fc = QuantLinear(64, 3, weight_quant=Int8WeightPerTensorFixedPoint, bias=False)

        def forward(self, x):
            x = self.r2(self.c2(self.r1(self.c1(self.inp(x)))))
            return self.fc(x.flatten(1))

    torch.manual_seed(0)
    path = tmp_path / "qcdq.onnx"
    export_onnx_qcdq(Net().eval(), args=torch.randn(1, 1, 4, 4), export_path=str(path),
                     dynamo=False)  # fmt: skip
    layers = by_name(import_model(path))
    c2 = layers["/c2/Conv"]
    assert (c2.weight.bits, c2.weight.signed) == (4, True)
    assert (c2.activation.bits, c2.activation.signed) == (6, False)
    assert (layers["/fc/MatMul"].weight.bits, layers["/fc/MatMul"].activation.bits) == (8, 6)
