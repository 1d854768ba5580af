"""Binary networks through the graph front end (``quant.graph_binary``): the zoo's binary
ResNet-18 (SI blocks, and plain binary basic blocks) at a tiny width on 8×8 inputs and the
binary MNIST-1D net with and without SI units. The torch integer model, the NumPy
reference, qonnx and onnxruntime give the same codes on every layer; what cannot be
exact is refused naming the layer."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from adderflow.errors import QuantizationError
from adderflow.export.lower_standard import lower_to_standard_onnx, run_onnxruntime
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import BIPOLAR, FixedType
from adderflow.models import build
from adderflow.nn.binary import BinaryConv2d
from adderflow.quant.graph_ptq import quantize_graph
from adderflow.quant.integer_model import run_integer_model
from adderflow.quant.spec import AddLayer, ComputeLayer, LutLayer, MulLayer, SignLayer
from adderflow.sim.compare import compare
from adderflow.sim.executor import check_contract, run_qonnx, run_reference

NETS = {
    "binary_resnet18": lambda: build(
        "binary_resnet18", "binary", 0.125, num_classes=10, in_channels=1
    ),  # fmt: skip
    "resnet18_binary": lambda: build("resnet18", "binary", 0.125, num_classes=10, in_channels=1),
    "mnist1d": lambda: build("mnist1d", "binary", 0.25),
    "mnist1d_si": lambda: build("mnist1d", "binary", 0.25, si=True),
}


def _trained_like(name: str, seed: int = 0) -> tuple[nn.Module, np.ndarray]:
    """The zoo network with batch-norm statistics and affine terms drawn from a seed (as
    training leaves them: not the identity), and inputs of its shape."""
    torch.manual_seed(seed)
    model = NETS[name]().eval()
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.normal_(0, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_(1.0, 0.5)  # some negative gains: thresholds flip
            m.bias.data.normal_(0, 0.2)
    shape = (1, 40) if name.startswith("mnist1d") else (1, 8, 8)
    x = np.random.default_rng(seed).normal(size=(48, *shape)).astype(np.float32)
    return model, x


@pytest.mark.parametrize("name", list(NETS))
def test_every_backend_gives_the_same_codes_on_every_layer(name):
    model, x = _trained_like(name)
    net = quantize_graph(model, x)
    ir = build_qonnx(net)
    onnx.checker.check_model(ir)
    check_contract(ir)
    big = np.abs(x).max()
    samples = np.concatenate([x[:5], np.full_like(x[:1], big * 4), np.full_like(x[:1], -big * 4)])
    ref = run_reference(ir, samples)
    lowered = lower_to_standard_onnx(ir, expose_layers=True)
    backends = {
        "torch": run_integer_model(net, samples),
        "qonnx": run_qonnx(ir, samples),
        "onnxruntime": run_onnxruntime(lowered, samples),
    }
    for backend, got in backends.items():
        result = compare(ir, ref, got)
        assert result.first is None, (backend, result.first)
        compared = {d.tensor for d in result.layers}
        assert {f"{layer.name}_out" for layer in net.layers} <= compared, backend
    # the integer model follows the float one (same class on most random inputs)
    with torch.no_grad():
        floats = model(torch.from_numpy(x)).argmax(1).numpy()
    codes = run_integer_model(net, x)[f"{net.layers[-1].name}_out"]
    assert (codes.argmax(1) == floats).mean() >= 0.6


@pytest.mark.parametrize("bits", [3, 12, 16])
@pytest.mark.parametrize("name", ["mnist1d", "mnist1d_si"])
def test_every_width_gives_the_same_codes_everywhere(name, bits):
    """3..16-bit codes (the sigmoid tables 3..12 bits wide): reference, torch, qonnx and
    onnxruntime agree on random and saturating inputs."""
    model, x = _trained_like(name, seed=bits)
    net = quantize_graph(model, x, bits=bits)
    luts = [la for la in net.layers if isinstance(la, LutLayer)]
    assert all(la.table.size == 2 ** min(bits, 12) for la in luts)
    ir = build_qonnx(net)
    check_contract(ir)
    samples = np.concatenate([x[:3], np.full_like(x[:1], 50.0), np.full_like(x[:1], -50.0)])
    ref = run_reference(ir, samples)
    lowered = lower_to_standard_onnx(ir, expose_layers=True)
    for got in (run_integer_model(net, samples), run_qonnx(ir, samples),
                run_onnxruntime(lowered, samples)):  # fmt: skip
        assert compare(ir, ref, got).first is None


def test_a_line_of_binary_layers_folds_signs_into_thresholds():
    """MNIST-1D without SI: the stem and the first binary conv feed only a binary conv, so
    they end in thresholds (±1 out, no sign layer); the last binary conv feeds the dense
    layer through hardtanh: ``fixed<8, 7>``."""
    model, x = _trained_like("mnist1d")
    net = quantize_graph(model, x)
    computes = [la for la in net.layers if isinstance(la, ComputeLayer)]
    assert [la.kind for la in computes] == ["mul", "xnor", "xnor", "mul", "mul"]
    assert [la.out_type for la in computes[:2]] == [BIPOLAR, BIPOLAR]
    assert computes[2].out_type == FixedType(8, 7) and not computes[2].relu
    assert not any(isinstance(la, SignLayer) for la in net.layers)


def test_an_si_unit_maps_to_sign_branch_sigmoid_table_gate_and_join():
    model, x = _trained_like("mnist1d_si")
    net = quantize_graph(model, x)
    by_name = {la.name: la for la in net.layers}
    unit = by_name["blocks_0_0"]
    assert isinstance(unit, AddLayer) and unit.inputs == ("blocks_0_0_binary", "blocks_0_0_gated")
    assert unit.out_type == FixedType(8, 7)  # hardtanh after the unit's batch norm
    binary = by_name["blocks_0_0_binary"]
    sign = by_name[binary.inputs[0]]
    assert binary.kind == "xnor" and isinstance(sign, SignLayer)
    # the sign of the stem's value before rounding: a threshold on its accumulator
    assert sign.inputs == ("stem_0",) and sign.threshold is not None
    lut = by_name["blocks_0_0_sigmoid"]
    assert isinstance(lut, LutLayer) and lut.table.size == 256
    assert lut.table.min() >= 0 and lut.table.max() <= 127  # sigmoid in [0, 1)
    assert isinstance(by_name["blocks_0_0_gated"], MulLayer)
    ops = {n.op_type for n in build_qonnx(net).graph.node}
    assert {"IntLut", "IntMul", "IntAdd", "XnorConv", "BinaryThreshold"} <= ops


def test_the_sign_of_a_relu_output_is_the_sign_of_its_codes():
    """Plain binary basic blocks read ReLU outputs: their sign is +1 whatever the rounding,
    so the sign layer reads the codes (no threshold)."""
    model, x = _trained_like("resnet18_binary")
    signs = [la for la in quantize_graph(model, x).layers if isinstance(la, SignLayer)]
    assert signs and all(la.threshold is None for la in signs)


def test_partial_ceil_mode_windows_are_refused_naming_the_unit():
    """A frame of 19 pooled by 2 with ceil_mode: the last window averages one position,
    the others two; no exact pool computes that."""
    model = build("mnist1d", "binary", 0.25, si=True, length=38).eval()
    x = np.random.default_rng(0).normal(size=(8, 1, 38)).astype(np.float32)
    message = (
        r"layer 'blocks_1_0' \(SqueezeInteraction\): its shortcut's ceil-mode average pool "
        r"of stride 2 over a frame of 19"
    )
    with pytest.raises(QuantizationError, match=message):
        quantize_graph(model, x)


class _Net(nn.Module):
    def __init__(self, binary_input: bool = True, lo: float = -1.0) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.conv = BinaryConv2d(4, 4, 3, padding=1, binary_input=binary_input)
        self.fc = nn.Linear(4 * 8 * 8, 3)
        self.lo = lo

    def forward(self, x):
        y = nn.functional.hardtanh(self.stem(x), self.lo, 1.0)
        return self.fc(self.conv(y).flatten(1))


@pytest.mark.parametrize(
    "net, message",
    [
        (_Net(binary_input=False), r"node 'conv' .*binary_input=False"),
        (_Net(lo=0.0), r"node 'hardtanh' .*hardtanh\(0.0, 1.0\): only the ±1 clamp"),
    ],
)
def test_what_has_no_exact_form_is_refused_by_node(net, message):
    x = np.random.default_rng(0).normal(size=(4, 1, 8, 8)).astype(np.float32)
    with pytest.raises(QuantizationError, match=message):
        quantize_graph(net.eval(), x)


@pytest.mark.parametrize("name", ["binary_resnet18", "mnist1d_si"])
def test_qat_exports_the_fake_quantized_weights_on_ptq_types(name):
    """QAT (``quant.graph_binary_qat``): after a few fine-tuning steps the export keeps
    PTQ's types, its multiplication weights are the fake-quantized weights' codes, and
    every backend gives the same codes on every layer."""
    from adderflow.quant.graph_binary_qat import binary_graph_qat_network, to_binary_graph_qat

    model, x = _trained_like(name, seed=3)
    start = quantize_graph(model, x)
    qat = to_binary_graph_qat(model, x)
    qat.train()
    opt = torch.optim.SGD(qat.parameters(), lr=0.05)
    y = torch.from_numpy(np.random.default_rng(3).integers(0, 10, len(x)))
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(qat(torch.from_numpy(x)), y).backward()
        opt.step()
    net = binary_graph_qat_network(qat)
    types = {la.name: getattr(la, "out_type", None) for la in net.layers}
    assert types == {la.name: getattr(la, "out_type", None) for la in start.layers}
    modules = dict(qat.gm.named_modules())
    checked = 0
    for layer in net.layers:
        module = modules.get(layer.name.replace("_", "."))
        if isinstance(layer, ComputeLayer) and layer.kind == "mul" and module is not None:
            w = module.weight.detach().double().numpy() * 2.0**layer.w_type.frac
            assert np.array_equal(layer.weight.reshape(w.shape), w), layer.name
            checked += 1
    assert checked == sum(isinstance(la, ComputeLayer) and la.kind == "mul" for la in net.layers)
    ir = build_qonnx(net)
    samples = np.concatenate([x[:6], np.full_like(x[:1], 9.0), np.full_like(x[:1], -9.0)])
    ref = run_reference(ir, samples)
    lowered = lower_to_standard_onnx(ir, expose_layers=True)
    for got in (run_integer_model(net, samples), run_qonnx(ir, samples),
                run_onnxruntime(lowered, samples)):  # fmt: skip
        assert compare(ir, ref, got).first is None
