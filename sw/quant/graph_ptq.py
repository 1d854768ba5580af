"""Post-training quantization of any torch.fx-traceable network (``quantize_graph``).

The graph comes from ``quant.trace``; the choices are ``quant.ptq``'s, applied per tensor
instead of per block:
- Every tensor's type is ``fixed<bits, f>`` with ``f`` from its calibration peak (a power
  of two, nothing on calibration data clips). Operations that do not requantize (max and
  power-of-two average pools, flatten, concatenation) pass their input's type on, so a
  tensor and everything it reaches through them share one type, chosen from all their
  peaks: a concatenation's operands are written in one type by their requantizations
  (GhostNet's primary output feeds both its cheap conv and the concatenation).
- An adder layer's input and weights share that type (``adder_scale``: ``activation``
  clamps weights beyond it and compensates exactly in the bias, ``joint`` widens it to
  cover the weights too); multiplication weights get their own type (``weight_bits``).
- Batch norm, a conv's bias, ReLU and hardsigmoid fold into the producing layer's
  requantization; a residual add aligns its operands by shifts to the finer scale
  (DESIGN.md rule 10) and requantizes; a global average pool over a power-of-two area is
  a shift, over any other area a window sum and a requantization.
- A network ending in a plain linear layer keeps its full accumulator (logit codes plus
  bias), as ``ptq.classifier_layer``.
- A 1-D network (input ``(C, L)``) enters as ``(C, 1, L)`` through a reshape, and its
  layers become 2-D ones of height 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from adderflow.errors import QuantizationError
from adderflow.fixed import (
    FixedType,
    check_bits,
    fit_requant,
    frac_for_range,
    mul_acc_bits,
    quantize,
)
from adderflow.quant.ptq import (
    ADDER_SCALES,
    _bn_terms,
    _clamp_compensation,
    classifier_layer,
    fold_compute_layer,
)
from adderflow.quant.spec import (
    INPUT,
    AddLayer,
    ConcatLayer,
    FlattenLayer,
    MulLayer,
    PoolLayer,
    QuantizedNetwork,
    ReshapeLayer,
    SumPoolLayer,
)
from adderflow.quant.trace import GraphOp, OpGraph, conv_padding, trace_graph

PASS_THROUGH = ("maxpool", "flatten", "cat")


class _Classes:
    """Union-find over tensor names: tensors that must share one type."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, name: str) -> str:
        self.parent.setdefault(name, name)
        while self.parent[name] != name:
            self.parent[name] = self.parent[self.parent[name]]
            name = self.parent[name]
        return name

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def _is_adder(op: GraphOp) -> bool:
    return op.kind == "compute" and bool(getattr(op.module, "is_adder", False))


def _is_shift_pool(op: GraphOp, graph: OpGraph) -> bool:
    """An average pool the IR's average pool takes: square kernel = stride, no padding,
    power-of-two area; every other average is a window sum and a requantization."""
    kernel, stride = _pool_window(op, graph)
    area = kernel[0] * kernel[1]
    return kernel[0] == kernel[1] and kernel == stride and area & (area - 1) == 0


def _pool_window(op: GraphOp, graph: OpGraph) -> tuple[tuple[int, int], tuple[int, int]]:
    """An average pool's (kernel, stride) as a 2-D window (1-D: height 1)."""
    if op.kind == "gap":
        frame = _spatial(graph.shape(op.inputs[0]))
        return frame, frame
    return _frame(op.params["kernel"]), _frame(op.params["stride"])


def _frame(spatial: tuple[int, ...]) -> tuple[int, int]:
    """A kernel or stride as the IR's 2-D one (1-D: height 1)."""
    return (1, spatial[0]) if len(spatial) == 1 else (spatial[0], spatial[1])


def _spatial(shape: tuple[int, ...]) -> tuple[int, int]:
    """The IR frame of a ``(C, ...)`` tensor shape."""
    return (1, shape[1]) if len(shape) == 2 else (shape[1], shape[2])


def _requantizes(op: GraphOp, graph: OpGraph) -> bool:
    if op.kind in ("avgpool", "gap"):
        return not _is_shift_pool(op, graph)
    return op.kind not in PASS_THROUGH


