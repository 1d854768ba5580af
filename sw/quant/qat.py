"""Quantization-aware training with brevitas, on the numeric contract's power-of-two grid.

Choices (docs/quantization.md measures them against PTQ):
- Every compute layer owns one input quantizer: a brevitas ``QuantIdentity``, signed,
  per-tensor, power-of-two scale (``fixed<b, f>``), the scale a learned parameter
  initialised from the calibration peak exactly where PTQ would put it.
- An adder layer applies that same quantizer to its weights: one quantizer used twice, so
  input and weights share one scale by construction. Weights beyond its range clamp
  during training, so QAT learns with the clamp and export needs no bias compensation.
- Multiplication layers (the first conv, the classifier) are brevitas ``QuantConv2d`` /
  ``QuantLinear`` with a power-of-two per-tensor weight quantizer whose width may differ
  from the activations'. The classifier's bias is quantized at ``s_x · s_w`` (brevitas
  ``Int32Bias``): exactly the integer accumulator's scale.
- Batch norm stays float while training; export folds it into integer requantization with
  the same code as PTQ (``ptq.requantized_layer``).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
from brevitas.quant import Int8WeightPerTensorFixedPoint, Int32Bias
from brevitas.quant.fixed_point import Int8ActPerTensorFixedPointMinMaxInit
from torch import Tensor, nn

from adderflow.errors import QuantizationError
from adderflow.fixed import FixedType, check_bits, frac_for_range
from adderflow.models import BlockNet, ConvBlock, DenseBlock
from adderflow.nn import AdderConv2d, AdderLinear, adder_conv2d, adder_linear
from adderflow.quant.integer_model import _requantize, pool_codes
from adderflow.quant.ptq import (
    _compute_module,
    _layer_name,
    assemble_network,
    calibrate,
    classifier_layer,
    requantized_layer,
)
from adderflow.quant.spec import ComputeLayer, FlattenLayer, PoolLayer, QuantizedNetwork


def act_quantizer(bits: int, peak: float) -> QuantIdentity:
    """Signed power-of-two quantizer whose initial scale is PTQ's for ``peak``."""
    limit = ((1 << (bits - 1)) - 1) * 2.0 ** -frac_for_range(peak, bits)
    return QuantIdentity(
        act_quant=Int8ActPerTensorFixedPointMinMaxInit,
        bit_width=bits,
        min_val=-limit,
        max_val=limit,
        return_quant_tensor=True,
    )


