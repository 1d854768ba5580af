"""Post-training quantization of a trained binary ``BlockNet`` (DESIGN.md rule 6).

A binary ``digits_net`` is ``conv → BN → hardtanh`` stem, binary conv blocks (``sign(x)``
convolved with ``alpha[o]·sign(w)``, BN, hardtanh, max pool), a hidden dense
multiplication layer and the classifier. What each part becomes:

- **Binary convolution** → ``kind="xnor"``: weight codes ``sign(w)`` (``sign(0) = +1``),
  stored as packed bits in the IR; its accumulator is ``Σ a·w = 2·popcount(xnor) − K``
  over the taps that vote. ``BinaryConv2d`` pads ``sign(x)`` with zeros, which multiply to
  nothing, so padded taps do not vote (the IR masks them): exact, not approximated. The
  per-channel ``alpha`` is a positive real scale, folded into what follows.
- **A layer whose output feeds a binary layer** (the stem, a binary conv before another):
  BN, hardtanh and the next layer's ``sign`` fold into a ``Threshold``: ``sign(hardtanh(y))
  = sign(y)`` and max pooling commutes with the sign, so ``+1 iff gain·(scale·acc + bias −
  mean) + beta >= 0``, folded in exact rational arithmetic on the float64 parameters
  (``fixed.fit_threshold``). The only difference from the float model is float32
  rounding near the threshold (and, for the stem, the quantized input and weights).
- **A layer whose output feeds a multiplication layer** (the last binary conv before the
  dense layer, the dense layer before the classifier): BN folds into a requantizer as in
  PTQ, and hardtanh into the saturation of ``fixed<b, b-1>`` (range ``[-1, 1 - 2^-(b-1)]``:
  the upper clip lands one LSB below +1). Those layers read ``fixed<b, b-1>``.
- The stem takes the image on a calibrated ``fixed<b, f>``; the classifier keeps its full
  accumulator (``ptq.classifier_layer``).

Refused, naming the block: SqueezeInteraction (DGRL SI) units, 1-D networks, binary layers
with full-precision inputs (``binary_input=False``), grouped binary convolutions, adder
layers mixed in, a binary first or last layer, an activation other than hardtanh.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch
from torch import nn

from adderflow.errors import QuantizationError
from adderflow.fixed import (
    BIPOLAR,
    BipolarType,
    FixedType,
    RequantParams,
    Threshold,
    check_bits,
    fit_requant,
    fit_threshold,
    frac_for_range,
    mul_acc_bits,
    quantize,
    xnor_acc_bits,
)
from adderflow.models import BlockNet, ConvBlock, DenseBlock, Flatten
from adderflow.nn.binary import BinaryConv1d, SqueezeInteraction
from adderflow.quant.ptq import (
    _bn_terms,
    _classifier,
    _compute_module,
    _conv_geometry,
    _is_adder,
    _is_binary,
    _layer_name,
    assemble_network,
    calibrate,
)
from adderflow.quant.spec import ComputeLayer, QuantizedNetwork


def _where(index: int, block: nn.Module, sub: str = "") -> str:
    return f"block {index} ({type(block).__name__}{'.' + sub if sub else ''})"


def check_binary_network(model: nn.Module) -> None:
    """Refuse, naming the block, what the binary path cannot express exactly."""
    if not isinstance(model, BlockNet):
        raise QuantizationError(
            f"binary export takes a 2-D BlockNet (digits_net), got {type(model).__name__}"
        )
    computes = [
        index for index, block in enumerate(model.blocks) if _compute_module(block) is not None
    ]
    for index, block in enumerate(model.blocks):
        for sub, module in block.named_modules():
            if isinstance(module, SqueezeInteraction):
                raise QuantizationError(
                    f"{_where(index, block, sub)}: SqueezeInteraction (DGRL SI) units are not "
                    "on the hardware path: their full-precision shortcut and attention gate "
                    "have no IR op; train plain binary convolutions (distill.dgrl_si=false)"
                )
        if isinstance(block, Flatten):
            continue
        if not isinstance(block, (ConvBlock, DenseBlock)):
            raise QuantizationError(f"{_where(index, block)} is not supported by binary export")
        layer = _compute_module(block)
        if isinstance(layer, (BinaryConv1d, nn.Conv1d)):
            raise QuantizationError(f"{_where(index, block)}: 1-D layers are not exported yet")
        if _is_adder(layer):
            raise QuantizationError(
                f"{_where(index, block)}: an adder layer in a binary network is not exported"
            )
        hidden = isinstance(block, ConvBlock) or block.bn is not None
        if hidden and block.act is not nn.functional.hardtanh:
            raise QuantizationError(
                f"{_where(index, block)}: binary export folds hardtanh (sign) activations; "
                f"this block uses {getattr(block.act, '__name__', block.act)}"
            )
        if not _is_binary(layer):
            continue
        if index in (computes[0], computes[-1]):
            raise QuantizationError(
                f"{_where(index, block)}: the first and last layers stay multiplication "
                "layers (DESIGN.md rule 7); a binary one is not exported"
            )
        if not layer.binary_input:
            raise QuantizationError(
                f"{_where(index, block)}: binary weights with full-precision inputs "
                "(binary_input=False) have no IR op yet"
            )
        if layer.groups != 1:
            raise QuantizationError(
                f"{_where(index, block)}: grouped binary convolution (groups={layer.groups})"
            )


def _fractions(values: np.ndarray) -> list[Fraction]:
    return [Fraction(float(v)) for v in np.ravel(values)]


def fold_threshold(
    name: str,
    gain: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray,
    mean: np.ndarray,
    beta: np.ndarray,
    acc_bound: int,
) -> Threshold:
    """``sign(gain·(scale·acc + bias − mean) + beta)`` as an integer threshold, exactly.

    Every float64 parameter is taken as the exact rational it is, so the threshold is
    the true one for those values (``fixed.fit_threshold``), ties included.
    """
    g, s, b, m, e = (_fractions(v) for v in (gain, scale, bias, mean, beta))
    slope = [gi * si for gi, si in zip(g, s, strict=True)]
    intercept = [gi * (bi - mi) + ei for gi, bi, mi, ei in zip(g, b, m, e, strict=True)]
    return fit_threshold(slope, intercept, acc_bound, layer=name)


def fold_requant(
    name: str,
    gain: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray,
    mean: np.ndarray,
    beta: np.ndarray,
    acc_bits: int,
    out_type: FixedType,
    multiplier_bits: int,
    shift_only: bool,
) -> RequantParams:
    """``gain·(scale·acc + bias − mean) + beta`` in ``out_type`` codes, as ``fit_requant``
    does it for PTQ: centred on each channel's mean, in accumulator codes."""
    live = scale > 0
    safe = np.where(live, scale, 1.0)
    center = np.where(live, (mean - bias) / safe, 0.0)
    offset = np.where(live, beta, gain * (bias - mean) + beta)
    return fit_requant(
        gain * scale * 2.0**out_type.frac,
        offset * 2.0**out_type.frac,
        acc_bits,
        multiplier_bits,
        layer=name,
        shift_only=shift_only,
        center=center,
    )


