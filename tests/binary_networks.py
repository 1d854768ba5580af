"""Small binary IR networks for the RTL tests (DESIGN.md rule 6), calibrated on images.

A multiplication stem ending in a ``BinaryThreshold``, an ``XnorConv`` with zero padding
(which does not vote) and a max pool on its ±1 codes, then either a 1x1 ``XnorConv`` →
threshold → flatten → binary dense layer (``XnorGemm``) → ``Requant``, or (the digits
network's shape) a 3x3 ``XnorConv`` → ``Requant`` → pool → flatten → multiplication dense
layer; a multiplication head with a wide exact output.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx

from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import (
    BIPOLAR,
    FixedType,
    RequantParams,
    Threshold,
    mul_acc_bits,
    signed_bits,
    xnor_acc_bits,
)
from adderflow.quant.spec import ComputeLayer, FlattenLayer, PoolLayer, QuantizedNetwork
from adderflow.sim.executor import run_reference


def _binary_layers(rng, k, stride, pad, channels, extreme, tail):
    c1, c2, c3 = channels
    t = FixedType(8, 3)

    def pm(shape):
        if extreme == "max":
            return np.ones(shape, dtype=np.int64)
        if extreme == "min":
            return -np.ones(shape, dtype=np.int64)
        return rng.choice(np.array([-1, 1], dtype=np.int64), size=shape)

    def placeholder(c):  # thresholds are calibrated on the images afterwards
        return Threshold(np.zeros(c, np.int64), np.ones(c, np.int64))

    stem_w = rng.integers(-128, 128, (c1, 1, k, k))
    if extreme is not None:
        stem_w[:] = 127 if extreme == "max" else -128
    # The stem keeps the frame; the binary layer x1 takes the stride (and both the padding).
    h1 = 8 + 2 * pad - k + 1
    h2 = (h1 + 2 * pad - k) // stride + 1
    stem = ComputeLayer(
        "stem", "mul", stem_w, t, t, mul_acc_bits(8, 8, k * k), placeholder(c1), BIPOLAR,
        False, (1, 1), (pad,) * 4,
    )  # fmt: skip
    x1 = ComputeLayer(
        "x1", "xnor", pm((c2, c1, k, k)), BIPOLAR, BIPOLAR, xnor_acc_bits(c1 * k * k),
        placeholder(c2), BIPOLAR, False, (stride, stride), (pad,) * 4,
    )  # fmt: skip
    pool = PoolLayer("pool", (2, 2), (2, 2))
    hp = h2 // 2
    act = FixedType(8, 7)
    one = RequantParams(np.ones(6, np.int64), np.zeros(6, np.int64), 0)
    # (no second pool on ±1 codes before the dense layer: the max of 2x2 blocks of ±1 is
    # nearly always +1, which would leave the dense layer nothing to tell images apart by)
    if tail == "dense":  # x2 1x1 -> threshold -> flatten -> XnorGemm -> Requant -> head
        x2 = ComputeLayer(
            "x2", "xnor", pm((c3, c2, 1, 1)), BIPOLAR, BIPOLAR, xnor_acc_bits(c2),
            placeholder(c3), BIPOLAR, False,
        )  # fmt: skip
        flat = c3 * hp**2
        xg = ComputeLayer(
            "xg", "xnor", pm((6, flat)), BIPOLAR, BIPOLAR, xnor_acc_bits(flat), one, act, False
        )
        body = (stem, x1, pool, x2, FlattenLayer("flat"), xg)
    else:  # the digits network's shape: x2 3x3 pad 1 -> Requant -> pool -> flatten -> IntGemm
        x2 = ComputeLayer(
            "x2", "xnor", pm((c3, c2, 3, 3)), BIPOLAR, BIPOLAR, xnor_acc_bits(c2 * 9),
            RequantParams(np.ones(c3, np.int64), np.zeros(c3, np.int64), 0), act, False, (1, 1),
            (1,) * 4,
        )  # fmt: skip
        flat = c3 * (hp // 2) ** 2
        dense = ComputeLayer(
            "dense", "mul", rng.integers(-128, 128, (6, flat)), act, act,
            mul_acc_bits(8, 8, flat), one, act, True,
        )  # fmt: skip
        body = (stem, x1, pool, x2, PoolLayer("pool2", (2, 2), (2, 2)), FlattenLayer("flat"), dense)
    head_acc = mul_acc_bits(8, 8, 6)
    bias = rng.integers(-100, 100, 3)
    head = ComputeLayer(
        "head", "mul", rng.integers(-128, 128, (3, 6)), act, act, head_acc,
        RequantParams(np.ones(3, np.int64), bias, 0),
        FixedType(signed_bits(2 ** (head_acc - 1) + 100), 10), False,
    )  # fmt: skip
    return QuantizedNetwork(t, (1, 8, 8), (*body, head))


def binary_ir(
    x: np.ndarray,
    seed: int = 0,
    k: int = 3,
    stride: int = 1,
    pad: int = 1,
    channels: tuple[int, int, int] = (4, 6, 3),
    extreme: str | None = None,
    tail: str = "dense",
) -> onnx.ModelProto:
    """A binary IR network calibrated on images ``x``: each threshold is an attained value
    of its channel's ``direction·acc`` (a random quantile, random direction), so outputs are
    mixed and ties occur; each hidden requantizer spreads its channel over the code range
    with a gain of at least 1 (a changed accumulator changes the code)."""
    rng = np.random.default_rng(seed)
    net = _binary_layers(rng, k, stride, pad, channels, extreme, tail)
    layers = list(net.layers)
    for i, layer in enumerate(layers[:-1]):
        if not isinstance(layer, ComputeLayer):
            continue
        acc = run_reference(build_qonnx(replace(net, layers=tuple(layers))), x)
        acc = acc[f"{layer.name}_acc"]
        axes = (0, 2, 3) if acc.ndim == 4 else (0,)
        flat = np.moveaxis(acc, 1, -1).reshape(-1, acc.shape[1])
        if isinstance(layer.requant, Threshold):
            d = rng.choice(np.array([-1, 1]), size=acc.shape[1])
            q = rng.uniform(0.3, 0.7, size=acc.shape[1])
            t = np.array(
                [np.quantile(d[c] * flat[:, c], q[c], method="nearest") for c in range(len(d))]
            )
            requant = Threshold(t.astype(np.int64), d.astype(np.int64))
        else:
            shift = 8
            mean, std = acc.mean(axis=axes), np.maximum(acc.std(axis=axes), 1.0)
            gain = layer.out_type.qmax / (2.5 * std)
            m = np.clip(np.round(gain * 2**shift), 2**shift, 2**15 - 1).astype(np.int64)
            b = np.round(-mean * m).astype(np.int64)
            requant = RequantParams(m, b, shift)
        layers[i] = replace(layer, requant=requant)
    return build_qonnx(replace(net, layers=tuple(layers)))


def binary_images(seed: int, n: int, extreme: str | None = None) -> np.ndarray:
    if extreme is not None:
        return np.full((n, 1, 8, 8), 4.0 if extreme == "max" else -4.0, dtype=np.float32)
    return np.random.default_rng(seed).uniform(-4, 4, (n, 1, 8, 8)).astype(np.float32)