class QuantAdderConv2d(nn.Module):
    """``AdderConv2d`` on quantized inputs and weights that share one quantizer."""

    is_adder = True

    def __init__(self, layer: AdderConv2d, in_quant: QuantIdentity) -> None:
        super().__init__()
        if layer.groups != 1 or tuple(layer.dilation) != (1, 1) or layer.p != 1.0:
            raise QuantizationError("QAT adder convolutions need groups=1, dilation=1, p=1")
        self.in_channels, self.out_channels = layer.in_channels, layer.out_channels
        self.kernel_size, self.stride = layer.kernel_size, layer.stride
        self.padding, self.dilation = layer.padding, layer.dilation
        self.weight = nn.Parameter(layer.weight.detach().clone())
        self.in_quant = in_quant

    def quant_weight(self):
        return self.in_quant(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        xq, wq = self.in_quant(x), self.quant_weight()
        return adder_conv2d(xq.value, wq.value, self.stride, self.padding)


class QuantAdderLinear(nn.Module):
    """``AdderLinear`` on quantized inputs and weights that share one quantizer."""

    is_adder = True

    def __init__(self, layer: AdderLinear, in_quant: QuantIdentity) -> None:
        super().__init__()
        if layer.p != 1.0:
            raise QuantizationError("QAT adder layers need p=1")
        self.in_features, self.out_features = layer.in_features, layer.out_features
        self.weight = nn.Parameter(layer.weight.detach().clone())
        self.in_quant = in_quant

    def quant_weight(self):
        return self.in_quant(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return adder_linear(self.in_quant(x).value, self.quant_weight().value)


class QuantMulConv2d(QuantConv2d):
    """A multiplication conv with its own power-of-two input quantizer."""

    def __init__(self, layer: nn.Conv2d, in_quant: QuantIdentity, w_bits: int) -> None:
        if layer.bias is not None or layer.groups != 1 or tuple(layer.dilation) != (1, 1):
            raise QuantizationError("QAT convolutions need bias=False, groups=1, dilation=1")
        super().__init__(
            layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
            padding=layer.padding, bias=False, weight_quant=Int8WeightPerTensorFixedPoint,
            weight_bit_width=w_bits,
        )  # fmt: skip
        self.weight.data.copy_(layer.weight.detach())
        self.in_quant = in_quant

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(self.in_quant(x))


class QuantMulLinear(QuantLinear):
    """A multiplication dense layer (the classifier) with an input quantizer and int32 bias."""

    def __init__(self, layer: nn.Linear, in_quant: QuantIdentity, w_bits: int) -> None:
        bias = layer.bias is not None
        super().__init__(
            layer.in_features, layer.out_features, bias=bias,
            weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=w_bits,
            bias_quant=Int32Bias if bias else None,
        )  # fmt: skip
        self.weight.data.copy_(layer.weight.detach())
        if bias:
            self.bias.data.copy_(layer.bias.detach())
        self.in_quant = in_quant

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(self.in_quant(x))


def _quantized_twin(layer: nn.Module, peak: float, bits: int, w_bits: int) -> nn.Module:
    in_quant = act_quantizer(bits, peak)
    if isinstance(layer, AdderConv2d):
        return QuantAdderConv2d(layer, in_quant)
    if isinstance(layer, AdderLinear):
        return QuantAdderLinear(layer, in_quant)
    if isinstance(layer, nn.Conv2d):
        return QuantMulConv2d(layer, in_quant, w_bits)
    if isinstance(layer, nn.Linear):
        return QuantMulLinear(layer, in_quant, w_bits)
    raise QuantizationError(f"QAT has no quantized twin for {type(layer).__name__}")


def to_qat(
    model: BlockNet,
    calib_x: np.ndarray,
    bits: int = 8,
    weight_bits: int | None = None,
    adder_scale: str = "activation",
) -> BlockNet:
    """A copy of a trained float ``model`` with brevitas quantizers, ready to fine-tune.

    ``weight_bits`` sets the multiplication layers' weight width (default ``bits``); adder
    weights always take their input's width, as they share its scale. ``adder_scale`` is
    where an adder layer's shared scale starts: covering the activations only
    (``activation``, weights beyond clamp) or activations and weights (``joint``).
    """
    if adder_scale not in ("activation", "joint"):
        raise QuantizationError(f"adder scale '{adder_scale}' is not one of activation, joint")
    check_bits(bits, "QAT bit width")
    w_bits = check_bits(bits if weight_bits is None else weight_bits, "QAT weight bit width")
    peaks = calibrate(model, calib_x)
    qat = copy.deepcopy(model)
    for index, block in enumerate(qat.blocks):
        layer = _compute_module(block)
        if layer is None:
            continue
        peak = peaks[str(index)]
        if adder_scale == "joint" and getattr(layer, "is_adder", False):
            peak = max(peak, float(layer.weight.detach().abs().max()))
        twin = _quantized_twin(layer, peak, bits, w_bits)
        setattr(block, "conv" if isinstance(block, ConvBlock) else "fc", twin)
    return qat


# ------------------------------------------------------------------------------ export


def _fixed_type(qt, what: str) -> FixedType:
    """``fixed<b, f>`` of a brevitas quant tensor; refuses a scale that is not ``2**-f``."""
    scale = float(qt.scale.detach().reshape(-1)[0])
    if qt.scale.numel() != 1:
        raise QuantizationError(f"{what}: per-channel scales are not on the hardware path")
    frac = -math.log2(scale)
    if not math.isfinite(frac) or frac != round(frac):
        raise QuantizationError(f"{what}: scale {scale} is not a power of two")
    return FixedType(int(qt.bit_width), int(round(frac)))


def _codes(qt, t: FixedType, what: str) -> np.ndarray:
    codes = qt.int().detach().numpy().astype(np.int64)
    if codes.size and (codes.min() < t.qmin or codes.max() > t.qmax):
        raise QuantizationError(f"{what}: codes leave the {t.bits}-bit range")
    return codes


def _layer_types(layer: nn.Module, name: str) -> tuple[FixedType, FixedType]:
    probe = torch.zeros(1, dtype=next(layer.parameters()).dtype)
    in_type = _fixed_type(layer.in_quant(probe), f"{name} input")
    if getattr(layer, "is_adder", False):
        return in_type, in_type
    return in_type, _fixed_type(layer.quant_weight(), f"{name} weight")


def _weight_codes(layer: nn.Module, types: tuple, name: str) -> np.ndarray:
    return _codes(layer.quant_weight(), types[1], f"{name} weight")


@torch.no_grad()
def qat_network(
    model: BlockNet, input_shape: tuple[int, ...], multiplier_bits: int = 16,
    shift_only: bool = False,
) -> QuantizedNetwork:  # fmt: skip
    """The integer network a QAT model computes: its codes, types, and folded batch norm."""
    model.eval()
    types = {}
    for index, block in enumerate(model.blocks):
        layer = _compute_module(block)
        if layer is not None:
            name = _layer_name(index, block)
            types[name] = _layer_types(layer, name)

    def hidden(name: str, block: nn.Module, out_type: FixedType) -> ComputeLayer:
        layer = _compute_module(block)
        weight = _weight_codes(layer, types[name], name)
        return requantized_layer(
            name, block, weight, types[name], out_type, multiplier_bits, shift_only
        )

    def classifier(name: str, block: DenseBlock) -> ComputeLayer:
        layer = block.fc
        weight = _weight_codes(layer, types[name], name)
        bias = np.zeros(weight.shape[0], dtype=np.int64)
        if layer.bias is not None:
            acc_frac = types[name][0].frac + types[name][1].frac
            bias = np.round(layer.bias.detach().double().numpy() * 2.0**acc_frac)
        return classifier_layer(name, weight, bias.astype(np.int64), types[name])

    return assemble_network(model, types, input_shape, hidden, classifier)


# ------------------------------------------------------------------- fake-quant execution


def _fake_accumulate(layer: nn.Module, spec: ComputeLayer, h: Tensor) -> Tensor:
    """The accumulator codes of one layer computed by its brevitas twin, in float64.

    The classifier's brevitas output includes its int32 bias, which the integer model adds
    in the requantizer: subtracting the exported bias leaves the accumulator, so a bias that
    brevitas quantized differently shows up as a mismatch.
    """
    x = h * 2.0**-spec.in_type.frac
    acc_scale = 2.0 ** -(spec.in_type.frac + (0 if spec.kind == "adder" else spec.w_type.frac))
    acc = layer(x) / acc_scale
    if isinstance(layer, QuantMulLinear) and layer.bias is not None:
        acc = acc - torch.from_numpy(spec.requant.bias.astype(np.float64))
    return acc


def _as_codes(name: str, t: Tensor) -> np.ndarray:
    values = t.numpy()
    codes = np.round(values)
    if not np.array_equal(codes, values):
        raise QuantizationError(f"fake quantization gave non-integer codes at {name}")
    return codes.astype(np.int64)


@torch.no_grad()
def run_fake_quant(model: BlockNet, net: QuantizedNetwork, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's codes from the brevitas model (float64 fake quantization).

    Quantizers, weights and accumulation are brevitas' and torch's; batch norm enters as
    the exported requantizer (the folding is what export changes, and float batch norm
    rounds differently). Keys match ``run_integer_model`` and the QONNX tensor names.
    """
    model = copy.deepcopy(model).double().eval()
    computes = [b for b in model.blocks if _compute_module(b) is not None]
    first = _compute_module(computes[0]).in_quant(torch.from_numpy(np.asarray(x)).double())
    outs = {"input_codes": first.value * 2.0**net.input_type.frac}
    h = outs["input_codes"]
    layers = iter(_compute_module(b) for b in computes)
    for spec in net.layers:
        if isinstance(spec, ComputeLayer):
            acc = _fake_accumulate(next(layers), spec, h)
            outs[f"{spec.name}_acc"] = acc
            h = _requantize(spec, acc)
        elif isinstance(spec, PoolLayer):
            h = pool_codes(spec, h)
        elif isinstance(spec, FlattenLayer):
            h = h.flatten(1)
        outs[f"{spec.name}_out"] = h
    return {name: _as_codes(name, t) for name, t in outs.items()}


# ------------------------------------------------------------------------------ freezing


def _eval_batch_norm(module: nn.Module, _inputs) -> None:
    module.training = False


def freeze(model: nn.Module) -> None:
    """Fix batch-norm statistics and quantizer scales for the rest of the fine-tune.

    A learned power-of-two scale near a rounding boundary flips between two values from
    step to step, and batch norm's running statistics average over both: training
    accuracy stays high while evaluation collapses (measured: 0.98 → 0.10 between epochs).
    Freezing both makes the last epochs train exactly the network that is exported.
    """
    for name, param in model.named_parameters():
        if "scaling_impl" in name:
            param.requires_grad_(False)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not getattr(
            module, "_adderflow_frozen", False
        ):
            module.register_forward_pre_hook(_eval_batch_norm)
            module._adderflow_frozen = True
