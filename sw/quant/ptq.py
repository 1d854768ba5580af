"""Post-training quantization of a trained ``BlockNet`` to the numeric contract.

Choices (each the simplest exact one, documented for the QAT issue to stay compatible):
- Power-of-two scales from the calibration maximum, so nothing on calibration data clips.
- An adder layer's input and weight share one scale chosen from ``max(|x|, |w|)``; the
  previous layer's requantization targets exactly that scale.
- Batch norm (and the classifier's bias) fold into one per-channel integer affine
  requantization ``sat(round((acc*M + B) * 2**-s))``; ReLU folds into its lower bound.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from adderflow.errors import QuantizationError
from adderflow.fixed import (
    FixedType,
    RequantParams,
    adder_acc_bits,
    avg_pool_shift,
    check_bits,
    fit_requant,
    frac_for_range,
    mul_acc_bits,
    quantize,
    signed_bits,
)
from adderflow.models import BlockNet, ConvBlock, DenseBlock, Flatten
from adderflow.nn.binary import BinaryConv1d, BinaryConv2d, SqueezeInteraction
from adderflow.quant.spec import ComputeLayer, FlattenLayer, PoolLayer, QuantizedNetwork


@torch.no_grad()
def calibrate(model: BlockNet, x: np.ndarray, batch_size: int = 256) -> dict[str, float]:
    """Largest ``|input|`` seen by each compute layer, keyed by block index.

    An average pool's input counts towards the next compute layer's peak: the layer before
    the pool writes its codes in that layer's input type, and a mean has a smaller peak than
    the values it averages, so the peak after the pool alone would saturate them (a max
    pool keeps the peak, so it needs no such care).
    """
    peaks: dict[str, float] = {}
    hooks = []

    def record(key: str):
        def hook(_module, inputs, _output):
            peaks[key] = max(peaks.get(key, 0.0), float(inputs[0].abs().max()))

        return hook

    pools: list[str] = []  # average pools since the last compute layer
    fold: dict[str, list[str]] = {}
    for index, block in enumerate(model.blocks):
        layer = _compute_module(block)
        if isinstance(block, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            pools.append(f"pool{index}")
            hooks.append(block.register_forward_hook(record(pools[-1])))
        elif layer is not None:
            fold[str(index)], pools = pools, []
            hooks.append(layer.register_forward_hook(record(str(index))))
    model.eval()
    try:
        for i in range(0, len(x), batch_size):
            model(torch.from_numpy(x[i : i + batch_size]))
    finally:
        for handle in hooks:
            handle.remove()
    return {
        key: max([peak, *(peaks[p] for p in fold[key] if p in peaks)])
        for key, peak in peaks.items()
        if key in fold
    }


def _compute_module(block: nn.Module) -> nn.Module | None:
    if isinstance(block, ConvBlock):
        return block.conv
    if isinstance(block, DenseBlock):
        return block.fc
    return None


def _is_adder(layer: nn.Module) -> bool:
    """Float adder layers and their QAT twins (both declare ``is_adder``)."""
    return bool(getattr(layer, "is_adder", False))


def _is_binary(layer: nn.Module) -> bool:
    """A binary convolution (``sign(x) * alpha * sign(w)``), exported as a binary layer."""
    return isinstance(layer, (BinaryConv1d, BinaryConv2d))


def is_binary_network(model: nn.Module) -> bool:
    """A ``kind="binary"`` network, or any network holding binary layers or SI units."""
    binary = (BinaryConv1d, BinaryConv2d, SqueezeInteraction)
    return getattr(model, "kind", None) == "binary" or any(
        isinstance(m, binary) for m in model.modules()
    )


ADDER_SCALES = ("joint", "activation")


def _input_types(
    model: BlockNet, peaks: dict[str, float], bits: int, adder_scale: str, w_bits: int
) -> dict[str, tuple]:
    """``(in_type, w_type)`` per compute block, applying the shared-scale rule to adders.

    ``joint``: the shared scale covers both ``|x|`` and ``|w|`` (nothing clips).
    ``activation``: it covers ``|x|`` only and weights beyond it are clamped, their excess
    moved into the requantization bias (``_clamp_compensation``), after Nie et al. 2022.
    """
    types = {}
    for index, block in enumerate(model.blocks):
        layer = _compute_module(block)
        if layer is None:
            continue
        w_peak = float(layer.weight.detach().abs().max())
        x_peak = peaks[str(index)]
        if _is_adder(layer):
            peak = max(x_peak, w_peak) if adder_scale == "joint" else x_peak
            shared = FixedType(bits, frac_for_range(peak, bits))
            types[str(index)] = (shared, shared)
        else:
            in_type = FixedType(bits, frac_for_range(x_peak, bits))
            types[str(index)] = (in_type, FixedType(w_bits, frac_for_range(w_peak, w_bits)))
    return types


@torch.no_grad()
def _bn_terms(bn: nn.Module) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eval-mode batch norm as ``gain * (z - mean) + beta``, in float64."""
    gain = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    return gain.numpy(), bn.running_mean.double().numpy(), bn.bias.double().numpy()


