"""Small graph-shaped quantized networks for tests (``quant.spec``: layers name operands).

Random integer parameters from a seed. Each requantizer (and sign threshold) is then
calibrated on random inputs, layer by layer: it spreads its channel's accumulators over the
output's code range (so a changed accumulator changes the code, and all-max / all-min
inputs saturate), or thresholds at an attained value (so ±1 outputs are mixed). Every
network is ``QuantizedNetwork`` data only: the torch integer model, the QONNX builder and
the backends each read the same object.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from adderflow.fixed import (
    BIPOLAR,
    FixedType,
    RequantParams,
    Threshold,
    acc_bits_needed,
    code_bits,
    fit_requant,
    xnor_acc_bits,
)
from adderflow.quant.integer_model import run_integer_model
from adderflow.quant.spec import (
    INPUT,
    AddLayer,
    ComputeLayer,
    ConcatLayer,
    FlattenLayer,
    MulLayer,
    PoolLayer,
    QuantizedNetwork,
    ReshapeLayer,
    SumPoolLayer,
)
from adderflow.sim.ops.int_add import sum_bits


def _rq(rng, channels: int, acc_bits: int, out_bits: int) -> RequantParams:
    """A requantizer taking ``acc_bits`` codes a little past ``out_bits`` codes' range."""
    shift = max(0, acc_bits + 8 - out_bits - 3)
    m = rng.integers(2**7, 2**8, channels) * rng.choice([-1, 1], channels)
    b = rng.integers(-(2**shift), 2**shift + 1, channels) if shift else np.zeros(channels)
    return RequantParams(m.astype(np.int64), b.astype(np.int64), shift)


