"""Small integer networks for tests: every IR layer kind, random or extreme parameters."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from adderflow.fixed import FixedType, RequantParams, adder_acc_bits, mul_acc_bits, signed_bits
from adderflow.quant.spec import ComputeLayer, FlattenLayer, PoolLayer, QuantizedNetwork


def _codes(rng, shape, t: FixedType, extreme: str | None = None):
    if extreme == "max":
        return np.full(shape, t.qmax, dtype=np.int64)
    if extreme == "min":
        return np.full(shape, t.qmin, dtype=np.int64)
    return rng.integers(t.qmin, t.qmax + 1, size=shape, dtype=np.int64)


def _requant(rng, channels: int, relu: bool = True) -> RequantParams:
    return RequantParams(
        rng.integers(-(2**14), 2**14, channels), rng.integers(-(2**20), 2**20, channels), 18
    )


def random_network(
    bits: int,
    seed: int = 0,
    extreme: str | None = None,
    k: int = 3,
    stride: int = 1,
    pad: int = 1,
    channels: int = 5,
    hidden: str = "adder",
    pool: str = "max",
) -> QuantizedNetwork:
    """A small network of every layer kind, with random (or extreme) integer parameters.

    ``hidden="mul"`` makes the hidden conv and dense layers multiplications: the CNN twin;
    ``pool="avg"`` makes its 2x2 pool an ``IntAvgPool``.
    """

    def acc_bits(terms: int) -> int:
        return adder_acc_bits(bits, terms) if hidden == "adder" else mul_acc_bits(bits, bits, terms)

    rng = np.random.default_rng(seed)
    t = FixedType(bits, 3)
    c1, c2 = channels, channels + 2
    h = 8
    h1 = (h + 2 * pad - k) // stride + 1
    h2 = (h1 + 2 * pad - k) // stride + 1
    hp = h2 // 2
    flat = c2 * hp * hp
    stem = ComputeLayer(
        "stem",
        "mul",
        _codes(rng, (c1, 1, k, k), t, extreme),
        t,
        t,
        mul_acc_bits(bits, bits, k * k),
        _requant(rng, c1),
        t,
        True,
        (stride, stride),
        (pad,) * 4,
    )
    adder = ComputeLayer(
        "adder",
        hidden,
        _codes(rng, (c2, c1, k, k), t, extreme),
        t,
        t,
        acc_bits(c1 * k * k),
        _requant(rng, c2),
        t,
        True,
        (stride, stride),
        (pad,) * 4,
    )
    dense = ComputeLayer(
        "dense",
        hidden,
        _codes(rng, (6, flat), t, extreme),
        t,
        t,
        acc_bits(flat),
        _requant(rng, 6),
        t,
        False,
    )
    acc_bits = mul_acc_bits(bits, bits, 6)
    bias = rng.integers(-100, 100, 3)
    head = ComputeLayer(
        "head",
        "mul",
        _codes(rng, (3, 6), t, extreme),
        t,
        t,
        acc_bits,
        RequantParams(np.ones(3, np.int64), bias, 0),
        FixedType(signed_bits(2 ** (acc_bits - 1) + 100), 6),
        False,
    )
    layers = (
        stem,
        adder,
        PoolLayer("pool", (2, 2), (2, 2), pool),
        FlattenLayer("flat"),
        dense,
        head,
    )
    return QuantizedNetwork(t, (1, h, h), layers)


def tie_network(k: int = 2, bits: int = 8) -> QuantizedNetwork:
    """Input codes (fraction 0) → k×k average pool → flatten → identity head: the head's
    output is the pooled codes, so every backend's output shows the pool's rounding."""
    t = FixedType(bits, 0)
    n = (8 // k) ** 2
    acc_bits = mul_acc_bits(bits, bits, n)
    head = ComputeLayer(
        "head", "mul", np.eye(n, dtype=np.int64), t, t, acc_bits,
        RequantParams(np.ones(n, np.int64), np.zeros(n, np.int64), 0),
        FixedType(signed_bits(1 << (acc_bits - 1)), 0), False,
    )  # fmt: skip
    layers = (PoolLayer("pool", (k, k), (k, k), "avg"), FlattenLayer("flat"), head)
    return QuantizedNetwork(t, (1, 8, 8), layers)


def tie_images(k: int, bits: int, n: int = 6, seed: int = 0) -> np.ndarray:
    """Blocks summing to ``k²·m + k²/2`` (ties) for random ``m`` of both parities, plus one
    all-max and one all-min image."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    blocks = 8 // k
    m = rng.integers(lo, hi, size=(n, 1, blocks, blocks))  # m + 1 is still a code
    bump = np.zeros((n, 1, blocks, blocks, k * k), dtype=np.int64)
    bump[..., : k * k // 2] = 1
    bump = rng.permuted(bump, axis=-1).reshape(n, 1, blocks, blocks, k, k)
    x = (m[..., None, None] + bump).transpose(0, 1, 2, 4, 3, 5).reshape(n, 1, 8, 8)
    x[0], x[1] = hi, lo
    return x.astype(np.float32)


def images(seed: int, n: int = 6, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, (n, 1, 8, 8)).astype(np.float32)


def calibrated(net: QuantizedNetwork, x: np.ndarray, seed: int = 0) -> QuantizedNetwork:
    """``net`` with each hidden layer's requantizer spreading its codes over the range on ``x``.

    Random requantizers mostly saturate, so every image gives the same output and a wrong
    layer could go unseen; here each channel maps about ±2.5 standard deviations of its
    accumulator onto the code range (ReLU layers centred at a quarter of the range), with
    a random per-channel gain. The head keeps its exact wide output.
    """
    from adderflow.export.qonnx_builder import build_qonnx
    from adderflow.sim.executor import run_reference

    rng = np.random.default_rng(seed)
    layers = list(net.layers)
    shift = 16
    for i, layer in enumerate(layers[:-1]):
        if not isinstance(layer, ComputeLayer):
            continue
        model = build_qonnx(replace(net, layers=tuple(layers)))
        acc = run_reference(model, x)[f"{layer.name}_acc"].astype(np.float64)
        axes = (0, 2, 3) if acc.ndim == 4 else (0,)
        mean, std = acc.mean(axis=axes), np.maximum(acc.std(axis=axes), 1.0)
        gain = layer.out_type.qmax / (2.5 * std) * rng.uniform(0.7, 1.3, size=mean.shape)
        m = np.clip(np.round(gain * 2**shift), 1, 2**15 - 1).astype(np.int64)
        centre = layer.out_type.qmax / 4 if layer.relu else 0.0
        b = np.round((centre - mean * m / 2**shift) * 2**shift).astype(np.int64)
        layers[i] = replace(layer, requant=RequantParams(m, b, shift))
    return replace(net, layers=tuple(layers))
