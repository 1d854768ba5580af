"""Post-training quantization: shared adder scales, BN folding, and export of a real model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adderflow.distill import HintonKD
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.models import digits_net
from adderflow.opcount import count_ops
from adderflow.quant.integer_model import predict_codes, run_integer_model
from adderflow.quant.ptq import quantize_network
from adderflow.quant.spec import ComputeLayer
from adderflow.sim.compare import compare
from adderflow.sim.executor import run_reference


def _randomized(kind: str, seed: int = 0, head: str = "dense"):
    """A digits net with non-trivial batch-norm statistics, as after training."""
    torch.manual_seed(seed)
    model = digits_net(kind, width=8, head=head)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-30, -5 if kind == "adder" else 5)
            m.running_var.uniform_(20, 200)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def _images(n: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 17, (n, 1, 8, 8)).astype(np.float32) / 16


@pytest.mark.parametrize("bits", [4, 8, 16])
def test_adder_layers_share_input_and_weight_scale(bits):
    net = quantize_network(_randomized("adder"), _images(), bits)
    compute = [layer for layer in net.layers if isinstance(layer, ComputeLayer)]
    assert [c.kind for c in compute] == ["mul", "adder", "adder", "adder", "mul"]
    for prev, layer in zip(compute, compute[1:], strict=False):
        assert prev.out_type == layer.in_type  # requantization targets the consumer's scale
        if layer.kind == "adder":
            assert layer.in_type == layer.w_type
    for layer in compute:
        assert layer.weight.dtype == np.int64
        assert layer.weight.min() >= layer.w_type.qmin and layer.weight.max() <= layer.w_type.qmax


def test_eight_bit_model_tracks_the_float_model():
    model = _randomized("adder", seed=1)
    x = _images(128, seed=1)
    net = quantize_network(model, x, 8)
    with torch.no_grad():
        float_pred = model(torch.from_numpy(x)).argmax(1).numpy()
    int_pred = predict_codes(net, x).argmax(1)
    assert (float_pred == int_pred).mean() >= 0.9
    logits = predict_codes(net, x) * 2.0**-net.output_type.frac
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.corrcoef(logits.ravel(), ref.ravel())[0, 1] > 0.99


@pytest.mark.parametrize("bits", [2, 4, 6, 8, 12, 16])
@pytest.mark.parametrize("kind", ["adder", "cnn"])
@pytest.mark.parametrize("head", ["dense", "gap"])
def test_exported_model_equals_quantized_torch_model(bits, kind, head):
    model = _randomized(kind, seed=bits, head=head)
    x = _images(32, seed=bits)
    net = quantize_network(model, x, bits)
    onnx_model = build_qonnx(net)
    result = compare(onnx_model, run_reference(onnx_model, x), run_integer_model(net, x))
    assert result.first is None, result.first
    assert result.mismatches == 0 and result.samples == 32


def test_op_counts_follow_the_addernet_convention():
    cnn, ann = (
        count_ops(digits_net("cnn", 16, head="dense"), (1, 8, 8)),
        count_ops(digits_net("adder", 16, head="dense"), (1, 8, 8)),
    )
    stem = 1 * 9 * 16 * 64  # first conv: multiplication layer in both
    head = 64 * 10
    hidden = 16 * 9 * 16 * 64 + 16 * 9 * 32 * 16 + 128 * 64
    assert cnn.mul == stem + hidden + head and cnn.add == cnn.mul
    assert ann.mul == stem + head
    assert ann.add == stem + head + 2 * hidden


def test_hinton_kd_matches_its_formula():
    torch.manual_seed(0)
    zs, zt = torch.randn(5, 10), torch.randn(5, 10)
    y = torch.randint(0, 10, (5,))
    kd = HintonKD(temperature=3.0, alpha=0.6)
    pt = torch.softmax(zt / 3, 1)
    kl = (pt * (pt.log() - torch.log_softmax(zs / 3, 1))).sum(1).mean()
    want = 0.4 * torch.nn.functional.cross_entropy(zs, y) + 0.6 * 9 * kl
    assert torch.allclose(kd(zs, zt, y), want, atol=1e-6)


@pytest.mark.parametrize("bits", [4, 8])
def test_shift_only_requantization_is_multiplier_free_and_exact(bits):
    model = _randomized("adder", seed=3)
    x = _images(64, seed=3)
    net = quantize_network(model, x, bits, shift_only=True)
    for layer in net.layers:
        if isinstance(layer, ComputeLayer):
            m = np.abs(layer.requant.multiplier)
            assert np.all((m == 0) | ((m & (m - 1)) == 0)), layer.name  # powers of two
    onnx_model = build_qonnx(net)
    result = compare(onnx_model, run_reference(onnx_model, x), run_integer_model(net, x))
    assert result.first is None and result.mismatches == 0
    full = quantize_network(model, x, bits)
    agree = (predict_codes(net, x).argmax(1) == predict_codes(full, x).argmax(1)).mean()
    assert agree >= 0.6  # coarser, but still the same network


def test_clamp_compensation_is_integer_exact():
    """Clamped weights plus the compensation equal the unclamped layer, for every input."""
    from adderflow.fixed import FixedType
    from adderflow.quant.ptq import _clamp_compensation
    from adderflow.sim.reference import adder_gemm

    t = FixedType(4, 2)
    rng = np.random.default_rng(0)
    weight = rng.uniform(-9, 9, (5, 12))  # far outside fixed<4,2>'s [-2, 1.75]
    raw = np.round(weight * 4).astype(np.int64)
    clamped = np.clip(raw, t.qmin, t.qmax)
    x = rng.integers(t.qmin, t.qmax + 1, (50, 12))
    x[:2] = [[t.qmin], [t.qmax]]  # the extremes too
    comp = _clamp_compensation(weight, t)
    assert np.array_equal(adder_gemm(x, clamped) - comp.astype(np.int64), adder_gemm(x, raw))


@pytest.mark.parametrize("bits", [4, 5, 8])
def test_activation_scale_mode_is_exact_across_backends(bits):
    model = _randomized("adder", seed=bits)
    x = _images(32, seed=bits)
    net = quantize_network(model, x, bits, adder_scale="activation")
    onnx_model = build_qonnx(net)
    result = compare(onnx_model, run_reference(onnx_model, x), run_integer_model(net, x))
    assert result.first is None and result.mismatches == 0
