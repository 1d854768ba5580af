"""A binary model made elsewhere, converted exactly into a ``QuantizedNetwork`` (DESIGN.md
rule 6): qonnx-native models (``MultiThreshold``, ``XnorPopcountMatMul``, FINN's ``Mul``/
``Add`` correction to ``2·popcount − K``) and hls4ml/brevitas-style ones (``Gemm``,
``MatMul`` or ``Conv`` whose input and weight are ``BipolarQuant``'d, ``BipolarQuant``
activations, ``MaxPool``, ``Flatten``).

How: the walk follows every tensor's value as an exact affine function (rational numbers,
``fractions.Fraction`` of the stored float values) of an integer tensor of our IR:

* ``_Acc``: ``alpha·a + beta`` per channel, ``a`` the accumulator of a layer whose output
  stage is not known yet (``2·popcount − K`` for a binary layer), or the input codes;
* ``_Bits``: ``scale·c + offset``, ``c`` the ±1 codes a closed layer outputs. qonnx's
  BINARY bits {0, 1} are ``(c + 1)/2``; a ``BipolarQuant`` with scale ``s`` gives ``s·c``.

A single-threshold ``MultiThreshold`` or a ``BipolarQuant`` on an ``_Acc`` closes its layer
with our ``Threshold`` (``fixed.fit_threshold`` of ``alpha·a + beta − t >= 0``: exact, ties
included, direction −1 where ``alpha < 0``). An XnorPopcountMatMul's output, the popcount
``P = (a + K)/2``, is ``_Acc(alpha=1/2, beta=K/2)``, so thresholds on the popcount become
integer thresholds on our accumulator. The network's output is ±1 codes (a last binary
activation of scale 1) or an ``_Acc`` whose ``alpha`` and ``beta`` are multiples of one
power of two ``2**-f``: a requantization ``M = alpha·2**f``, ``B = beta·2**f``, shift 0,
``fixed<b, f>`` wide enough never to saturate.

The IR's input is a fixed-point quantizer (``input_type``, default ``fixed<8, 4>``); the
model's first binarization of its float input becomes a sign stem: a multiplication layer
with identity weights ending in that binarization's ``Threshold`` (1×1 conv for an image,
dense for a vector; it is counted as the multiplication layer it is). It equals the
model's on every input on the quantizer's grid (multiples of ``2**-frac``: ±1 data, say).
A binary layer reading the graph input directly needs that input annotated ``BINARY``
({0, 1}, as FINN leaves a first XnorPopcountMatMul) or ``BIPOLAR`` (±1); its stem then
thresholds at 1/2 or 0, exact on inputs of that datatype.

Refused, naming the node: a multi-level ``MultiThreshold`` (more than one threshold per
channel); ``Im2Col`` (its padding value votes in the popcount, our zero padding does not;
the ``Conv`` of ``BipolarQuant`` operands it came from converts); a layer whose operands
are not both ±1 (or {0, 1} bits for XnorPopcountMatMul); a per-channel or zero scale where
one scale is needed; branches; any other op.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
from qonnx.core.modelwrapper import ModelWrapper

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.fixed import (
    BIPOLAR,
    FixedType,
    RequantParams,
    fit_threshold,
    mul_acc_bits,
    signed_bits,
    xnor_acc_bits,
)
from adderflow.quant.spec import (
    INPUT,
    ComputeLayer,
    FlattenLayer,
    PoolLayer,
    QuantizedNetwork,
)
from adderflow.sim.onnx_io import node_attr

DEFAULT_INPUT_TYPE = FixedType(8, 4)
OPS = (
    "BipolarQuant, MultiThreshold, XnorPopcountMatMul, Gemm, MatMul, Conv, Mul, Div, Add, "
    "Sub, MaxPool, Flatten, Reshape, Identity, Dropout"
)
CONST_OPS = frozenset({"Quant", "BipolarQuant", "Trunc", "Constant"})
# The finest output grid: 2**-16 (a float32 scale such as 1/3 is a dyadic rational too,
# of 25 fraction bits: refused rather than carried as a 25-bit multiplier).
MAX_OUTPUT_FRAC = 16


@dataclass(frozen=True)
class _Acc:
    """``alpha·a + beta`` per channel; ``a`` is ``layer``'s accumulator (``INPUT``: the
    input codes)."""

    layer: str
    alpha: np.ndarray  # object array of Fraction, [C]
    beta: np.ndarray
    shape: tuple[int, ...]  # one sample's


@dataclass(frozen=True)
class _Bits:
    """``scale·c + offset``, ``c`` the ±1 codes of the last closed layer."""

    scale: Fraction
    offset: Fraction
    shape: tuple[int, ...]


@dataclass(frozen=True)
class _Open:
    """A layer whose accumulator is known and whose output stage is not yet."""

    name: str
    kind: str
    weight: np.ndarray
    in_type: FixedType | object
    w_type: FixedType | object
    acc_bits: int
    bound: int  # |accumulator| <= bound
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)


def _fractions(values) -> np.ndarray:
    flat = np.ravel(np.asarray(values, dtype=np.float64))
    return np.array([Fraction(float(v)) for v in flat], dtype=object)


class _Converter:
    def __init__(self, wrapper: ModelWrapper, where: str, input_type: FixedType) -> None:
        self.wrapper, self.where, self.input_type = wrapper, where, input_type
        self.consts = {
            t.name: np.asarray(wrapper.get_initializer(t.name)) for t in wrapper.graph.initializer
        }
        self.values: dict[str, _Acc | _Bits] = {}
        self.open: dict[str, _Open] = {}
        self.layers: list = []
        self.names: set[str] = set()

    # ------------------------------------------------------------------ helpers

    def fail(self, node: onnx.NodeProto, why: str, error=ModelFormatError):
        return error(f"{self.where}: node '{node.name}' ({node.op_type}): {why}")

    def const(self, node: onnx.NodeProto, index: int, what: str) -> np.ndarray:
        name = node.input[index] if len(node.input) > index else ""
        if name not in self.consts:
            raise self.fail(node, f"{what} '{name}' is not a constant")
        return self.consts[name]

    def value(self, node: onnx.NodeProto, index: int = 0) -> _Acc | _Bits:
        name = node.input[index]
        if name not in self.values:
            raise self.fail(node, f"input '{name}' is not computed from the network input")
        return self.values[name]

    def layer_name(self, node: onnx.NodeProto) -> str:
        # brevitas names nodes /layer/input_quant/export_handler/BipolarQuant
        short = node.name.replace("/export_handler", "")
        base = re.sub(r"[^A-Za-z0-9_]", "_", short).strip("_") or node.op_type.lower()
        base = base if base[0].isalpha() else f"n_{base}"
        name, i = base, 1
        while name in self.names or name == INPUT:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    def per_channel(self, node: onnx.NodeProto, value: np.ndarray, shape) -> np.ndarray:
        """A constant broadcast over a tensor of one sample's ``shape``, as one value per
        channel (axis 1); one varying along another axis is refused."""
        full = (1, *shape)
        value = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(value)):
            raise self.fail(node, "a constant that is not finite", QuantizationError)
        try:
            spread = np.broadcast_to(value, full)[0].reshape(shape[0] if shape else 1, -1)
        except ValueError as exc:
            raise self.fail(
                node, f"constant of shape {list(value.shape)} does not broadcast over {list(full)}"
            ) from exc
        if value.ndim > len(full) or not np.all(spread == spread[:, :1]):
            raise self.fail(
                node, "a constant that varies along a spatial axis is not one value per channel"
            )
        return _fractions(spread[:, 0])

    def scalar(self, node: onnx.NodeProto, index: int, what: str) -> Fraction:
        value = self.const(node, index, what)
        if value.size != 1 or not np.all(np.isfinite(value)) or float(value.ravel()[0]) == 0:
            raise self.fail(
                node,
                f"{what} must be one nonzero number, got {np.ravel(value)[:4].tolist()}",
                QuantizationError,
            )
        return Fraction(float(value.ravel()[0]))

    # ------------------------------------------------------------------ the walk

    def run(self) -> QuantizedNetwork:
        graph = self.wrapper.graph
        inputs = [i for i in graph.input if i.name not in self.consts]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise ModelFormatError(
                f"{self.where}: a binary model converts with one input and one output"
            )
        self.input_name = inputs[0].name
        shape = tuple(self.wrapper.get_tensor_shape(inputs[0].name) or ())
        if len(shape) not in (2, 4) or any(not isinstance(d, int) or d < 1 for d in shape):
            raise ModelFormatError(
                f"{self.where}: input '{inputs[0].name}' has shape "
                f"{list(shape)}; [N, K] or [N, C, H, W] converts"
            )
        step = Fraction(1, 2**self.input_type.frac)
        c = shape[1]
        self.values[inputs[0].name] = _Acc(
            INPUT,
            np.array([step] * c, dtype=object),
            np.array([Fraction(0)] * c, dtype=object),
            shape[1:],
        )
        self._check_line()
        for node in graph.node:
            self.step(node)
        self.finish(graph.output[0].name)
        return QuantizedNetwork(self.input_type, shape[1:], tuple(self.layers))

    def _check_line(self) -> None:
        seen: dict[str, str] = {}
        for node in self.wrapper.graph.node:
            for name in node.input:
                if name and name not in self.consts and name in seen:
                    raise self.fail(
                        node,
                        f"tensor '{name}' is also read by node '{seen[name]}'; a "
                        "binary model converts as a line (no branches)",
                    )
                seen[name] = node.name

    def step(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        if all(not name or name in self.consts for name in node.input):
            self.fold(node)
            return
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            if op == "Im2Col":
                raise self.im2col(node)
            raise self.fail(node, f"is not converted to a binary network (converted: {OPS})")
        self.values[node.output[0]] = handler(node)

    def fold(self, node: onnx.NodeProto) -> None:
        """A node on constants only (a weight or bias quantizer): its value, by qonnx."""
        if node.op_type not in CONST_OPS:
            raise self.fail(node, "a constant expression qonnx's tidy did not fold")
        if node.op_type == "Constant":
            tensor = next(a.t for a in node.attribute if a.name == "value")
            self.consts[node.output[0]] = onnx.numpy_helper.to_array(tensor)
            return
        from qonnx.custom_op.registry import getCustomOp

        context = {name: self.consts[name] for name in node.input if name}
        getCustomOp(node).execute_node(context, self.wrapper.graph)
        self.consts[node.output[0]] = np.asarray(context[node.output[0]])

    # ------------------------------------------------------------------ binarizations

    def op_BipolarQuant(self, node: onnx.NodeProto) -> _Bits:
        scale = self.scalar(node, 1, "scale")
        x = self.value(node)
        if isinstance(x, _Bits):  # the sign of ±1 codes again: the same codes
            if x.scale > 0 and abs(x.offset) < x.scale:
                return _Bits(scale, Fraction(0), x.shape)
            raise self.fail(node, "re-binarizes binary values to other codes")
        self.close(node, x, x.alpha, x.beta)
        return _Bits(scale, Fraction(0), x.shape)

    def op_MultiThreshold(self, node: onnx.NodeProto) -> _Bits:
        x = self.value(node)
        thresholds = np.asarray(self.const(node, 1, "thresholds"), dtype=np.float64)
        if np.any(np.isnan(thresholds)):
            raise self.fail(node, "a threshold is NaN", QuantizationError)
        # ±inf (never / always reached) as a finite value past every accumulator's reach
        thresholds = np.clip(thresholds, -(2.0**62), 2.0**62)
        if thresholds.ndim != 2 or thresholds.shape[1] != 1:
            raise self.fail(
                node,
                f"thresholds of shape {list(thresholds.shape)}: a multi-level "
                "activation (more than one threshold per channel) is not a binary "
                "one; only single-threshold (±1 or {0, 1}) MultiThresholds convert",
                QuantizationError,
            )
        layout = node_attr(node, "data_layout", "") or ""
        if isinstance(layout, bytes):
            layout = layout.decode()
        if layout and layout.find("C") != 1:
            raise self.fail(node, f"data_layout {layout}: channels-last is not converted")
        if isinstance(x, _Bits):
            raise self.fail(node, "thresholds binary values (its input is already ±1 codes)")
        t = _fractions(thresholds[:, 0])
        if t.size not in (1, len(x.alpha)):
            raise self.fail(node, f"{t.size} thresholds for {len(x.alpha)} channels")
        t = t if t.size == len(x.alpha) else np.repeat(t, len(x.alpha))
        self.close(node, x, x.alpha, x.beta - t)
        out_scale = Fraction(float(node_attr(node, "out_scale", 1.0)))
        out_bias = Fraction(float(node_attr(node, "out_bias", 0.0)))
        # count in {0, 1} = (c + 1)/2, then out_scale·count + out_bias
        return _Bits(out_scale / 2, out_scale / 2 + out_bias, x.shape)

    def close(self, node: onnx.NodeProto, x: _Acc, slope, intercept) -> None:
        """Ends ``x``'s layer (or a sign stem on the input) with the integer ``Threshold``
        of ``slope·a + intercept >= 0``."""
        layer = self.stem(node, x) if x.layer == INPUT else self.open.pop(x.layer)
        threshold = fit_threshold(
            slope, intercept, layer.bound, f"{self.where}: node '{node.name}'"
        )
        self.add(layer, threshold, BIPOLAR)

    def stem(self, node: onnx.NodeProto, x: _Acc) -> _Open:
        """The sign of the fixed-point input: an identity multiplication layer whose
        threshold is the model's first binarization."""
        c, t = x.shape[0], self.input_type
        eye = np.eye(c, dtype=np.int64)
        weight = eye if len(x.shape) == 1 else eye[:, :, None, None]
        bound = -t.qmin
        return _Open(
            self.layer_name(node) + "_sign",
            "mul",
            weight,
            t,
            FixedType(2, 0),
            mul_acc_bits(t.bits, 2, c),
            bound,
        )

    def add(self, layer: _Open, requant, out_type) -> None:
        self.layers.append(
            ComputeLayer(
                layer.name,
                layer.kind,
                layer.weight,
                layer.in_type,
                layer.w_type,
                layer.acc_bits,
                requant,
                out_type,
                False,
                layer.strides,
                layer.pads,
            )
        )

    def im2col(self, node: onnx.NodeProto) -> Exception:
        pads = list(node_attr(node, "pad_amount", [0, 0, 0, 0]) or [0, 0, 0, 0])
        if any(pads):
            value = node_attr(node, "pad_value", 0)
            return self.fail(
                node,
                f"pads {pads} with value {value}, which takes part in the "
                "popcount (a padded 0 bit is a -1 vote); adderflow's binary padding "
                "does not vote (DESIGN.md rule 6), so no exact conversion exists",
                QuantizationError,
            )
        return self.fail(
            node,
            "the channels-last Im2Col + MatMul lowering is not converted; "
            "convert the model before lowering (a Conv of BipolarQuant operands "
            "converts)",
        )

    # ------------------------------------------------------------------ layers

    def bits_input(self, node: onnx.NodeProto, rank: int) -> _Bits:
        x = self.value(node)
        if isinstance(x, _Acc) and node.input[0] == self.input_name:
            x = self.annotated_input(node, x)
        if not isinstance(x, _Bits):
            raise self.fail(
                node,
                "its input is not binary (BipolarQuant, a ±1 MultiThreshold"
                " or a BIPOLAR layer output); it is not a binary layer",
                QuantizationError,
            )
        if len(x.shape) != rank:
            raise self.fail(
                node, f"input of one sample's shape {list(x.shape)} (rank {rank} converts)"
            )
        return x

    def annotated_input(self, node: onnx.NodeProto, x: _Acc) -> _Acc | _Bits:
        """A binary layer straight on the graph input, annotated ``BINARY`` ({0, 1}: FINN's
        first XnorPopcountMatMul) or ``BIPOLAR`` (±1): a sign stem thresholding at 1/2 or
        0, exact on inputs of that datatype."""
        datatype = self.wrapper.get_tensor_datatype(self.input_name)
        name = datatype.get_canonical_name() if datatype is not None else ""
        if name not in ("BINARY", "BIPOLAR"):
            return x
        binary = name == "BINARY"
        self.close(node, x, x.alpha, x.beta - (Fraction(1, 2) if binary else 0))
        return (
            _Bits(Fraction(1, 2), Fraction(1, 2), x.shape)
            if binary
            else _Bits(Fraction(1), Fraction(0), x.shape)
        )

    def bipolar_weight(self, node: onnx.NodeProto, weight: np.ndarray):
        """``weight`` (output channel first) as ±1 codes and one scale per output channel."""
        w = np.asarray(weight, dtype=np.float64)
        flat = w.reshape(w.shape[0], -1)
        mag = np.abs(flat)
        if not np.all(np.isfinite(mag)) or np.any(mag == 0) or not np.all(mag == mag[:, :1]):
            raise self.fail(
                node,
                "weight is not ±s (one magnitude per output channel): not a binary weight",
                QuantizationError,
            )
        codes = np.where(w >= 0, 1, -1).astype(np.int64)
        return codes, _fractions(mag[:, 0])

    def open_layer(self, node, weight, x_scale, w_scale, bias, shape, **conv) -> _Acc:
        name = self.layer_name(node)
        k = int(np.prod(weight.shape[1:]))
        self.open[name] = _Open(name, "xnor", weight, BIPOLAR, BIPOLAR, xnor_acc_bits(k), k, **conv)
        return _Acc(name, x_scale * w_scale, bias, shape)

    def no_offset(self, node: onnx.NodeProto, x: _Bits) -> None:
        if x.offset != 0:
            raise self.fail(
                node,
                f"input values {x.offset - x.scale}, {x.offset + x.scale} "
                "are not ±s: not an XNOR layer",
                QuantizationError,
            )

    def op_XnorPopcountMatMul(self, node: onnx.NodeProto) -> _Acc:
        x = self.bits_input(node, 1)
        if (x.scale, x.offset) != (Fraction(1, 2), Fraction(1, 2)):
            values = f"{x.offset - x.scale}, {x.offset + x.scale}"
            raise self.fail(
                node,
                f"reads {{0, 1}} bits (BINARY); its input values are {values}",
                QuantizationError,
            )
        w = self.const(node, 1, "weight")
        if w.ndim != 2 or not np.all((w == 0) | (w == 1)):
            raise self.fail(node, "weight is not a [K, N] matrix of {0, 1} bits", QuantizationError)
        codes = (2 * w.T - 1).astype(np.int64)
        k, n = w.shape
        half = np.array([Fraction(1, 2)] * n, dtype=object)
        acc = self.open_layer(
            node, codes, half, 1, np.array([Fraction(k, 2)] * n, dtype=object), (n,)
        )
        return acc

    def op_MatMul(self, node: onnx.NodeProto) -> _Acc:
        x = self.bits_input(node, 1)
        self.no_offset(node, x)
        w = self.const(node, 1, "weight")
        if w.ndim != 2:
            raise self.fail(node, f"weight of rank {w.ndim}; a [K, N] matrix converts")
        codes, scale = self.bipolar_weight(node, w.T)
        zero = np.array([Fraction(0)] * w.shape[1], dtype=object)
        return self.open_layer(node, codes, x.scale, scale, zero, (w.shape[1],))

    def op_Gemm(self, node: onnx.NodeProto) -> _Acc:
        if node_attr(node, "transA", 0):
            raise self.fail(node, "transA=1 is not converted")
        x = self.bits_input(node, 1)
        self.no_offset(node, x)
        w = self.const(node, 1, "weight")
        w = w if node_attr(node, "transB", 0) else w.T
        codes, scale = self.bipolar_weight(node, w)
        n = w.shape[0]
        alpha = Fraction(float(node_attr(node, "alpha", 1.0)))
        beta = Fraction(float(node_attr(node, "beta", 1.0)))
        bias = np.array([Fraction(0)] * n, dtype=object)
        if len(node.input) > 2 and node.input[2]:
            bias = self.per_channel(node, self.const(node, 2, "bias"), (n,)) * beta
        return self.open_layer(node, codes, x.scale * alpha, scale, bias, (n,))

    def op_Conv(self, node: onnx.NodeProto) -> _Acc:
        x = self.bits_input(node, 3)
        self.no_offset(node, x)
        w = self.const(node, 1, "weight")
        if w.ndim != 4:
            raise self.fail(node, f"a {w.ndim - 2}-D convolution; 2-D ones convert")
        if node_attr(node, "group", 1) != 1:
            raise self.fail(node, "grouped binary convolution is not converted")
        if any(d != 1 for d in node_attr(node, "dilations", None) or []):
            raise self.fail(node, "dilated convolution is not converted")
        if node_attr(node, "auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET", "VALID", b"VALID"):
            raise self.fail(node, "auto_pad: explicit pads only")
        codes, scale = self.bipolar_weight(node, w)
        strides = tuple(node_attr(node, "strides", None) or (1, 1))
        pads = tuple(node_attr(node, "pads", None) or (0, 0, 0, 0))
        o, _, kh, kw = w.shape
        _, h, wd = x.shape
        out = (
            o,
            (h + pads[0] + pads[2] - kh) // strides[0] + 1,
            (wd + pads[1] + pads[3] - kw) // strides[1] + 1,
        )
        bias = np.array([Fraction(0)] * o, dtype=object)
        if len(node.input) > 2 and node.input[2]:
            bias = self.per_channel(node, self.const(node, 2, "bias"), (o,))
        # ONNX pads a ±s input with 0, which adds nothing to the dot product: exactly our
        # binary padding that does not vote.
        return self.open_layer(node, codes, x.scale, scale, bias, out, strides=strides, pads=pads)

    # ------------------------------------------------------------------ affine and data ops

    def _operand(self, node: onnx.NodeProto) -> tuple[_Acc | _Bits, np.ndarray, bool]:
        """(the computed operand, the constant one, whether the constant comes first)."""
        first = node.input[0] in self.consts
        x = self.value(node, 1 if first else 0)
        return x, self.const(node, 0 if first else 1, "operand"), first

    def _affine(self, node: onnx.NodeProto, mul, add) -> _Acc | _Bits:
        x, c, _ = self._operand(node)
        if isinstance(x, _Bits):
            v = self.per_channel(node, c, x.shape)
            if not np.all(v == v[0]):
                raise self.fail(node, "a per-channel constant on binary values is not converted")
            m, a = mul(v[0]), add(v[0])
            return _Bits(x.scale * m, x.offset * m + a, x.shape)
        v = self.per_channel(node, c, x.shape)
        v = v if v.size == len(x.alpha) else np.repeat(v, len(x.alpha))
        m = np.array([mul(e) for e in v], dtype=object)
        a = np.array([add(e) for e in v], dtype=object)
        return _Acc(x.layer, x.alpha * m, x.beta * m + a, x.shape)

    def op_Mul(self, node: onnx.NodeProto):
        return self._affine(node, lambda c: c, lambda c: Fraction(0))

    def op_Div(self, node: onnx.NodeProto):
        if node.input[0] in self.consts:
            raise self.fail(node, "a constant divided by a tensor is not affine")
        return self._affine(node, lambda c: 1 / c, lambda c: Fraction(0))

    def op_Add(self, node: onnx.NodeProto):
        return self._affine(node, lambda c: Fraction(1), lambda c: c)

    def op_Sub(self, node: onnx.NodeProto):
        if node.input[0] in self.consts:  # c - x
            return self._affine(node, lambda c: Fraction(-1), lambda c: c)
        return self._affine(node, lambda c: Fraction(1), lambda c: -c)

    def op_Identity(self, node: onnx.NodeProto):
        return self.value(node)

    op_Dropout = op_Identity

    def flatten(self, node: onnx.NodeProto) -> _Bits:
        x = self.value(node)
        if not isinstance(x, _Bits):
            raise self.fail(node, "reshapes an accumulator before its threshold")
        if len(x.shape) > 1:
            self.layers.append(FlattenLayer(self.layer_name(node)))
        return _Bits(x.scale, x.offset, (int(np.prod(x.shape)),))

    def op_Flatten(self, node: onnx.NodeProto) -> _Bits:
        if node_attr(node, "axis", 1) != 1:
            raise self.fail(node, "Flatten with axis != 1 is not converted")
        return self.flatten(node)

    def op_Reshape(self, node: onnx.NodeProto) -> _Bits:
        x = self.value(node)
        target = self.const(node, 1, "shape").astype(np.int64).tolist()
        flat = int(np.prod(x.shape))
        if len(target) != 2 or target[1] not in (-1, flat):
            raise self.fail(node, f"Reshape to {target}: only a flatten to [N, {flat}] converts")
        return self.flatten(node)

    def op_MaxPool(self, node: onnx.NodeProto) -> _Bits:
        x = self.value(node)
        if not isinstance(x, _Bits) or x.scale <= 0:
            raise self.fail(
                node,
                "max pooling converts on binary values of positive scale (the max of ±1 codes)",
            )
        kernel = tuple(node_attr(node, "kernel_shape"))
        strides = tuple(node_attr(node, "strides", None) or (1, 1))
        if any(node_attr(node, "pads", None) or []) or node_attr(node, "ceil_mode", 0):
            raise self.fail(node, "padded or ceil_mode max pooling is not converted")
        if any(d != 1 for d in node_attr(node, "dilations", None) or []):
            raise self.fail(node, "dilated max pooling is not converted")
        self.layers.append(PoolLayer(self.layer_name(node), kernel, strides))
        c, h, w = x.shape
        out = (c, (h - kernel[0]) // strides[0] + 1, (w - kernel[1]) // strides[1] + 1)
        return _Bits(x.scale, x.offset, out)

    # ------------------------------------------------------------------ the output

    def finish(self, output: str) -> None:
        x = self.values.get(output)
        if x is None:
            raise ModelFormatError(
                f"{self.where}: output '{output}' is not computed from the input"
            )
        if isinstance(x, _Bits):
            if (x.scale, x.offset) != (1, 0):
                raise QuantizationError(
                    f"{self.where}: output '{output}' is {x.scale}·c + {x.offset} of ±1 codes "
                    "c; the IR's binary output is the codes themselves (scale 1)"
                )
        elif x.layer == INPUT:
            raise ModelFormatError(f"{self.where}: output '{output}' has no layer before it")
        else:
            layer = self.open.pop(x.layer)
            requant, out_type = self.exact_requant(output, x, layer.bound)
            self.add(layer, requant, out_type)
        if self.open:
            raise ModelFormatError(
                f"{self.where}: layer(s) {sorted(self.open)} never reach a threshold or the output"
            )

    def exact_requant(self, output: str, x: _Acc, bound: int):
        """``alpha·a + beta`` as codes of ``fixed<b, f>``: ``M = alpha·2**f``, ``B =
        beta·2**f``, no shift, ``b`` wide enough that nothing saturates."""
        values = [*x.alpha, *x.beta]
        frac = 0
        while any((v * 2**frac).denominator != 1 for v in values):
            frac += 1
            if frac > MAX_OUTPUT_FRAC:
                raise QuantizationError(
                    f"{self.where}: output '{output}' is {x.alpha[0]}·acc + {x.beta[0]} (per "
                    f"channel); its scale and offset are not multiples of one power of two "
                    f"2**-f with f <= {MAX_OUTPUT_FRAC}, so fixed-point codes cannot hold it "
                    "exactly"
                )
        m = np.array([int(v * 2**frac) for v in x.alpha], dtype=np.int64)
        b = np.array([int(v * 2**frac) for v in x.beta], dtype=np.int64)
        top = int(np.max(np.abs(m) * bound + np.abs(b)))
        return RequantParams(m, b, 0), FixedType(signed_bits(top), frac)


def is_binary(wrapper: ModelWrapper) -> bool:
    """Whether a (tidied) model binarizes activations: a qonnx MultiThreshold or
    XnorPopcountMatMul, or a BipolarQuant of anything but a constant. Such a model is this
    module's to convert."""
    consts = {t.name for t in wrapper.graph.initializer}
    for node in wrapper.graph.node:
        if node.op_type in ("MultiThreshold", "XnorPopcountMatMul"):
            return True
        if node.op_type == "BipolarQuant" and node.input[0] not in consts:
            return True
    return False


def convert_binary(
    wrapper: ModelWrapper, where: str, input_type: FixedType = DEFAULT_INPUT_TYPE
) -> QuantizedNetwork:
    """A model read by ``importer.load_foreign`` as a ``QuantizedNetwork``; ``where`` starts
    every error (``model file PATH``)."""
    return _Converter(wrapper, where, input_type).run()


def binary_network(
    path: str | Path, input_type: FixedType = DEFAULT_INPUT_TYPE
) -> QuantizedNetwork:
    """The binary model at ``path`` as a ``QuantizedNetwork`` (module doc); refusals name
    the node and the reason."""
    from adderflow.export.importer import load_foreign

    return convert_binary(load_foreign(path), f"model file {path}", input_type)
