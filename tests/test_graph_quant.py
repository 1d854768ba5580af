"""quantize_graph: any torch.fx-traceable network to the quantized-network spec.

Every test compares integer codes exactly: the torch integer model against the NumPy
reference executor on the exported IR.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from adderflow.errors import QuantizationError
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.nn import AdderConv1d, AdderConv2d, AdderLinear
from adderflow.quant.graph_ptq import quantize_graph
from adderflow.quant.integer_model import predict_codes, run_integer_model
from adderflow.quant.spec import ComputeLayer, PoolLayer, ReshapeLayer
from adderflow.sim.compare import compare
from adderflow.sim.executor import run_reference


def settled(model: nn.Module, x: np.ndarray, seed: int = 0) -> nn.Module:
    """Batch-norm statistics of ``x`` and random affine terms, as after training."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches below
            m.weight.data = 0.5 + torch.rand(m.weight.shape, generator=gen)
            m.bias.data = torch.rand(m.bias.shape, generator=gen) - 0.5
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(x))
    return model.eval()


def signals(shape: tuple[int, ...], n: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype(np.float32)


def assert_exact(net, x: np.ndarray) -> None:
    """The torch integer model equals the reference on the exported IR, code for code."""
    model = build_qonnx(net)
    result = compare(model, run_reference(model, x), run_integer_model(net, x))
    assert result.first is None, result.first
    assert result.mismatches == 0 and result.samples == len(x)


def agreement(model: nn.Module, net, x: np.ndarray) -> float:
    with torch.no_grad():
        floats = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((predict_codes(net, x).argmax(1) == floats).mean())


class LineNet(nn.Module):
    """Conv (bias) → BN → ReLU → max pool → hidden conv → BN → ReLU → avg pool → flatten
    → hidden dense → BN → ReLU → linear, written with modules and functions mixed."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        conv = AdderConv2d if kind == "adder" else nn.Conv2d
        dense = AdderLinear if kind == "adder" else nn.Linear
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.conv = conv(4, 6, 3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(6)
        self.dense = dense(6 * 2 * 2, 8)
        self.bn3 = nn.BatchNorm1d(8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = self.pool(nn.functional.relu(self.bn1(self.stem(x))))
        x = nn.functional.avg_pool2d(torch.relu(self.bn2(self.conv(x))), 2)
        x = x.view(x.shape[0], -1)
        return self.fc(self.bn3(self.dense(x)).relu())


@pytest.mark.parametrize("kind", ["adder", "cnn"])
@pytest.mark.parametrize("bits", [4, 8])
def test_line_network_is_exact_and_tracks_the_float_model(kind, bits):
    torch.manual_seed(bits)
    x = signals((1, 8, 8), seed=bits)
    model = settled(LineNet(kind), x, seed=bits)
    net = quantize_graph(model, x, bits)
    kinds = [layer.kind for layer in net.layers if isinstance(layer, ComputeLayer)]
    assert kinds == ["mul", "adder", "adder", "mul"] if kind == "adder" else ["mul"] * 4
    pools = [layer.mode for layer in net.layers if isinstance(layer, PoolLayer)]
    assert pools == ["max", "avg"]
    assert_exact(net, x)
    if bits == 8:
        assert agreement(model, net, x) >= 0.85


class Line1d(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        conv = AdderConv1d if kind == "adder" else nn.Conv1d
        self.stem = nn.Sequential(nn.Conv1d(2, 4, 5, padding=2), nn.BatchNorm1d(4), nn.ReLU())
        self.body = nn.Sequential(conv(4, 4, 3, stride=2, padding=1), nn.BatchNorm1d(4), nn.ReLU())
        self.pool = nn.MaxPool1d(2)
        self.fc = nn.Linear(4 * 4, 3)

    def forward(self, x):
        return self.fc(self.pool(self.body(self.stem(x))).flatten(1))


@pytest.mark.parametrize("kind", ["adder", "cnn"])
def test_one_d_network_enters_as_height_one(kind):
    torch.manual_seed(0)
    x = signals((2, 16))
    net = quantize_graph(settled(Line1d(kind), x), x)
    assert isinstance(net.layers[0], ReshapeLayer) and net.layers[0].shape == (2, 1, 16)
    conv = net.layers[2]
    assert conv.weight.shape == (4, 4, 1, 3) and conv.strides == (1, 2)
    assert conv.pads == (0, 1, 0, 1)
    assert_exact(net, x)


class JoinNet(nn.Module):
    """Every join and pool the zoo does not reach on 8×8 inputs: a depthwise and a 1×1
    branch added (ReLU folded), concatenated with the stem, a padded max pool, a
    squeeze-excite gate, a global mean over 3×3 (not a power of two), a no-op slice."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        conv = AdderConv2d if kind == "adder" else nn.Conv2d
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.depthwise = nn.Sequential(conv(4, 4, 3, padding=1, groups=4), nn.BatchNorm2d(4))
        self.point = nn.Sequential(conv(4, 4, 1), nn.BatchNorm2d(4))
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.reduce, self.expand = nn.Conv2d(8, 2, 1), nn.Conv2d(2, 8, 1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        a = self.stem(x)
        b = nn.functional.relu(self.depthwise(a) + self.point(a))
        h = self.pool(torch.cat([a, b], dim=1)[:, :8])
        gate = self.expand(nn.functional.relu(self.reduce(h.mean((2, 3), keepdim=True))))
        h = h * nn.functional.hardsigmoid(gate)
        return self.fc(h.mean(dim=(2, 3)))


@pytest.mark.parametrize("kind", ["adder", "cnn"])
@pytest.mark.parametrize("bits", [4, 8])
def test_joins_pools_and_gates_are_exact(kind, bits):
    from adderflow.quant.spec import AddLayer, ConcatLayer, MulLayer, SumPoolLayer

    torch.manual_seed(bits)
    x = signals((1, 6, 6), seed=bits)
    model = settled(JoinNet(kind), x, seed=bits)
    net = quantize_graph(model, x, bits)
    kinds = {type(layer) for layer in net.layers}
    assert {AddLayer, ConcatLayer, MulLayer, SumPoolLayer} <= kinds
    add = next(layer for layer in net.layers if isinstance(layer, AddLayer))
    assert add.relu and min(add.shifts) == 0
    depthwise = next(layer for layer in net.layers if layer.name.startswith("depthwise"))
    assert depthwise.groups == 4 and depthwise.weight.shape == (4, 1, 3, 3)
    pool = next(layer for layer in net.layers if isinstance(layer, PoolLayer))
    assert pool.mode == "max" and pool.pads == (1, 1, 1, 1)
    concat = next(layer for layer in net.layers if isinstance(layer, ConcatLayer))
    assert len({net.type_of(name) for name in concat.inputs}) == 1
    assert_exact(net, x)


ZOO_CASES = [
    ("resnet20", "adder", (1, 8, 8)),
    ("ghostnet", "adder", (1, 8, 8)),
    ("mnist1d", "adder", (1, 40)),
    ("mnist1d", "cnn", (1, 40)),
]


@pytest.mark.parametrize(("name", "kind", "shape"), ZOO_CASES)
def test_zoo_networks_quantize_exactly(name, kind, shape):
    from adderflow.models import build

    torch.manual_seed(0)
    x = signals(shape, n=16)
    model = settled(build(name, kind, 0.25, num_classes=10, in_channels=shape[0]), x)
    assert_exact(quantize_graph(model, x), x)


class Unsupported(nn.Module):
    def __init__(self, layer: nn.Module, conv: nn.Module | None = None) -> None:
        super().__init__()
        self.conv = conv or nn.Conv2d(1, 2, 3, padding=1)
        self.layer = layer

    def forward(self, x):
        return self.layer(self.conv(x))


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        return self.conv(x) if x.sum() > 0 else -self.conv(x)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (Unsupported(nn.GELU()), r"node 'layer' \(module 'layer', GELU\).*not on the export path"),
        (Unsupported(nn.Hardtanh()), r"'layer'.*hardtanh clamps at ±1"),
        (Unsupported(nn.Identity(), nn.Conv2d(1, 2, 3, dilation=2)), r"'conv'.*dilation \(2, 2\)"),
        (DataDependent(), r"'DataDependent' cannot be traced by torch.fx"),
        (Unsupported(nn.Sigmoid()), r"node 'layer' \(module 'layer', Sigmoid\)"),
    ],
)
def test_unsupported_models_are_refused_by_name(model, message):
    with pytest.raises(QuantizationError, match=message):
        quantize_graph(model.eval(), signals((1, 6, 6), n=4))