def _hidden_layer(
    name: str,
    block: nn.Module,
    types: tuple,
    out_type: FixedType,
    multiplier_bits: int,
    shift_only: bool,
) -> ComputeLayer:
    layer = _compute_module(block)
    in_type, w_type = types
    weight = quantize(layer.weight.detach().double().numpy(), w_type)
    compensation = np.zeros(weight.shape[0])
    if _is_adder(layer):
        compensation = _clamp_compensation(layer.weight.detach().double().numpy(), w_type)
    return requantized_layer(
        name, block, weight, (in_type, w_type), out_type, multiplier_bits, shift_only,
        compensation,
    )  # fmt: skip


def requantized_layer(
    name: str,
    block: nn.Module,
    weight: np.ndarray,
    types: tuple[FixedType, FixedType],
    out_type: FixedType,
    multiplier_bits: int,
    shift_only: bool,
    compensation: np.ndarray | float = 0.0,
) -> ComputeLayer:
    """A hidden block's layer from its weight codes: batch norm folded into the requantizer.

    Shared by PTQ and QAT, which differ only in where the codes and types come from.
    """
    layer = _compute_module(block)
    return fold_compute_layer(
        name, "adder" if _is_adder(layer) else "mul", weight, types, out_type,
        _bn_terms(block.bn), multiplier_bits, shift_only, compensation, relu=True,
        geometry=_conv_geometry(layer),
    )  # fmt: skip


def fold_compute_layer(
    name: str,
    kind: str,
    weight: np.ndarray,
    types: tuple[FixedType, FixedType],
    out_type: FixedType,
    affine: tuple[np.ndarray, np.ndarray, np.ndarray],
    multiplier_bits: int,
    shift_only: bool,
    compensation: np.ndarray | float = 0.0,
    relu: bool = True,
    geometry: dict | None = None,
    **extra,
) -> ComputeLayer:
    """A compute layer whose output ``gain * (acc - mean) + beta`` (``affine``, per output
    channel, in values: batch norm, a bias, an activation's slope) is one integer
    requantization to ``out_type``; ``compensation`` is in accumulator codes."""
    in_type, w_type = types
    terms = int(np.prod(weight.shape[1:]))
    if kind == "adder":
        acc_bits, acc_frac = adder_acc_bits(in_type.bits, terms), in_type.frac
    else:
        acc_bits = mul_acc_bits(in_type.bits, w_type.bits, terms)
        acc_frac = in_type.frac + w_type.frac
    gain, mean, beta = affine
    requant = fit_requant(
        gain * 2.0 ** (out_type.frac - acc_frac),
        beta * 2.0**out_type.frac,
        acc_bits,
        multiplier_bits,
        layer=name,
        shift_only=shift_only,
        center=mean * 2.0**acc_frac + compensation,
    )
    return ComputeLayer(
        name=name,
        kind=kind,
        weight=weight,
        in_type=in_type,
        w_type=w_type,
        acc_bits=acc_bits,
        requant=requant,
        out_type=out_type,
        relu=relu,
        **(geometry or {}),
        **extra,
    )


def _clamp_compensation(weight: np.ndarray, w_type: FixedType) -> np.ndarray:
    """Per output channel, how much clamping the weights lowered ``sum |x - w|``.

    Inputs are codes in ``[qmin, qmax]``, so for a weight code ``w > qmax``
    ``|x - w| = |x - qmax| + (w - qmax)`` exactly (and symmetrically below ``qmin``): the
    clamped layer's accumulator is the unclamped one plus this constant, which the
    requantization absorbs. Integer-exact, so nothing is approximated by the clamp.
    """
    raw = np.round(weight * 2.0**w_type.frac)
    excess = np.maximum(np.maximum(raw - w_type.qmax, w_type.qmin - raw), 0)
    return excess.reshape(excess.shape[0], -1).sum(axis=1)


