"""Random graph-shaped networks for the differential fuzzer (``tests/fuzz.py``'s choice
sequences and layer draws, arranged as graphs).

A case is an input (2-D, or 1-D entering through a ``Reshape``), a stem conv, one to three
blocks drawn from: a residual add (identity or 1×1 projection shortcut, the two branches on
different scales), a channel concatenation of two branches and the block's input, a
grouped or depthwise conv (adder, multiplication, or binary after a sign threshold), a
window sum (any area) with its requantization, a squeeze-excite gate product, and a max
pool with padding; then sometimes a flatten and a dense head. Requantizers draw their
multipliers, biases, shifts, widths and ReLU as the line fuzzer's do, so sums saturate.
These cases run on the reference, qonnx, onnxruntime and the torch integer model, every
layer compared (tests/test_graph_ir.py), and on the hardware backends: the generated RTL
on Verilator and hls4ml C-simulation in both io types (tests/test_graph_fuzz_hw.py).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from fuzz import Case, Draws, _compute, _images

from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import (
    BIPOLAR,
    MAX_BITS,
    MAX_PRODUCT_BITS,
    MAX_SHIFT,
    BipolarType,
    FixedType,
    RequantParams,
    Threshold,
    product_bits,
    requant_product_bits,
    window_sum_bits,
)
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
from adderflow.sim.executor import run_reference
from adderflow.sim.ops.base import conv_output_shape
from adderflow.sim.ops.int_add import sum_bits


class _Net:
    """The layers drawn so far and the current tensor: its name, type and ``(C, H, W)``."""

    def __init__(self, t: FixedType, chw: tuple[int, int, int], name: str = INPUT):
        self.layers: list = []
        self.name, self.t, self.chw = name, t, chw

    def add(self, layer, t, chw) -> str:
        self.layers.append(layer)
        self.name, self.t, self.chw = layer.name, t, chw
        return layer.name


def _requant(d: Draws, channels: int, acc_bits: int) -> tuple[RequantParams, FixedType, bool]:
    """Multipliers, biases and a shift drawn around the accumulator's range: mostly a
    spread of codes, sometimes saturated (a random shift up to the line fuzzer's)."""
    out = FixedType(d.int(2, MAX_BITS), d.int(0, 3))
    m_bits = d.int(1, 16)
    m_lim = (1 << (m_bits - 1)) - 1 if m_bits > 1 else 1
    multiplier = d.array((channels,), -m_lim, m_lim)
    top = min(MAX_SHIFT, acc_bits + m_bits)
    if d.bool(80):  # about where acc·M's range meets the output's, a little inside
        shift = max(0, min(top, acc_bits + m_bits - out.bits - d.int(0, 8)))
    else:
        shift = d.int(0, top)
    b_bits = d.int(1, max(1, min(24, shift + out.bits)))
    bias = d.array((channels,), -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1)
    while requant_product_bits(acc_bits, multiplier, bias) > MAX_PRODUCT_BITS:
        multiplier, bias = multiplier // 2, bias // 2
    return RequantParams(multiplier, bias, shift), out, d.bool(40)


def _codes(d: Draws, layer: ComputeLayer) -> ComputeLayer:
    """``layer`` ending in a requantization (a join reads codes, not ±1)."""
    if not isinstance(layer.out_type, BipolarType):
        return layer
    requant, out, relu = _requant(d, layer.weight.shape[0], layer.acc_bits)
    return replace(layer, requant=requant, out_type=out, relu=relu)


def _conv(d, name, t, c_in, c_out, k, *, stride=1, same=True, groups=1, kind=None, src=()):
    """A ``k×k`` conv (``same``: padded to keep the frame at stride 1), codes out."""
    kind = kind or ("adder" if d.bool() else "mul")
    pads = (k // 2,) * 4 if same else (0,) * 4
    layer = _compute(d, name, t, (c_out, c_in // groups, k, k), kind, (stride, stride), pads)
    return _codes(d, replace(layer, groups=groups, inputs=tuple(src)))


def _out_chw(layer: ComputeLayer, chw) -> tuple[int, int, int]:
    return conv_output_shape((1, *chw), layer.weight.shape, layer.strides, layer.pads)[1:]


def _residual(d: Draws, n: _Net, i: int) -> None:
    c, h, w = n.chw
    src, t = n.name, n.t
    project = d.bool()
    c_out = d.int(1, 4) if project else c
    branch = _conv(d, f"b{i}_branch", t, c, c_out, 2 * d.int(0, 1) + 1, src=(src,))
    n.add(branch, branch.out_type, _out_chw(branch, n.chw))
    a, ta = branch.name, branch.out_type
    if project:
        proj = _conv(d, f"b{i}_proj", t, c, c_out, 1, src=(src,))
        n.add(proj, proj.out_type, (c_out, h, w))
        b, tb = proj.name, proj.out_type
    else:
        b, tb = src, t
    frac = max(ta.frac, tb.frac)
    shifts = (frac - ta.frac, frac - tb.frac)
    acc_bits = sum_bits([ta.bits, tb.bits], shifts)
    requant, out, relu = _requant(d, c_out, acc_bits)
    n.add(AddLayer(f"b{i}_add", (a, b), shifts, acc_bits, requant, out, relu), out, (c_out, h, w))


def _concat(d: Draws, n: _Net, i: int) -> None:
    c, h, w = n.chw
    src, t = n.name, n.t
    names, channels = [], 0
    for j, k in enumerate((1, 3)):
        layer = _conv(d, f"b{i}_cat{j}", t, c, d.int(1, 3), k, src=(src,))
        layer = replace(layer, out_type=t)  # a concatenation's operands share one type
        n.add(layer, t, (layer.weight.shape[0], h, w))
        names.append(layer.name)
        channels += layer.weight.shape[0]
    if d.bool():
        names.append(src)
        channels += c
    n.add(ConcatLayer(f"b{i}_cat", tuple(names)), t, (channels, h, w))


def _grouped(d: Draws, n: _Net, i: int) -> None:
    c, h, w = n.chw
    divisors = [g for g in range(1, c + 1) if c % g == 0]
    groups = divisors[d.int(0, len(divisors) - 1)]
    c_out = groups * d.int(1, 2)
    k = 2 * d.int(0, 1) + 1
    stride = d.int(1, 2)
    if d.bool(40):  # binary: a sign threshold, then an xnor conv in groups
        sign = _compute(d, f"b{i}_sign", n.t, (c, c, 1, 1), "mul", (1, 1), (0,) * 4)
        ends = sign.requant
        if not isinstance(sign.out_type, BipolarType):
            bound = 1 << (sign.acc_bits - 1)
            ends = Threshold(d.array((c,), -bound, bound + 1), d.array((c,), 0, 1) * 2 - 1)
        sign = replace(sign, requant=ends, out_type=BIPOLAR, relu=False)
        n.add(sign, BIPOLAR, n.chw)
        layer = _conv(d, f"b{i}_group", BIPOLAR, c, c_out, k, stride=stride, groups=groups,
                      kind="xnor")  # fmt: skip
    else:
        layer = _conv(d, f"b{i}_group", n.t, c, c_out, k, stride=stride, groups=groups)
    n.add(layer, layer.out_type, _out_chw(layer, n.chw))


def _sum_pool(d: Draws, n: _Net, i: int) -> None:
    c, h, w = n.chw
    kernel = (d.int(1, h), d.int(1, w))
    strides = (d.int(1, kernel[0]), d.int(1, kernel[1]))
    acc_bits = window_sum_bits(n.t.bits, kernel[0] * kernel[1])
    requant, out, relu = _requant(d, c, acc_bits)
    layer = SumPoolLayer(f"b{i}_sum", kernel, strides, acc_bits, requant, out, relu)
    chw = (c, (h - kernel[0]) // strides[0] + 1, (w - kernel[1]) // strides[1] + 1)
    n.add(layer, out, chw)


def _gate(d: Draws, n: _Net, i: int) -> None:
    c, h, w = n.chw
    src, t = n.name, n.t
    acc_bits = window_sum_bits(t.bits, h * w)
    requant, out, relu = _requant(d, c, acc_bits)
    n.add(SumPoolLayer(f"b{i}_squeeze", (h, w), (h, w), acc_bits, requant, out, relu), out,
          (c, 1, 1))  # fmt: skip
    gate = _conv(d, f"b{i}_excite", out, c, c, 1)
    n.add(gate, gate.out_type, (c, 1, 1))
    acc_bits = product_bits(t.bits, gate.out_type.bits)
    requant, out, relu = _requant(d, c, acc_bits)
    n.add(MulLayer(f"b{i}_gate", (src, gate.name), acc_bits, requant, out, relu), out, (c, h, w))


def _padded_pool(d: Draws, n: _Net, i: int) -> None:
    c, h, w = n.chw
    k = d.int(2, 3)
    pads = tuple(d.int(0, k - 1) for _ in range(4))
    kh, kw = min(k, h + pads[0] + pads[2]), min(k, w + pads[1] + pads[3])
    pads = (min(pads[0], kh - 1), min(pads[1], kw - 1), min(pads[2], kh - 1), min(pads[3], kw - 1))
    stride = d.int(1, k)
    layer = PoolLayer(f"b{i}_pool", (kh, kw), (stride, stride), "max", pads)
    chw = (
        c,
        (h + pads[0] + pads[2] - kh) // stride + 1,
        (w + pads[1] + pads[3] - kw) // stride + 1,
    )
    n.add(layer, n.t, chw)


BLOCKS = (_residual, _concat, _grouped, _sum_pool, _gate, _padded_pool)


def draw_graph_case(d: Draws) -> Case:
    """A graph network and images from the choice sequence ``d`` (see the module doc)."""
    bits, frac = d.int(2, MAX_BITS), d.int(0, 3)
    t = FixedType(bits, frac)
    c = d.int(1, 3)
    one_d = d.bool(25)
    chw = (c, 1, d.int(2, 8)) if one_d else (c, d.int(2, 6), d.int(2, 6))
    shape = (c, chw[2]) if one_d else chw
    n = _Net(t, chw)
    if one_d:
        n.add(ReshapeLayer("as2d", chw), t, chw)
    stem = _conv(d, "stem", t, c, d.int(1, 4), 3 if not one_d else 1)
    n.add(stem, stem.out_type, _out_chw(stem, n.chw))
    for i in range(d.int(1, 3)):
        BLOCKS[d.int(0, len(BLOCKS) - 1)](d, n, i)
    if d.bool():
        n.add(FlattenLayer("flat"), n.t, n.chw)
        k = int(np.prod(n.chw))
        kind = "xnor" if isinstance(n.t, BipolarType) else ("adder" if d.bool() else "mul")
        head = _compute(d, "head", n.t, (d.int(1, 4), k), kind, (1, 1), (0,) * 4)
        n.add(head, head.out_type, (head.weight.shape[0], 1, 1))
    images = _images(d, t, shape)
    net = _centred(d, QuantizedNetwork(t, shape, tuple(n.layers)), images)
    return Case(d.choices, net, images)


def _centred(d: Draws, net: QuantizedNetwork, images: np.ndarray) -> QuantizedNetwork:
    """Most requantizers re-centred on their accumulators over ``images`` (bias at the
    channel's mean, shift spreading its deviation over the output range), and most sign
    thresholds at an attained median, layer by layer: drawn requantizers alone mostly
    saturate to a constant, which would leave the layers after them nothing to compute."""
    layers = list(net.layers)
    for i, layer in enumerate(layers):
        if not hasattr(layer, "requant") or not d.bool(80):
            continue
        prefix = build_qonnx(replace(net, layers=tuple(layers[: i + 1])), batch=len(images))
        acc = run_reference(prefix, images)[f"{layer.name}_acc"].astype(np.float64)
        flat = np.moveaxis(acc, 1, -1).reshape(-1, acc.shape[1])
        if isinstance(layer.requant, Threshold):
            d_ = layer.requant.direction
            t = [np.quantile(d_[c] * flat[:, c], 0.5, method="nearest") for c in range(len(d_))]
            requant = Threshold(np.array(t, np.int64), d_)
        else:
            m = layer.requant.multiplier
            spread = max(1.0, float(np.max(np.abs(m) * np.maximum(flat.std(axis=0), 1.0))))
            shift = int(np.clip(round(np.log2(2.5 * spread / layer.out_type.qmax)), 0, MAX_SHIFT))
            bias = np.round(-flat.mean(axis=0) * m).astype(np.int64)
            if requant_product_bits(layer.acc_bits, m, bias) > MAX_PRODUCT_BITS:
                continue
            requant = RequantParams(m, bias, shift)
        layers[i] = replace(layer, requant=requant)
    return replace(net, layers=tuple(layers))