def _type_classes(graph: OpGraph) -> _Classes:
    classes = _Classes()
    classes.find(INPUT)
    for op in graph.ops:
        classes.find(op.name)
        if not _requantizes(op, graph):
            for source in op.inputs:
                classes.union(op.name, source)
    return classes


def _class_peaks(
    graph: OpGraph, classes: _Classes, adder_scale: str, bits: int
) -> dict[str, float]:
    peaks: dict[str, float] = {}

    def widen(name: str, peak: float) -> None:
        root = classes.find(name)
        peaks[root] = max(peaks.get(root, 0.0), peak)

    widen(INPUT, graph.peak(INPUT))
    for op in graph.ops:
        # A gate's type ends just below 1 (fixed<b, b-1>), so that its saturation is
        # hardsigmoid's clamp at 1 whatever the calibration peak.
        gate = 1.0 - 2.0 ** -(bits - 1) if op.act == "hardsigmoid" else None
        widen(op.name, graph.peak(op.name) if gate is None else gate)
        if _is_adder(op) and adder_scale == "joint":
            widen(op.inputs[0], float(op.module.weight.detach().abs().max()))
    return peaks


@dataclass(frozen=True)
class GraphTypes:
    """The types a graph quantizes to: every op's output (and ``INPUT``) and every
    multiplication layer's weights. PTQ takes them from calibration; QAT keeps PTQ's
    for the whole fine-tune and exports with them (``fixed``: weights are already on
    their grid, so an adder's clamp needs no compensation)."""

    tensors: dict[str, FixedType]
    weights: dict[str, FixedType]
    fixed: bool = False


def graph_types(
    graph: OpGraph, bits: int, w_bits: int, adder_scale: str = "activation"
) -> GraphTypes:
    """PTQ's types: each tensor's from its class's calibration peak (see the module doc)."""
    classes = _type_classes(graph)
    peaks = _class_peaks(graph, classes, adder_scale, bits)

    def of(name: str) -> FixedType:
        return FixedType(bits, frac_for_range(peaks[classes.find(name)], bits))

    tensors = {name: of(name) for name in (INPUT, *(op.name for op in graph.ops))}
    weights = {
        op.name: FixedType(w_bits, frac_for_range(_weight_peak(op), w_bits))
        for op in graph.ops
        if op.kind == "compute" and not _is_adder(op)
    }
    return GraphTypes(tensors, weights)


def _weight_peak(op: GraphOp) -> float:
    return float(op.module.weight.detach().abs().max())