def _conv_geometry(layer: nn.Module) -> dict:
    if not hasattr(layer, "kernel_size"):
        return {}
    ph, pw = layer.padding
    if tuple(getattr(layer, "dilation", (1, 1))) != (1, 1):
        raise NotImplementedError("dilated convolutions are not on the hardware path yet")
    return {"strides": tuple(layer.stride), "pads": (ph, pw, ph, pw)}


def _classifier(name: str, block: DenseBlock, types: tuple) -> ComputeLayer:
    layer = block.fc
    in_type, w_type = types
    weight = quantize(layer.weight.detach().double().numpy(), w_type)
    bias = np.zeros(weight.shape[0], dtype=np.int64)
    if layer.bias is not None:
        acc_frac = in_type.frac + w_type.frac
        bias = np.round(layer.bias.detach().double().numpy() * 2.0**acc_frac).astype(np.int64)
    return classifier_layer(name, weight, bias, types)


def classifier_layer(name: str, weight: np.ndarray, bias: np.ndarray, types: tuple) -> ComputeLayer:
    """The last layer keeps its full accumulator: outputs are logits codes plus bias."""
    in_type, w_type = types
    acc_bits = mul_acc_bits(in_type.bits, w_type.bits, weight.shape[1])
    out_bits = signed_bits((1 << (acc_bits - 1)) + int(np.abs(bias).max(initial=0)))
    requant = RequantParams(np.ones(weight.shape[0], dtype=np.int64), bias.astype(np.int64), 0)
    return ComputeLayer(
        name=name,
        kind="mul",
        weight=weight,
        in_type=in_type,
        w_type=w_type,
        acc_bits=acc_bits,
        requant=requant,
        out_type=FixedType(out_bits, in_type.frac + w_type.frac),
        relu=False,
    )


def _layer_name(index: int, block: nn.Module) -> str:
    layer = _compute_module(block)
    shape = "conv" if isinstance(block, ConvBlock) else "dense"
    kind = "adder" if _is_adder(layer) else "xnor" if _is_binary(layer) else "mul"
    return f"b{index}_{kind}_{shape}"


def quantize_network(
    model: BlockNet,
    calib_x: np.ndarray,
    bits: int = 8,
    multiplier_bits: int = 16,
    shift_only: bool = False,
    adder_scale: str = "activation",
    weight_bits: int | None = None,
) -> QuantizedNetwork:
    """Quantize a trained network to ``bits``-bit codes with integer requantization.

    ``weight_bits`` sets the multiplication layers' weight width (default ``bits``); adder
    weights share their input's type. A binary network goes to
    ``binary_ptq.quantize_binary_network`` (``adder_scale`` does not apply there), one
    with SI units (DGRL) to the graph front end's ``graph_binary.quantize_binary_graph``.
    """
    from adderflow.nn.binary import SqueezeInteraction

    if any(isinstance(m, SqueezeInteraction) for m in model.modules()):
        from adderflow.quant.graph_binary import quantize_binary_graph

        return quantize_binary_graph(
            model, calib_x, bits, multiplier_bits, shift_only, weight_bits=weight_bits
        )
    if is_binary_network(model):
        from adderflow.quant.binary_ptq import quantize_binary_network

        return quantize_binary_network(
            model, calib_x, bits, multiplier_bits, shift_only, weight_bits=weight_bits
        )
    check_bits(bits)
    w_bits = check_bits(bits if not weight_bits else weight_bits, "weight bit width")
    if adder_scale not in ADDER_SCALES:
        raise QuantizationError(f"adder scale '{adder_scale}' is not one of {ADDER_SCALES}")
    model.eval()
    by_index = _input_types(model, calibrate(model, calib_x), bits, adder_scale, w_bits)
    types = {_layer_name(int(k), model.blocks[int(k)]): t for k, t in by_index.items()}

    def hidden(name: str, block: nn.Module, out_type: FixedType) -> ComputeLayer:
        return _hidden_layer(name, block, types[name], out_type, multiplier_bits, shift_only)

    def classifier(name: str, block: DenseBlock) -> ComputeLayer:
        return _classifier(name, block, types[name])

    return assemble_network(model, types, tuple(calib_x.shape[1:]), hidden, classifier)


