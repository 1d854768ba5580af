"""brevitas QAT: the fake-quantized model, the integer network and the reference agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from brevitas.nn import QuantIdentity
from brevitas.quant import Int8ActPerTensorFloatMinMaxInit

from adderflow.errors import QuantizationError
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.models import digits_net
from adderflow.quant.integer_model import run_integer_model
from adderflow.quant.qat import (
    QuantAdderConv2d,
    freeze,
    qat_network,
    run_fake_quant,
    to_qat,
)
from adderflow.quant.spec import ComputeLayer
from adderflow.sim.executor import run_reference


def _trained_like(seed: int = 0, width: int = 4):
    """A digits network with non-trivial batch-norm statistics (a few train-mode passes)."""
    torch.manual_seed(seed)
    model = digits_net("adder", width)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (64, 1, 8, 8)).astype(np.float32)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.from_numpy(x))
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval(), x


def _step(model, x: np.ndarray, seed: int = 0) -> None:
    """One SGD step, so the QAT weights and scales are not the float model's."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (len(x),), generator=gen)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    model.train()
    torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), y).backward()
    opt.step()
    model.eval()


def _inputs(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.5, 1.5, (12, 1, 8, 8)).astype(np.float32)
    x[0], x[1] = 1e3, -1e3  # every input code at its max, then at its min
    return x


@pytest.mark.parametrize(
    ("bits", "weight_bits"), [(2, 2), (3, 3), (4, 4), (4, 8), (5, 5), (6, 3), (8, 8), (12, 6),
                              (16, 16)]
)  # fmt: skip
def test_fake_quant_equals_integer_network_and_reference(bits: int, weight_bits: int):
    float_model, calib = _trained_like(seed=bits)
    model = to_qat(float_model, calib, bits, weight_bits)
    _step(model, calib, seed=bits)
    net = qat_network(model, (1, 8, 8))
    x = _inputs(bits)
    fake = run_fake_quant(model, net, x)
    integer = run_integer_model(net, x)
    reference = run_reference(build_qonnx(net), x)
    assert set(fake) == set(integer)
    for name in integer:
        np.testing.assert_array_equal(fake[name], integer[name], err_msg=name)
        np.testing.assert_array_equal(reference[name], integer[name], err_msg=name)
    assert fake["input_codes"].max() == (1 << (bits - 1)) - 1
    assert fake["input_codes"].min() == -(1 << (bits - 1))


def test_adder_layers_share_one_power_of_two_quantizer():
    float_model, calib = _trained_like()
    model = to_qat(float_model, calib, 4, 8)
    adders = [m for m in model.modules() if isinstance(m, QuantAdderConv2d)]
    assert adders
    for layer in adders:
        x_scale = layer.in_quant(torch.zeros(1)).scale
        assert torch.equal(layer.quant_weight().scale, x_scale)
    net = qat_network(model, (1, 8, 8))
    computes = [layer for layer in net.layers if isinstance(layer, ComputeLayer)]
    for layer in computes:
        if layer.kind == "adder":
            assert layer.in_type == layer.w_type and layer.in_type.bits == 4
        else:
            assert layer.in_type.bits == 4 and layer.w_type.bits == 8
        w = layer.weight
        assert w.min() >= layer.w_type.qmin and w.max() <= layer.w_type.qmax


def test_qat_starts_on_ptq_scales():
    """Initial scales are exactly PTQ's (frac_for_range of the calibration peak)."""
    from adderflow.quant.ptq import quantize_network

    float_model, calib = _trained_like()
    ptq = quantize_network(float_model, calib, 6)
    qat = qat_network(to_qat(float_model, calib, 6), (1, 8, 8))
    for a, b in zip(ptq.layers, qat.layers, strict=True):
        if isinstance(a, ComputeLayer):
            assert a.in_type == b.in_type, a.name


def test_a_float_scale_is_refused_naming_the_layer():
    float_model, calib = _trained_like()
    model = to_qat(float_model, calib, 8)
    model.blocks[1].conv.in_quant = QuantIdentity(
        act_quant=Int8ActPerTensorFloatMinMaxInit, min_val=-3.0, max_val=3.0,
        return_quant_tensor=True,
    )  # fmt: skip
    with pytest.raises(QuantizationError, match="b1_adder_conv input.*not a power of two"):
        qat_network(model, (1, 8, 8))


def test_impossible_bit_width_is_refused():
    float_model, calib = _trained_like()
    with pytest.raises(QuantizationError, match="QAT bit width 1"):
        to_qat(float_model, calib, 1)
    with pytest.raises(QuantizationError, match="QAT weight bit width 17"):
        to_qat(float_model, calib, 8, 17)


def test_freeze_keeps_batch_norm_in_eval_and_scales_fixed():
    float_model, calib = _trained_like()
    model = to_qat(float_model, calib, 4)
    freeze(model)
    freeze(model)  # idempotent: one hook per module
    bn = model.blocks[1].bn
    before = bn.running_mean.clone()
    scales = {n: p.detach().clone() for n, p in model.named_parameters() if "scaling_impl" in n}
    assert scales and all(
        not p.requires_grad for n, p in model.named_parameters() if "scaling_impl" in n
    )
    _step(model, calib)
    assert torch.equal(bn.running_mean, before)
    assert len(bn._forward_pre_hooks) == 1
    for name, param in model.named_parameters():
        if name in scales:
            assert torch.equal(param, scales[name])
