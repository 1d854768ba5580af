"""The quantized PyTorch model: a ``QuantizedNetwork`` evaluated with torch arithmetic.

It shares the integer parameters with the NumPy reference but none of its code: adder
layers run through the training kernel (``adderflow.nn``), multiplication layers through
``F.conv2d``/``F.linear``, pools through ``F.max_pool2d``/``F.avg_pool2d``, rounding
through ``torch.round``, all in float64 on integer values. float64 is exact below 2**53, a
bound ``fixed.fit_requant`` and the IR's load checks enforce (accumulators, joins and
``acc·M + B`` stay within 52 bits), so agreement with the reference is a real check of two
implementations of one contract.

The network is a graph (``quant.spec``): every layer reads its operands by name
(``QuantizedNetwork.sources``), and every layer's result stays available to later layers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from adderflow.errors import QuantizationError
from adderflow.fixed import Threshold
from adderflow.nn import adder_conv2d, adder_linear
from adderflow.quant.spec import (
    INPUT,
    AddLayer,
    ComputeLayer,
    ConcatLayer,
    FlattenLayer,
    Layer,
    LutLayer,
    MulLayer,
    PoolLayer,
    QuantizedNetwork,
    ReshapeLayer,
    SignLayer,
    SumPoolLayer,
)


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
        return adder_conv2d(x, w, stride=layer.strides, groups=layer.groups)
    return F.conv2d(x, w, stride=layer.strides, groups=layer.groups)


def _requantize(layer: ComputeLayer | SumPoolLayer | AddLayer | MulLayer, acc: Tensor) -> Tensor:
    """Rule 4 (or rule 6's threshold) per channel; the division by ``2**s`` is exact in
    float64 and ``torch.round`` rounds half to even, as the contract does."""
    shape = (1, -1) + (1,) * (acc.dim() - 2)
    if isinstance(layer.requant, Threshold):  # batch norm + sign: +1 where d·acc >= t
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
    the contract's rounding; an independent twin of the reference's integer shift. Max:
    padded positions are ``-inf``, so they never win."""
    if layer.mode == "avg":
        return torch.round(F.avg_pool2d(h, layer.kernel, layer.strides))
    top, left, bottom, right = layer.pads
    if any(layer.pads):
        h = F.pad(h, (left, right, top, bottom), value=-torch.inf)
    out = F.max_pool2d(h, layer.kernel, layer.strides)
    if any(layer.pads) and torch.isinf(out).any():
        raise QuantizationError(
            f"layer '{layer.name}': a max pool window sees only padding (pads "
            f"{list(layer.pads)}, kernel {list(layer.kernel)})"
        )
    return out


def _compute(layer: ComputeLayer, ops: list[Tensor]) -> tuple[Tensor, Tensor]:
    acc = _accumulate(layer, ops[0])
    return acc, _requantize(layer, acc)


def _sum_pool(layer: SumPoolLayer, ops: list[Tensor]) -> tuple[Tensor, Tensor]:
    # divisor_override=1 makes the "average" the plain window sum: integers, exact.
    acc = F.avg_pool2d(ops[0], layer.kernel, layer.strides, divisor_override=1)
    return acc, _requantize(layer, acc)


def _add(layer: AddLayer, ops: list[Tensor]) -> tuple[Tensor, Tensor]:
    a, b = ops
    if a.shape != b.shape:
        raise QuantizationError(
            f"layer '{layer.name}': operands of shapes {list(a.shape[1:])} and "
            f"{list(b.shape[1:])} (a residual add does not broadcast)"
        )
    # A left shift is a multiplication by a power of two: exact in float64.
    acc = a * 2.0 ** layer.shifts[0] + b * 2.0 ** layer.shifts[1]
    return acc, _requantize(layer, acc)


def _mul(layer: MulLayer, ops: list[Tensor]) -> tuple[Tensor, Tensor]:
    x, gate = ops
    acc = x * gate.reshape(gate.shape[:2] + (1,) * (x.dim() - 2))
    return acc, _requantize(layer, acc)


def _sign(layer: SignLayer, ops: list[Tensor]) -> tuple[None, Tensor]:
    if layer.threshold is None:
        return None, torch.where(ops[0] >= 0, 1.0, -1.0).double()
    shape = (1, -1) + (1,) * (ops[0].dim() - 2)
    t = _t(layer.threshold.threshold).view(shape)
    d = _t(layer.threshold.direction).view(shape)
    return None, torch.where(d * ops[0] >= t, 1.0, -1.0).double()


def _lut(layer: LutLayer, ops: list[Tensor]) -> tuple[None, Tensor]:
    """Indexing by ``q - qmin``: an independent twin of the reference's lookup."""
    table = torch.from_numpy(np.asarray(layer.table, dtype=np.int64))
    index = ops[0].long() + len(table) // 2
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= len(table)):
        raise QuantizationError(f"layer '{layer.name}': codes outside its table's input range")
    return None, table[index].double()


def _concat(layer: ConcatLayer, ops: list[Tensor]) -> tuple[None, Tensor]:
    return None, torch.cat(ops, dim=1)


def _flatten(layer: FlattenLayer, ops: list[Tensor]) -> tuple[None, Tensor]:
    return None, ops[0].flatten(1)


def _reshape(layer: ReshapeLayer, ops: list[Tensor]) -> tuple[None, Tensor]:
    return None, ops[0].reshape(len(ops[0]), *layer.shape)


def _pool(layer: PoolLayer, ops: list[Tensor]) -> tuple[None, Tensor]:
    return None, pool_codes(layer, ops[0])


_RUN: dict[type, Callable[[Layer, list[Tensor]], tuple[Tensor | None, Tensor]]] = {
    ComputeLayer: _compute,
    PoolLayer: _pool,
    SumPoolLayer: _sum_pool,
    AddLayer: _add,
    MulLayer: _mul,
    SignLayer: _sign,
    LutLayer: _lut,
    ConcatLayer: _concat,
    FlattenLayer: _flatten,
    ReshapeLayer: _reshape,
}


@torch.no_grad()
def run_integer_model(net: QuantizedNetwork, x: Tensor | np.ndarray) -> dict[str, np.ndarray]:
    """Codes of every layer's output (``<name>_acc`` and ``<name>_out``), int64.

    Keys match the tensor names of the exported QONNX graph, so ``verify`` can compare
    backends layer by layer.
    """
    h = quantize_input(torch.as_tensor(np.asarray(x)), net)
    outs = {"input_codes": h}
    results = {INPUT: h}
    for index, layer in enumerate(net.layers):
        run = _RUN.get(type(layer))
        if run is None:
            raise QuantizationError(
                f"layer '{layer.name}': {type(layer).__name__} has no torch integer model"
            )
        operands = [results[name] for name in net.sources(index)]
        if isinstance(layer, SignLayer) and layer.threshold is not None:
            operands = [outs[f"{net.sources(index)[0]}_acc"]]  # the sign of its accumulator
        acc, out = run(layer, operands)
        if acc is not None:
            outs[f"{layer.name}_acc"] = acc
        outs[f"{layer.name}_out"] = results[layer.name] = out
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