def assemble_network(
    model: BlockNet,
    types: dict[str, tuple[FixedType, FixedType]],
    input_shape: tuple[int, ...],
    hidden,
    classifier,
) -> QuantizedNetwork:
    """Walk ``model``'s blocks into a ``QuantizedNetwork``.

    ``types`` maps each compute layer's name to its ``(in_type, w_type)``, in order; a
    hidden layer's output type is the next one's input type. ``hidden(name, block,
    out_type)`` and ``classifier(name, block)`` build the compute layers.
    """
    names = list(types)
    layers = []
    for index, block in enumerate(model.blocks):
        if isinstance(block, Flatten):
            layers.append(FlattenLayer(f"b{index}_flatten"))
            continue
        if isinstance(block, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            layers.append(avg_pool_layer(index, block, input_shape, layers))
            continue
        if not isinstance(block, (ConvBlock, DenseBlock)):
            raise NotImplementedError(f"block {index} ({type(block).__name__}) is not supported")
        name = _layer_name(index, block)
        position = names.index(name)
        if position == len(names) - 1:
            if not isinstance(block, DenseBlock) or block.bn is not None:
                raise NotImplementedError("the last block must be a plain linear classifier")
            layers.append(classifier(name, block))
            continue
        layers.append(hidden(name, block, types[names[position + 1]][0]))
        if isinstance(block, ConvBlock) and block.pool:
            p = block.pool
            layers.append(PoolLayer(f"b{index}_pool", (p, p), (p, p)))
    return QuantizedNetwork(
        input_type=types[names[0]][0], input_shape=input_shape, layers=tuple(layers)
    )


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def spec_frame(input_shape: tuple[int, ...], layers: list) -> tuple[int, int] | None:
    """The spatial size after ``layers`` (spec layers), or None once it is not a 2-D frame
    (a 1-D input, a flatten, a dense layer): what a global pool needs to know its kernel."""
    if len(input_shape) != 3:
        return None
    h, w = input_shape[1:]
    for layer in layers:
        if isinstance(layer, FlattenLayer) or (
            isinstance(layer, ComputeLayer) and not layer.is_conv
        ):
            return None
        if isinstance(layer, ComputeLayer):
            (kh, kw), (sh, sw), (top, left, bottom, right) = (
                layer.weight.shape[2:], layer.strides, layer.pads,
            )  # fmt: skip
            h, w = (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1
        else:
            (kh, kw), (sh, sw) = layer.kernel, layer.strides
            h, w = (h - kh) // sh + 1, (w - kw) // sw + 1
    return h, w


def avg_pool_layer(
    index: int, block: nn.Module, input_shape: tuple[int, ...], layers: list
) -> PoolLayer:
    """``nn.AvgPool2d`` (kernel = stride, no padding) or a global ``nn.AdaptiveAvgPool2d(1)``
    over a known square frame as the IR's average pool; anything else (padding, a stride
    other than the kernel, an area that is not a power of two, an unknown frame, ±1 codes)
    is refused naming the layer and its block."""
    name = f"b{index}_avg_pool"
    what = f"layer '{name}' (block {index}, {type(block).__name__})"
    computes = [layer for layer in layers if isinstance(layer, ComputeLayer)]
    if computes and computes[-1].thresholded:
        raise QuantizationError(
            f"{what}: averaging the ±1 codes of '{computes[-1].name}' gives codes a binary "
            "layer cannot read; pool binary activations with max pooling"
        )
    if isinstance(block, nn.AdaptiveAvgPool2d):
        kernel = _global_kernel(block, what, spec_frame(input_shape, layers))
        avg_pool_shift(kernel, kernel, what)
        return PoolLayer(name, kernel, kernel, "avg")
    kernel = _pair(block.kernel_size)
    strides = _pair(block.stride if block.stride is not None else block.kernel_size)
    if _pair(block.padding) != (0, 0) or block.ceil_mode or block.divisor_override:
        raise QuantizationError(
            f"{what}: padding, ceil_mode and divisor_override are not on the hardware path "
            "(the hardware's average pool takes whole windows without padding)"
        )
    avg_pool_shift(kernel, strides, what)  # the power-of-two area, refused naming the block
    return PoolLayer(name, kernel, strides, "avg")


def _global_kernel(
    block: nn.AdaptiveAvgPool2d, what: str, frame: tuple[int, int] | None
) -> tuple[int, int]:
    """The kernel of a global average pool: the whole frame, which must be known and square."""
    if _pair(block.output_size) != (1, 1):
        raise QuantizationError(
            f"{what}: output size {block.output_size} is not 1; only global average pooling "
            "(AdaptiveAvgPool2d(1)) maps to the hardware's average pool"
        )
    if frame is None:
        raise QuantizationError(f"{what}: the frame it pools is not known here (not a 2-D map)")
    if frame[0] != frame[1]:
        raise QuantizationError(f"{what}: frame {frame[0]}x{frame[1]} is not square")
    return frame