class _Builder:
    def __init__(
        self, graph: OpGraph, types: GraphTypes, multiplier_bits: int, shift_only: bool
    ) -> None:
        self.graph, self.types = graph, types
        self.multiplier_bits, self.shift_only = multiplier_bits, shift_only
        self.one_d = len(graph.shape(INPUT)) == 2
        self.layers: list = []
        self.names: dict[str, str] = {INPUT: INPUT}  # op name -> spec layer holding its value

    def type_of(self, name: str) -> FixedType:
        return self.types.tensors[name]

    def source(self, name: str) -> str:
        return self.names[name]

    def emit(self, op_name: str, layer) -> None:
        self.layers.append(layer)
        self.names[op_name] = layer.name

    def build(self) -> QuantizedNetwork:
        input_shape = self.graph.shape(INPUT)
        if self.one_d:
            c, length = input_shape
            self.emit(INPUT, ReshapeLayer("input_reshape", (c, 1, length), (INPUT,)))
        for op in self.graph.ops:
            getattr(self, f"_{op.kind}")(op)
        if self.names[self.graph.output] != self.layers[-1].name:
            raise QuantizationError(
                f"the network output '{self.graph.output}' is not its last operation; "
                "reorder forward() so the output is computed last"
            )
        return QuantizedNetwork(self.type_of(INPUT), input_shape, tuple(self.layers))

    def _affine(self, op: GraphOp, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``gain * (acc - mean) + beta`` of the layer's bias, batch norm and hardsigmoid."""
        gain, mean, beta = np.ones(channels), np.zeros(channels), np.zeros(channels)
        bias = getattr(op.module, "bias", None)
        if op.bn is not None:
            gain, mean, beta = _bn_terms(op.bn)
            # A channel whose input (nearly) never varied — a dead channel upstream,
            # running variance < 1e-4·eps — outputs beta in float, within 1% of gamma;
            # its gain γ/√eps would amplify the weights' quantization error instead
            # (measured: GhostNet's cheap and depthwise convs saturated).
            constant = op.bn.running_var.double().numpy() < 1e-4 * op.bn.eps
            gain = np.where(constant, 0.0, gain)
        if bias is not None:  # the bias moves the centre: gain * (acc + bias - mean)
            mean = mean - bias.detach().double().numpy()
        if op.act == "hardsigmoid":  # relu6(x + 3) / 6: the requant's clamps at 0 and qmax
            gain, beta = gain / 6.0, beta / 6.0 + 0.5
        return gain, mean, beta

    def _compute(self, op: GraphOp) -> None:
        m = op.module
        kind = "adder" if _is_adder(op) else "mul"
        in_type = self.type_of(op.inputs[0])
        raw = m.weight.detach().double().numpy()
        w_type = in_type if kind == "adder" else self.types.weights[op.name]
        weight = quantize(raw, w_type)
        geometry = {}
        if hasattr(m, "kernel_size"):
            weight, geometry = self._conv_geometry(m, weight)
        if self._is_classifier(op):
            self.emit(op.name, self._classifier(op, weight, (in_type, w_type)))
            return
        compensate = kind == "adder" and not self.types.fixed
        compensation = _clamp_compensation(raw, w_type) if compensate else 0.0
        layer = fold_compute_layer(
            op.name, kind, weight, (in_type, w_type), self.type_of(op.name),
            self._affine(op, weight.shape[0]), self.multiplier_bits, self.shift_only,
            compensation, relu=op.act is not None, geometry=geometry,
            inputs=(self.source(op.inputs[0]),),
        )  # fmt: skip
        self.emit(op.name, layer)

    def _conv_geometry(self, m: nn.Module, weight: np.ndarray) -> tuple[np.ndarray, dict]:
        stride, pads = tuple(m.stride), conv_padding(m)
        if len(m.kernel_size) == 1:  # a 1-D conv is a 2-D one of height 1
            weight = weight[:, :, None, :]
            stride, pads = (1, stride[0]), (0, pads[0])
        geometry = {"strides": stride, "pads": (pads[0], pads[1], pads[0], pads[1])}
        return weight, {**geometry, "groups": int(m.groups)}

    def _is_classifier(self, op: GraphOp) -> bool:
        return (
            op.name == self.graph.output and isinstance(op.module, nn.Linear)
            and op.bn is None and op.act is None
        )  # fmt: skip

    def _classifier(self, op: GraphOp, weight: np.ndarray, types: tuple):
        in_type, w_type = types
        bias = np.zeros(weight.shape[0], dtype=np.int64)
        if op.module.bias is not None:
            acc_frac = in_type.frac + w_type.frac
            bias = np.round(op.module.bias.detach().double().numpy() * 2.0**acc_frac)
        layer = classifier_layer(op.name, weight, bias.astype(np.int64), types)
        return _with_inputs(layer, (self.source(op.inputs[0]),))

    def _requant(self, name: str, gain: np.ndarray, acc_bits: int):
        return fit_requant(
            gain, np.zeros_like(gain), acc_bits, self.multiplier_bits, layer=name,
            shift_only=self.shift_only,
        )  # fmt: skip

    def _channels(self, op: GraphOp) -> int:
        return self.graph.shape(op.name)[0]

    def _maxpool(self, op: GraphOp) -> None:
        p = op.params
        kernel, stride, pad = _frame(p["kernel"]), _frame(p["stride"]), _frame(p["padding"])
        if self.one_d:
            pad = (0, p["padding"][0])
        layer = PoolLayer(
            op.name, kernel, stride, "max", (pad[0], pad[1], pad[0], pad[1]),
            (self.source(op.inputs[0]),),
        )  # fmt: skip
        self.emit(op.name, layer)

    def _avgpool(self, op: GraphOp) -> None:
        kernel, stride = _pool_window(op, self.graph)
        source = self.source(op.inputs[0])
        if _is_shift_pool(op, self.graph):
            self.emit(op.name, PoolLayer(op.name, kernel, stride, "avg", inputs=(source,)))
            return
        in_type, out_type = self.type_of(op.inputs[0]), self.type_of(op.name)
        area = kernel[0] * kernel[1]
        acc_bits = in_type.bits + math.ceil(math.log2(area))
        gain = np.full(self._channels(op), 2.0 ** (out_type.frac - in_type.frac) / area)
        requant = self._requant(op.name, gain, acc_bits)
        layer = SumPoolLayer(op.name, kernel, stride, acc_bits, requant, out_type,
                             op.act is not None, (source,))  # fmt: skip
        self.emit(op.name, layer)

    def _gap(self, op: GraphOp) -> None:
        self._avgpool(op)
        if not op.params["keepdim"]:
            flat = FlattenLayer(f"{op.name}_flatten", (self.names[op.name],))
            self.emit(op.name, flat)

    def _flatten(self, op: GraphOp) -> None:
        self.emit(op.name, FlattenLayer(op.name, (self.source(op.inputs[0]),)))

    def _cat(self, op: GraphOp) -> None:
        self.emit(op.name, ConcatLayer(op.name, tuple(self.source(s) for s in op.inputs)))

    def _add(self, op: GraphOp) -> None:
        from adderflow.sim.ops.int_add import sum_bits

        types = [self.type_of(s) for s in op.inputs]
        frac = max(t.frac for t in types)
        shifts = tuple(frac - t.frac for t in types)
        acc_bits = sum_bits([t.bits for t in types], shifts)
        out_type = self.type_of(op.name)
        gain = np.full(self._channels(op), 2.0 ** (out_type.frac - frac))
        relu = op.act is not None
        layer = AddLayer(
            op.name, tuple(self.source(s) for s in op.inputs), shifts, acc_bits,
            self._requant(op.name, gain, acc_bits), out_type, relu,
        )  # fmt: skip
        self.emit(op.name, layer)

    def _mul(self, op: GraphOp) -> None:
        x_type, g_type = (self.type_of(s) for s in op.inputs)
        acc_bits = mul_acc_bits(x_type.bits, g_type.bits, 1)
        out_type = self.type_of(op.name)
        gain = np.full(self._channels(op), 2.0 ** (out_type.frac - x_type.frac - g_type.frac))
        relu = op.act is not None
        layer = MulLayer(
            op.name, tuple(self.source(s) for s in op.inputs), acc_bits,
            self._requant(op.name, gain, acc_bits), out_type, relu,
        )  # fmt: skip
        self.emit(op.name, layer)


def _with_inputs(layer, inputs: tuple[str, ...]):
    from dataclasses import replace

    return replace(layer, inputs=inputs)


def quantize_graph(
    model: nn.Module,
    calib_x: np.ndarray,
    bits: int = 8,
    multiplier_bits: int = 16,
    shift_only: bool = False,
    adder_scale: str = "activation",
    weight_bits: int | None = None,
) -> QuantizedNetwork:
    """Quantize any torch.fx-traceable trained network (see the module doc).

    Unsupported modules and functions are refused with a ``QuantizationError`` naming the
    fx node and module; ``weight_bits`` sets multiplication weights' width (default
    ``bits``).
    """
    from adderflow.quant.graph_binary import is_binary_graph, quantize_binary_graph

    if is_binary_graph(model):  # binary layers and SI units: quant.graph_binary
        return quantize_binary_graph(
            model, calib_x, bits, multiplier_bits, shift_only, weight_bits=weight_bits
        )
    check_bits(bits)
    w_bits = check_bits(bits if not weight_bits else weight_bits, "weight bit width")
    if adder_scale not in ADDER_SCALES:
        raise QuantizationError(f"adder scale '{adder_scale}' is not one of {ADDER_SCALES}")
    calib_x = np.asarray(calib_x, dtype=np.float32)
    if calib_x.ndim not in (3, 4):
        raise QuantizationError(
            f"calibration data of shape {calib_x.shape}: expected [N, C, L] or [N, C, H, W]"
        )
    model.eval()
    with torch.no_grad():
        graph = trace_graph(model, calib_x)
    types = graph_types(graph, bits, w_bits, adder_scale)
    return _Builder(graph, types, multiplier_bits, shift_only).build()


def build_network(
    graph: OpGraph, types: GraphTypes, multiplier_bits: int = 16, shift_only: bool = False
) -> QuantizedNetwork:
    """The quantized network of a traced graph with given types (QAT's export)."""
    return _Builder(graph, types, multiplier_bits, shift_only).build()