@pytest.mark.parametrize(("net_class", "shape"), [(Line1d, (2, 16)), (JoinNet, (1, 6, 6))])
def test_graph_qat_exports_its_fake_quant_grid(net_class, shape):
    """QAT fine-tunes on PTQ's fixed types; export keeps them, its weight codes are the
    fake-quantized weights exactly, and every layer's codes computed with the fine-tuned
    modules' own arithmetic equal the reference's (batch norm folds at export)."""
    from adderflow.quant.graph_qat import graph_qat_network, run_graph_fake_quant, to_graph_qat

    torch.manual_seed(0)
    x = signals(shape, n=32)
    model = settled(net_class("adder"), x)
    qat = to_graph_qat(model, x, bits=6)
    y = torch.from_numpy(np.arange(len(x)) % 3)
    opt = torch.optim.SGD(qat.parameters(), lr=0.05)
    for _ in range(2):
        loss = nn.functional.cross_entropy(qat.train()(torch.from_numpy(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net = graph_qat_network(qat)
    ptq = quantize_graph(model, x, bits=6)
    assert [getattr(a, "out_type", None) for a in net.layers] == [
        getattr(b, "out_type", None) for b in ptq.layers
    ]
    modules = {op.name: op.module for op in qat.graph.ops if op.kind == "compute"}
    for layer in (la for la in net.layers if isinstance(la, ComputeLayer)):
        fake = modules[layer.name].weight.detach().double().numpy() * 2.0**layer.w_type.frac
        assert np.array_equal(fake.reshape(layer.weight.shape), layer.weight)
    assert agreement(qat, net, x) >= 0.9
    ir = build_qonnx(net)
    result = compare(ir, run_reference(ir, x), run_graph_fake_quant(qat, net, x))
    assert result.first is None, result.first
    assert result.mismatches == 0 and result.samples == len(x)


RUN_CASES = [
    # the CIFAR ResNet on 1-channel 8×8 digits, QAT on PTQ's grid
    ["model.arch=resnet20", "model.width_mult=0.25", "quant.mode=qat", "quant.qat_epochs=1"],
    ["data.name=mnist1d", "model.arch=mnist1d", "model.width_mult=0.25"],  # 1-D, PTQ
    # the multiplication baseline: a CNN student, exported as such
    ["model.arch=resnet20", "model.width_mult=0.25", "distill.student=cnn"],
]


@pytest.mark.parametrize("sets", RUN_CASES, ids=["resnet20-qat", "mnist1d-ptq", "resnet20-cnn"])
def test_zoo_runs_through_export_and_verify(sets, tmp_path):
    """``adderflow run --set model.arch=...``: train, quantize, export, verify with 0
    mismatches between the torch integer model, the reference, qonnx and onnxruntime on
    the whole test split."""
    import json

    from adderflow.cli import main

    argv = ["run", "--quick", "--out", str(tmp_path / "run"), "--to", "verify"]
    for pair in [*sets, "distill.method=none", "student.epochs=1"]:
        argv += ["--set", pair]
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    equivalence = metrics["equivalence"]
    assert set(equivalence) >= {"torch_vs_reference", "qonnx_exec", "onnxruntime"}
    tests = 360 if "model.arch=resnet20" in sets else 1000  # the whole test split
    for result in equivalence.values():
        assert result == {"samples": tests, "mismatches": 0}