@torch.no_grad()
def binary_hidden_layer(
    name: str,
    block: nn.Module,
    types: tuple,
    out_type: FixedType | BipolarType,
    multiplier_bits: int = 16,
    shift_only: bool = False,
) -> ComputeLayer:
    """A hidden block (binary or multiplication layer, BN, hardtanh) as a ``ComputeLayer``
    ending in a ``Threshold`` when ``out_type`` is ``BIPOLAR``, else in a requantizer."""
    layer = _compute_module(block)
    in_type, w_type = types
    w = layer.weight.detach().double().numpy()
    out_ch, terms = w.shape[0], int(np.prod(w.shape[1:]))
    if _is_binary(layer):
        kind, weight = "xnor", np.where(w >= 0, 1, -1).astype(np.int64)
        scale = np.abs(w).reshape(out_ch, -1).mean(axis=1)  # alpha: z = alpha · acc
        acc_bits = xnor_acc_bits(terms)
        bound = terms
    else:
        kind, weight = "mul", quantize(w, w_type)
        scale = np.full(out_ch, 2.0 ** -(in_type.frac + w_type.frac))
        acc_bits = mul_acc_bits(in_type.bits, w_type.bits, terms)
        bound = 1 << (acc_bits - 1)
    bias = np.zeros(out_ch)
    if layer.bias is not None:
        bias = layer.bias.detach().double().numpy()
    gain, mean, beta = _bn_terms(block.bn)
    if isinstance(out_type, BipolarType):
        stage = fold_threshold(name, gain, scale, bias, mean, beta, bound)
    else:
        stage = fold_requant(
            name, gain, scale, bias, mean, beta, acc_bits, out_type, multiplier_bits, shift_only
        )
    return ComputeLayer(
        name=name,
        kind=kind,
        weight=weight,
        in_type=in_type,
        w_type=w_type,
        acc_bits=acc_bits,
        requant=stage,
        out_type=out_type,
        relu=False,
        **_conv_geometry(layer),
    )


def quantize_binary_network(
    model: BlockNet,
    calib_x: np.ndarray,
    bits: int = 8,
    multiplier_bits: int = 16,
    shift_only: bool = False,
    weight_bits: int | None = None,
) -> QuantizedNetwork:
    """PTQ of a trained binary ``BlockNet``: binary layers as ``xnor``, thresholds where a
    layer feeds a binary one, ``bits``-bit requantization (hardtanh saturating) elsewhere.

    ``bits`` is the width of the image codes and of the activations the multiplication
    layers read; ``weight_bits`` their weight width (default ``bits``).
    """
    check_bits(bits)
    w_bits = check_bits(bits if not weight_bits else weight_bits, "weight bit width")
    check_binary_network(model)
    model.eval()
    peaks = calibrate(model, calib_x)
    hardtanh = FixedType(bits, bits - 1)
    types: dict[str, tuple] = {}
    for index, block in enumerate(model.blocks):
        layer = _compute_module(block)
        if layer is None:
            continue
        name = _layer_name(index, block)
        if _is_binary(layer):
            types[name] = (BIPOLAR, BIPOLAR)
            continue
        # The first layer reads the image; every later one a hardtanh output.
        in_type = hardtanh
        if not types:
            in_type = FixedType(bits, frac_for_range(peaks[str(index)], bits))
        w_peak = float(layer.weight.detach().abs().max())
        types[name] = (in_type, FixedType(w_bits, frac_for_range(w_peak, w_bits)))

    def hidden(name: str, block: nn.Module, out_type) -> ComputeLayer:
        return binary_hidden_layer(name, block, types[name], out_type, multiplier_bits, shift_only)

    def classifier(name: str, block: DenseBlock) -> ComputeLayer:
        return _classifier(name, block, types[name])

    return assemble_network(model, types, tuple(calib_x.shape[1:]), hidden, classifier)
