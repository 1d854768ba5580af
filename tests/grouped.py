"""Grouped and depthwise convolutions and padded max pools as IR models, built by hand: the
spec's ``groups`` (``ComputeLayer``) set as each conv node's ``group`` attribute, a
``PoolLayer``'s ``pads`` as its node's, and the shapes taken from the reference, whatever
the builder emits for them yet.

    integer: grouped mul stem ─ Requant ─ [padded max pool] ─ depthwise adder ─ Requant
             ─ grouped 1x1 adder (stride 2) ─ Requant ─ flatten ─ mul head
    binary:  mul stem ─ threshold ─ [padded max pool] ─ grouped xnor ─ threshold
             ─ depthwise xnor ─ Requant ─ flatten ─ mul head
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import (
    BIPOLAR,
    FixedType,
    RequantParams,
    Threshold,
    acc_bits_needed,
    mul_acc_bits,
    signed_bits,
    xnor_acc_bits,
)
from adderflow.quant.spec import ComputeLayer, FlattenLayer, PoolLayer, QuantizedNetwork
from adderflow.sim.executor import run_reference

SIZE = 7


def _codes(rng, shape, t: FixedType, extreme: str | None) -> np.ndarray:
    if extreme is not None:
        return np.full(shape, t.qmax if extreme == "max" else t.qmin, dtype=np.int64)
    return rng.integers(t.qmin, t.qmax + 1, size=shape, dtype=np.int64)


def _requant(rng, channels: int) -> RequantParams:
    """Mixed signs and no ReLU: negative codes reach the next layer (and a padded pool)."""
    return RequantParams(
        rng.integers(-(2**14), 2**14, channels), rng.integers(-(2**20), 2**20, channels), 18
    )


def _conv(name, kind, weight, t, groups, strides=(1, 1), pads=(1, 1, 1, 1), rng=None):
    """A conv layer with the exact accumulator its weights reach, requantized to ``t``."""
    acc = acc_bits_needed("adder" if kind == "adder" else "mul", t.bits, weight)
    return ComputeLayer(
        name, kind, weight, t, t, max(acc, 2), _requant(rng, len(weight)), t, False,
        strides, pads, groups,
    )  # fmt: skip


def _head(rng, t: FixedType, flat: int, extreme: str | None) -> ComputeLayer:
    acc = mul_acc_bits(t.bits, t.bits, flat)
    return ComputeLayer(
        "head", "mul", _codes(rng, (3, flat), t, extreme), t, t, acc,
        RequantParams(np.ones(3, np.int64), np.zeros(3, np.int64), 0),
        FixedType(signed_bits(2 ** (acc - 1)), 0), False,
    )  # fmt: skip


def _pooled(layers: list, pool_pads) -> tuple[int, int]:
    """Append the 3x3 stride-2 max pool with ``pool_pads`` (if any); the frame after it."""
    if pool_pads is None:
        return SIZE, SIZE
    layers.append(PoolLayer("pool", (3, 3), (2, 2), "max", tuple(pool_pads)))
    top, left, bottom, right = pool_pads
    return (SIZE + top + bottom - 3) // 2 + 1, (SIZE + left + right - 3) // 2 + 1


def grouped_net(
    bits: int, seed: int = 0, extreme: str | None = None, pool_pads=None, stem_group: int = 2
) -> QuantizedNetwork:
    """The integer network above on ``bits``-bit codes (4 input channels, 7x7; the stem in
    ``stem_group`` groups); with ``pool_pads`` a 3x3 stride-2 max pool with those pads
    follows the stem."""
    rng = np.random.default_rng(seed)
    t = FixedType(bits, 0)
    stem_w = _codes(rng, (8, 4 // stem_group, 3, 3), t, extreme)
    stem = _conv("stem", "mul", stem_w, t, stem_group, rng=rng)
    layers: list = [stem]
    h, w = _pooled(layers, pool_pads)
    dw = _conv("dw", "adder", _codes(rng, (8, 1, 3, 3), t, extreme), t, 8, rng=rng)
    gc = _conv("gc", "adder", _codes(rng, (6, 4, 1, 1), t, extreme), t, 2, (2, 2), (0,) * 4, rng)
    flat = 6 * ((h - 1) // 2 + 1) * ((w - 1) // 2 + 1)
    layers += [dw, gc, FlattenLayer("flat"), _head(rng, t, flat, extreme)]
    return QuantizedNetwork(t, (4, SIZE, SIZE), tuple(layers))


def grouped_binary_net(seed: int = 0, pool_pads=None) -> QuantizedNetwork:
    """The binary network above (2 input channels, 7x7): ±1 codes through a grouped and a
    depthwise ``XnorConv`` (zero padding does not vote); with ``pool_pads`` a 3x3 stride-2
    max pool with those pads pools the stem's ±1 codes."""
    rng = np.random.default_rng(seed)
    t = FixedType(8, 0)

    def pm(shape):
        return rng.choice(np.array([-1, 1], dtype=np.int64), size=shape)

    def threshold(c):
        return Threshold(rng.integers(-2, 3, c), rng.choice(np.array([-1, 1]), size=c))

    stem_w = rng.integers(-128, 128, (4, 2, 3, 3))
    stem = ComputeLayer(
        "stem", "mul", stem_w, t, t, acc_bits_needed("mul", 8, stem_w), threshold(4), BIPOLAR,
        False, (1, 1), (1,) * 4,
    )  # fmt: skip
    layers: list = [stem]
    h, w = _pooled(layers, pool_pads)
    xg = ComputeLayer(
        "xg", "xnor", pm((6, 2, 3, 3)), BIPOLAR, BIPOLAR, xnor_acc_bits(18), threshold(6),
        BIPOLAR, False, (1, 1), (1,) * 4, 2,
    )  # fmt: skip
    xd = ComputeLayer(
        "xd", "xnor", pm((6, 1, 3, 3)), BIPOLAR, BIPOLAR, xnor_acc_bits(9),
        RequantParams(np.full(6, 9, np.int64), np.zeros(6, np.int64), 0), t, False, (2, 2),
        (1,) * 4, 6,
    )  # fmt: skip
    flat = 6 * ((h - 1) // 2 + 1) * ((w - 1) // 2 + 1)
    layers += [xg, xd, FlattenLayer("flat"), _head(rng, t, flat, None)]
    return QuantizedNetwork(t, (2, SIZE, SIZE), tuple(layers))


def _set(node: onnx.NodeProto, name: str, value) -> None:
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend([*kept, helper.make_attribute(name, value)])


def as_ir(net: QuantizedNetwork) -> onnx.ModelProto:
    """``build_qonnx(net)`` with each conv's ``group`` and each pool's ``pads`` set from the
    spec, and every tensor's shape the one the reference computes."""
    model = build_qonnx(net)
    nodes = {node.name: node for node in model.graph.node}
    for layer in net.layers:
        if isinstance(layer, ComputeLayer) and layer.is_conv:
            _set(nodes[layer.name], "group", int(layer.groups))
        elif isinstance(layer, PoolLayer) and any(layer.pads):
            _set(nodes[layer.name], "pads", list(layer.pads))
    shape = (1, *net.input_shape)
    tensors = run_reference(model, np.zeros(shape, np.float32))
    for vi in [*model.graph.value_info, *model.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        for dim, size in zip(dims[1:], tensors[vi.name].shape[1:], strict=True):
            dim.dim_value = size
    return model


def images(bits: int, channels: int, n: int = 4, seed: int = 0, fill=None) -> np.ndarray:
    """Integer images in the ``bits``-bit code range (frac 0), or all ``fill``."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    shape = (n, channels, SIZE, SIZE)
    if fill is not None:
        return np.full(shape, hi if fill == "max" else lo, np.float32)
    return np.random.default_rng(seed).integers(lo, hi + 1, shape).astype(np.float32)
