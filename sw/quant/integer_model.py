"""The quantized PyTorch model: a ``QuantizedNetwork`` evaluated with torch arithmetic.

It shares the integer parameters with the NumPy reference but none of its code: adder
layers run through the training kernel (``adderflow.nn``), multiplication layers through
``F.conv2d``/``F.linear``, rounding through ``torch.round``, all in float64 on integer
values. float64 is exact below 2**53, a bound ``fixed.fit_requant`` enforces, so agreement
with the reference is a real check of two implementations of one contract.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from adderflow.nn import adder_conv2d, adder_linear
from adderflow.quant.spec import ComputeLayer, FlattenLayer, PoolLayer, QuantizedNetwork


def _t(a: np.ndarray) -> Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def quantize_input(x: Tensor, net: QuantizedNetwork) -> Tensor:
    t = net.input_type
    return torch.round(x.double() * 2.0**t.frac).clamp(t.qmin, t.qmax)


def _accumulate(layer: ComputeLayer, x: Tensor) -> Tensor:
    """Adder layers through the training kernel; multiplication and binary layers as
    ``Σ x·w`` (on ±1 codes that is ``2·popcount(xnor) − K``; the zero padding a binary
    layer's taps do not vote with multiplies to nothing, as the contract masks it)."""
    w = _t(layer.weight)
    if not layer.is_conv:
        return adder_linear(x, w) if layer.kind == "adder" else F.linear(x, w)
    top, left, bottom, right = layer.pads
    x = F.pad(x, (left, right, top, bottom))
    if layer.kind == "adder":
        return adder_conv2d(x, w, stride=layer.strides)
    return F.conv2d(x, w, stride=layer.strides)


def _requantize(layer: ComputeLayer, acc: Tensor) -> Tensor:
    shape = (1, -1) + (1,) * (acc.dim() - 2)
    if layer.thresholded:  # batch norm + sign: +1 where direction·acc >= threshold
        t = _t(layer.requant.threshold).view(shape)
        d = _t(layer.requant.direction).view(shape)
        return torch.where(d * acc >= t, 1.0, -1.0).double()
    m = _t(layer.requant.multiplier).view(shape)
    b = _t(layer.requant.bias).view(shape)
    scaled = torch.round((acc * m + b) / 2.0**layer.requant.shift)
    lo = 0 if layer.relu else layer.out_type.qmin
    return scaled.clamp(lo, layer.out_type.qmax)


def pool_codes(layer: PoolLayer, h: Tensor) -> Tensor:
    """A pool on float64 codes. Average: the window sum is exact and the area a power of
    two, so ``avg_pool2d``'s division is exact too and ``torch.round`` (half to even) is
    the contract's rounding; an independent twin of the reference's integer shift."""
    if layer.mode == "avg":
        return torch.round(F.avg_pool2d(h, layer.kernel, layer.strides))
    return F.max_pool2d(h, layer.kernel, layer.strides)


@torch.no_grad()
def run_integer_model(net: QuantizedNetwork, x: Tensor | np.ndarray) -> dict[str, np.ndarray]:
    """Codes of every layer's output (``<name>_acc`` and ``<name>_out``), int64.

    Keys match the tensor names of the exported QONNX graph, so ``verify`` can compare
    backends layer by layer.
    """
    h = quantize_input(torch.as_tensor(np.asarray(x)), net)
    outs = {"input_codes": h}
    for layer in net.layers:
        if isinstance(layer, ComputeLayer):
            acc = _accumulate(layer, h)
            outs[f"{layer.name}_acc"] = acc
            h = _requantize(layer, acc)
        elif isinstance(layer, PoolLayer):
            h = pool_codes(layer, h)
        elif isinstance(layer, FlattenLayer):
            h = h.flatten(1)
        outs[f"{layer.name}_out"] = h
    return {name: t.numpy().astype(np.int64) for name, t in outs.items()}


def output_name(net: QuantizedNetwork) -> str:
    return f"{net.layers[-1].name}_out"


def predict_codes(net: QuantizedNetwork, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Final output codes of the integer model for a whole array, batched."""
    key = output_name(net)
    parts = [
        run_integer_model(net, x[i : i + batch_size])[key] for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts)