def _compute(rng, name, kind, in_t, out_c, in_c, k, out_t, *, w_t=None, relu=True, **geo):
    """A conv (``k`` an int or ``(kh, kw)``) or, with ``k=None``, a dense layer."""
    groups = geo.get("groups", 1)
    kh, kw = (k, k) if isinstance(k, int) else (k or (None, None))
    shape = (out_c, in_c // groups, kh, kw) if k is not None else (out_c, in_c)
    if kind == "xnor":
        w_t = BIPOLAR
        weight = rng.choice(np.array([-1, 1], np.int64), shape)
        acc_bits = xnor_acc_bits(int(np.prod(shape[1:])))
    else:
        w_t = in_t if kind == "adder" else (w_t or FixedType(in_t.bits, 4))
        weight = rng.integers(w_t.qmin, w_t.qmax + 1, shape, dtype=np.int64)
        acc_bits = acc_bits_needed(kind, in_t.bits, weight)
    if out_t is BIPOLAR:
        requant = Threshold(
            rng.integers(-(2 ** (acc_bits - 2)), 2 ** (acc_bits - 2), out_c),
            rng.choice(np.array([-1, 1], np.int64), out_c),
        )
        relu = False
    else:
        requant = _rq(rng, out_c, acc_bits, out_t.bits)
    return ComputeLayer(name, kind, weight, in_t, w_t, acc_bits, requant, out_t, relu, **geo)


def _add(rng, name, inputs, types, channels, out_t, relu=True) -> AddLayer:
    frac = max(t.frac for t in types)
    shifts = tuple(frac - t.frac for t in types)
    acc_bits = sum_bits([t.bits for t in types], shifts)
    return AddLayer(
        name, inputs, shifts, acc_bits, _rq(rng, channels, acc_bits, out_t.bits), out_t, relu
    )


def _sum_pool(rng, name, in_t, channels, k: int, out_t) -> SumPoolLayer:
    area = k * k
    acc_bits = code_bits(np.array([area * in_t.qmin, area * in_t.qmax]))
    shift = 14
    m = np.full(channels, round(2**shift / area), np.int64)  # ≈ 1/area, as an average is
    b = rng.integers(-(2**10), 2**10, channels)
    return SumPoolLayer(name, (k, k), (k, k), acc_bits, RequantParams(m, b, shift), out_t)


def _calibrated(net: QuantizedNetwork, seed: int) -> QuantizedNetwork:
    """``net`` with every requantizer and threshold fitted to its accumulators' spread on
    random inputs (the layers before it already fitted)."""
    rng = np.random.default_rng(seed + 1000)
    x = inputs(net, 16, seed + 1000)
    layers = list(net.layers)
    for i, layer in enumerate(layers):
        if not hasattr(layer, "requant"):
            continue
        prefix = replace(net, layers=tuple(layers[: i + 1]))
        acc = run_integer_model(prefix, x)[f"{layer.name}_acc"]
        flat = np.moveaxis(acc, 1, -1).reshape(-1, acc.shape[1]).astype(np.float64)
        if isinstance(layer.requant, Threshold):
            d = rng.choice(np.array([-1, 1]), acc.shape[1])
            q = rng.uniform(0.3, 0.7, acc.shape[1])
            t = [np.quantile(d[c] * flat[:, c], q[c], method="nearest") for c in range(len(d))]
            requant = Threshold(np.array(t, np.int64), d.astype(np.int64))
        else:
            mean, std = flat.mean(axis=0), np.maximum(flat.std(axis=0), 1.0)
            gain = layer.out_type.qmax / (2.5 * std) * rng.choice([-1, 1], len(std))
            requant = fit_requant(gain, np.zeros_like(gain), layer.acc_bits, center=mean)
        layers[i] = replace(layer, requant=requant)
    return replace(net, layers=tuple(layers))


def residual_identity(bits: int, seed: int = 0) -> QuantizedNetwork:
    """Two 3x3 adder convs and an identity shortcut; the branch ends on a coarser scale,
    so the join shifts it left by one."""
    rng = np.random.default_rng(seed)
    t_in, t1, t2 = FixedType(bits, 4), FixedType(bits, 2), FixedType(bits, 3)
    c = 4
    layers = (
        _compute(rng, "conv1", "adder", t_in, c, c, 3, t1, pads=(1, 1, 1, 1)),
        _compute(rng, "conv2", "adder", t1, c, c, 3, t2, pads=(1, 1, 1, 1), relu=False),
        _add(rng, "join", (INPUT, "conv2"), (t_in, t2), c, FixedType(bits, 4)),
    )
    return _calibrated(QuantizedNetwork(t_in, (c, 5, 5), layers), seed)


def residual_projection(bits: int, seed: int = 0, pool: bool = True) -> QuantizedNetwork:
    """A strided block with a 1x1 multiplication projection shortcut (scales 2 and 5),
    then a max pool (2x2, stride 1; ``pool=False``: none), flatten and a dense head."""
    rng = np.random.default_rng(seed)
    t_in = FixedType(bits, 3)
    t_a, t_b, t_p, t_j = (FixedType(bits, f) for f in (1, 2, 5, 3))
    layers = (
        _compute(rng, "a", "adder", t_in, 4, 3, 3, t_a, strides=(2, 2), pads=(1, 1, 1, 1)),
        _compute(rng, "b", "adder", t_a, 4, 4, 3, t_b, pads=(1, 1, 1, 1), relu=False),
        _compute(
            rng, "proj", "mul", t_in, 4, 3, 1, t_p, strides=(2, 2), relu=False, inputs=(INPUT,)
        ),
        _add(rng, "join", ("b", "proj"), (t_b, t_p), 4, t_j),
        *([PoolLayer("pool", (2, 2), (1, 1))] if pool else []),
        FlattenLayer("flat"),
        _compute(
            rng, "head", "mul", t_j, 5, 4 * (2 if pool else 3) ** 2, None, FixedType(16, 4),
            relu=False,
        ),
    )
    return _calibrated(QuantizedNetwork(t_in, (3, 6, 6), layers), seed)


def concat_net(bits: int, seed: int = 0) -> QuantizedNetwork:
    """GhostNet's shape: a conv, a cheap 1x1 conv of its output, and the input, joined on
    the channel axis, then a 1x1 adder conv over all of them."""
    rng = np.random.default_rng(seed)
    t = FixedType(bits, 2)
    layers = (
        _compute(rng, "primary", "adder", t, 3, 2, 3, t, pads=(1, 1, 1, 1)),
        _compute(rng, "cheap", "mul", t, 2, 3, 1, t),
        ConcatLayer("cat", ("primary", "cheap", INPUT)),
        _compute(rng, "mix", "adder", t, 4, 7, 1, FixedType(bits, 1)),
    )
    return _calibrated(QuantizedNetwork(t, (2, 4, 4), layers), seed)


def grouped_net(bits: int, seed: int = 0) -> QuantizedNetwork:
    """A grouped adder conv, a depthwise multiplication conv, a grouped binary conv, and a
    max pool with asymmetric padding."""
    rng = np.random.default_rng(seed)
    t, t2 = FixedType(bits, 3), FixedType(bits, 2)
    layers = (
        _compute(rng, "grouped", "adder", t, 6, 4, 3, t2, pads=(1, 1, 1, 1), groups=2),
        _compute(rng, "depthwise", "mul", t2, 6, 6, 3, BIPOLAR, pads=(1, 0, 1, 2), groups=6),
        _compute(rng, "binary", "xnor", BIPOLAR, 4, 6, 3, t, pads=(1, 1, 1, 1), groups=2),
        PoolLayer("pool", (2, 2), (2, 2), pads=(0, 0, 1, 1)),
    )
    return _calibrated(QuantizedNetwork(t, (4, 5, 5), layers), seed)


def sum_pool_net(bits: int, seed: int = 0) -> QuantizedNetwork:
    """A global average over a 3x3 map (area 9: the window sum and a requant multiply)."""
    rng = np.random.default_rng(seed)
    t, t1 = FixedType(bits, 3), FixedType(bits, 2)
    layers = (
        _compute(rng, "conv", "adder", t, 4, 3, 3, t1),
        _sum_pool(rng, "gap", t1, 4, 3, FixedType(bits, 2)),
        FlattenLayer("flat"),
        _compute(rng, "head", "mul", FixedType(bits, 2), 3, 4, None, FixedType(16, 6), relu=False),
    )
    return _calibrated(QuantizedNetwork(t, (3, 5, 5), layers), seed)


def one_d_net(bits: int, seed: int = 0) -> QuantizedNetwork:
    """A 1-D network ``(C, L)``: a reshape to height 1, a 1x3 conv and a 1x2 max pool."""
    rng = np.random.default_rng(seed)
    t = FixedType(bits, 3)
    layers = (
        ReshapeLayer("to2d", (2, 1, 12)),
        _compute(rng, "conv", "adder", t, 4, 2, (1, 3), t, pads=(0, 1, 0, 1)),
        PoolLayer("pool", (1, 2), (1, 2)),
        FlattenLayer("flat"),
        _compute(rng, "head", "mul", t, 3, 4 * 6, None, FixedType(16, 5), relu=False),
    )
    return _calibrated(QuantizedNetwork(t, (2, 12), layers), seed)


def squeeze_excite(bits: int, seed: int = 0) -> QuantizedNetwork:
    """A conv, its global average (area 9), a 1x1 gate conv, and ``x · gate``."""
    rng = np.random.default_rng(seed)
    t, tx, tg = FixedType(bits, 3), FixedType(bits, 2), FixedType(bits, 4)
    mul_bits = code_bits(np.array([tx.qmin * tg.qmax, tx.qmin * tg.qmin]))
    layers = (
        _compute(rng, "conv", "adder", t, 4, 3, 3, tx, pads=(1, 1, 1, 1)),
        _sum_pool(rng, "squeeze", tx, 4, 3, tx),
        _compute(rng, "gate", "mul", tx, 4, 4, 1, tg),
        MulLayer(
            "excite", ("conv", "gate"), mul_bits, _rq(rng, 4, mul_bits, bits), FixedType(bits, 3)
        ),
    )
    return _calibrated(QuantizedNetwork(t, (3, 3, 3), layers), seed)


# name -> (builder, the IR ops it needs beyond the line networks')
GRAPHS = {
    "residual_identity": residual_identity,
    "residual_projection": residual_projection,
    "concat": concat_net,
    "grouped": grouped_net,
    "sum_pool": sum_pool_net,
    "one_d": one_d_net,
    "squeeze_excite": squeeze_excite,
}


def inputs(net: QuantizedNetwork, n: int = 3, seed: int = 0, fill: str | None = None):
    """Float inputs on the input quantizer's grid (random codes, or all max / all min;
    past the range so the quantizer saturates too)."""
    t = net.input_type
    shape = (n, *net.input_shape)
    if fill is not None:
        return np.full(shape, (t.qmax + 5 if fill == "max" else t.qmin - 5) * t.scale, np.float32)
    rng = np.random.default_rng(seed)
    return (rng.integers(t.qmin, t.qmax + 1, shape) * t.scale).astype(np.float32)
