"""Post-training quantization of traced networks with binary layers (DESIGN.md rule 6).

``quantize_graph`` sends a network holding ``BinaryConv1d``/``BinaryConv2d`` or
``SqueezeInteraction`` (DGRL's SI unit) here: the zoo's ``binary_resnet18`` (SI blocks, or
plain binary basic blocks without SI), the binary MNIST-1D net (with or without SI) and
any traceable network built from the same parts. The graph front end is ``quant.trace``'s,
with three more things it takes (``_BinaryNormalizer``): binary convolutions, SI units and
hardtanh. The rest is ``quant.graph_ptq``'s, and the binary choices are
``quant.binary_ptq``'s:

- **A binary convolution** is ``kind="xnor"``: weight codes ``sign(w)``, accumulator
  ``2·popcount(xnor) − K`` over the taps that vote (its zero padding does not), its
  per-channel ``alpha = mean|w|`` folded with the batch norm behind it.
- **Its input's sign.** A layer whose only readers are binary convolutions ends in a
  ``Threshold`` (batch norm + sign folded exactly, ``binary_ptq.fold_threshold``; a
  hardtanh before the sign changes nothing). A tensor that other layers read too (an SI
  unit's input feeds its binary branch, its gate and its shortcut) is requantized to codes,
  and its binary readers read a ``SignLayer`` of them (``+1`` where the code is ``>= 0``).
- **Hardtanh** folds into the requantization's saturation of ``fixed<b, b-1>`` (range
  ``[-1, 1 - 2^-(b-1)]``), as in ``binary_ptq``.
- **An SI unit** ``y = BN(binary_conv(sign x)) + sigmoid(expand(relu(reduce(mean x)))) ⊙
  shortcut(x)`` becomes: the binary branch (sign, xnor conv, requant with alpha and BN);
  the squeeze (global average: a shift or a window sum and a requant; flatten), ``reduce``
  and ``expand`` as dense multiplication layers (bias, ReLU folded); the sigmoid as a
  ``LutLayer`` from ``expand``'s codes (``lut_bits`` wide, at most 12) to ``fixed<b, b-1>``
  (``fixed.lookup_table``: the table is the only approximation, the lookup is exact); a
  reshape to ``[C, 1, 1]``; the shortcut (ceil-mode average pool for the stride, then the
  1×1 projection when the channels change); the gate product (``MulLayer``); and the join
  with the binary branch (``AddLayer``), into whose requantization a batch norm and
  activation after the unit fold.
- The shortcut's ceil-mode average pool is exact where each frame axis divides by the
  stride (whole windows) or is 1 (the window holds the one position: the identity); any
  other frame averages partial windows of different sizes and is refused naming the unit.

Refused, naming the fx node: binary convolutions with full-precision inputs
(``binary_input=False``), a batch norm or activation that does not directly follow what it
folds into, hardtanh with bounds other than ±1.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import fx, nn
from torch.nn import functional as F

from adderflow.errors import QuantizationError
from adderflow.fixed import (
    BIPOLAR,
    MAX_LUT_BITS,
    BipolarType,
    FixedType,
    check_bits,
    fit_requant,
    frac_for_range,
    lookup_table,
    mul_acc_bits,
    quantize,
    xnor_acc_bits,
)
from adderflow.nn.binary import BinaryConv1d, BinaryConv2d, SqueezeInteraction
from adderflow.quant import graph_ptq
from adderflow.quant.binary_ptq import fold_requant, fold_threshold
from adderflow.quant.ptq import _bn_terms, fold_compute_layer
from adderflow.quant.spec import (
    INPUT,
    AddLayer,
    ComputeLayer,
    FlattenLayer,
    LutLayer,
    MulLayer,
    PoolLayer,
    QuantizedNetwork,
    ReshapeLayer,
    SignLayer,
    SumPoolLayer,
)
from adderflow.quant.trace import GraphOp, OpGraph, _Normalizer, _Recorder, _where, trace

BINARY_CONVS = (BinaryConv1d, BinaryConv2d)
# What an activation after each kind of op folds into (its requantization or threshold).
FOLDS = ("compute", "binary", "si", "add", "mul")


def is_binary_graph(model: nn.Module) -> bool:
    """Whether ``model`` holds binary convolutions or SI units (this module's networks)."""
    return any(isinstance(m, (*BINARY_CONVS, SqueezeInteraction)) for m in model.modules())


# --------------------------------------------------------------------------- tracing


class _BinaryNormalizer(_Normalizer):
    """``trace._Normalizer`` plus binary convolutions, SI units and hardtanh."""

    def module(self, n: fx.Node, m: nn.Module) -> None:
        if isinstance(m, BINARY_CONVS):
            return self.binary_conv(n, m)
        if isinstance(m, SqueezeInteraction):
            return self.squeeze_interaction(n, m)
        if isinstance(m, nn.Hardtanh):
            return self.hardtanh(n, m.min_val, m.max_val)
        return super().module(n, m)

    def function(self, n: fx.Node) -> None:
        if n.target in (F.hardtanh, "hardtanh", F.hardtanh_):
            names = ("input", "min_val", "max_val")
            values = [n.args[i] if len(n.args) > i else n.kwargs.get(k) for i, k in
                      enumerate(names)]  # fmt: skip
            lo = -1.0 if values[1] is None else values[1]
            hi = 1.0 if values[2] is None else values[2]
            return self.hardtanh(n, lo, hi)
        return super().function(n)

    def binary_conv(self, n: fx.Node, m: nn.Module) -> None:
        if not m.binary_input:
            raise self.refuse(
                n, "a binary-weight layer with full-precision inputs (binary_input=False) "
                "has no IR op; binary layers read ±1 codes",
            )  # fmt: skip
        if len(n.args) != 1 or n.kwargs:
            raise self.refuse(n, "a layer called with more than its input")
        _check_conv(m, _where(n, self.gm))
        self.add(n, "binary", n.args, module=m)

    def squeeze_interaction(self, n: fx.Node, m: SqueezeInteraction) -> None:
        if len(n.args) != 1 or n.kwargs:
            raise self.refuse(n, "a layer called with more than its input")
        _check_conv(m.binary, _where(n, self.gm))
        self.add(n, "si", n.args, module=m)

    def batch_norm(self, n: fx.Node, m: nn.Module) -> None:
        op = self.folding_target(n, "batch norm")
        if op.kind not in ("binary", "si"):
            return super().batch_norm(n, m)
        if op.bn is not None or op.act is not None or op.params.get("hardtanh"):
            raise self.refuse(n, "batch norm must directly follow a conv or dense layer")
        if not m.track_running_stats or m.running_mean is None or not m.affine:
            raise self.refuse(n, "batch norm without running statistics or affine terms")
        op.bn, op.node = m, n.name
        self.alias[n.name] = op.name
        return None

    def activation(self, n: fx.Node, act: str) -> None:
        arg = n.args[0]
        op = self.by_name.get(self.alias.get(getattr(arg, "name", ""), ""))
        if op is not None and op.kind in ("binary", "si") and op.node == arg.name:
            if act != "relu" or op.act is not None or op.params.get("hardtanh"):
                raise self.refuse(n, f"{act} after a binary layer or SI unit")
            if len(arg.users) != 1:
                raise self.refuse(n, f"relu folds into '{op.name}', whose output is used elsewhere")
            op.act, op.node = act, n.name
            self.alias[n.name] = op.name
            return None
        return super().activation(n, act)

    def hardtanh(self, n: fx.Node, lo: float, hi: float) -> None:
        """Hardtanh folds into the saturation of ``fixed<b, b-1>`` (see the module doc)."""
        if (lo, hi) != (-1.0, 1.0):
            raise self.refuse(n, f"hardtanh({lo}, {hi}): only the ±1 clamp before a sign")
        arg = n.args[0]
        op = self.by_name.get(self.alias.get(getattr(arg, "name", ""), ""))
        if op is None or op.node != arg.name or op.kind not in FOLDS:
            raise self.refuse(
                n, "hardtanh must directly follow a conv, dense or binary layer, a batch norm, "
                "an SI unit or a residual add (it folds into a requantization)",
            )  # fmt: skip
        if op.act is not None or op.params.get("hardtanh"):
            raise self.refuse(n, f"hardtanh after {op.act} (one activation per layer)")
        if len(arg.users) != 1:
            raise self.refuse(
                n, f"hardtanh folds into '{op.name}', whose output is also used elsewhere"
            )
        op.params["hardtanh"] = True
        op.node = n.name
        self.alias[n.name] = op.name


def _check_conv(m: nn.Module, where: str) -> None:
    if any(d != 1 for d in m.dilation) or m.padding_mode != "zeros":
        raise QuantizationError(f"{where}: a dilated or non-zero-padded binary convolution")
    if m.bias is not None:
        raise QuantizationError(f"{where}: a binary convolution with a bias (fold it into BN)")


def _si_parts(m: SqueezeInteraction, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The SI unit's inner tensors, computed as its ``forward`` does."""
    squeezed = x.mean(dim=tuple(range(2, x.dim())))
    reduced = F.relu(m.reduce(squeezed))
    expanded = m.expand(reduced)
    gate = torch.sigmoid(expanded)
    pooled = m._pool(x, m.stride, m.stride, ceil_mode=True) if m.stride != 1 else x
    projected = m.project(pooled)
    gated = gate.reshape(*gate.shape, *([1] * (x.dim() - 2))) * projected
    binary = m.norm(m.binary(x))
    return {"squeeze": squeezed, "reduce": reduced, "expand": expanded, "pool": pooled,
            "project": projected, "gated": gated, "bin": binary}  # fmt: skip


@torch.no_grad()
def trace_binary_graph(model: nn.Module, calib_x: np.ndarray, batch_size: int = 256) -> OpGraph:
    """``model`` traced, calibrated and normalized; SI units' inner tensors are recorded
    as ``<node>.<part>`` (see ``_si_parts``)."""
    return _trace_binary(trace(model), calib_x, batch_size)


def _trace_binary(gm: fx.GraphModule, calib_x: np.ndarray, batch_size: int = 256) -> OpGraph:
    """``trace_binary_graph`` of an already traced module (QAT fine-tunes the same one)."""
    gm.eval()
    recorder = _Recorder(gm)
    hooks = []
    for name, m in gm.named_modules():
        if isinstance(m, SqueezeInteraction):
            hooks.append(m.register_forward_hook(_si_hook(recorder, name)))
    try:
        for i in range(0, len(calib_x), batch_size):
            recorder.run(torch.from_numpy(np.ascontiguousarray(calib_x[i : i + batch_size])))
    finally:
        for hook in hooks:
            hook.remove()
    ops, output, input_node = _BinaryNormalizer(gm, recorder.shapes).run()
    graph = OpGraph(ops, output, recorder.peaks, recorder.shapes, input_node)
    for op in ops:  # inner tensors by the op's name (the fx node is the SI's call)
        if op.kind == "si":
            target = next(n.target for n in gm.graph.nodes if n.name == op.name)
            for part in _PARTS:
                graph.peaks[f"{op.name}.{part}"] = recorder.peaks[f"{target}.{part}"]
                graph.shapes[f"{op.name}.{part}"] = recorder.shapes[f"{target}.{part}"]
    return graph


_PARTS = ("squeeze", "reduce", "expand", "pool", "project", "gated", "bin")


def _si_hook(recorder: _Recorder, target: str):
    def hook(module, args, _output) -> None:
        for part, value in _si_parts(module, args[0]).items():
            key = f"{target}.{part}"
            peak = float(value.abs().max()) if value.numel() else 0.0
            recorder.peaks[key] = max(recorder.peaks.get(key, 0.0), peak)
            recorder.shapes[key] = tuple(value.shape[1:])

    return hook


# --------------------------------------------------------------------------- types


def _consumers(graph: OpGraph) -> dict[str, list[GraphOp]]:
    readers: dict[str, list[GraphOp]] = {INPUT: []}
    for op in graph.ops:
        readers.setdefault(op.name, [])
        for source in op.inputs:
            readers.setdefault(source, []).append(op)
    return readers


def _thresholded(op: GraphOp, readers: list[GraphOp]) -> bool:
    """Whether ``op``'s output is only signed: every reader a binary convolution, and the
    op one whose batch norm + sign fold into a threshold (no ReLU: sign(relu(y)) is +1)."""
    return (
        op.kind in ("compute", "binary") and op.act is None and bool(readers)
        and all(r.kind == "binary" for r in readers)
    )  # fmt: skip


class _Types:
    """Every tensor's type: ``graph_ptq``'s classes and calibration peaks, with hardtanh
    outputs at ``fixed<b, b-1>`` and thresholded outputs ±1."""

    def __init__(self, graph: OpGraph, bits: int, thresholded: set[str]) -> None:
        self.bits, self.thresholded = bits, thresholded
        self.classes = graph_ptq._type_classes(graph)
        hardtanh = 1.0 - 2.0 ** -(bits - 1)
        self.peaks: dict[str, float] = {}
        self._widen(INPUT, graph.peak(INPUT))
        for op in graph.ops:
            if not graph_ptq._requantizes(op, graph) or op.name in thresholded:
                continue  # pass-through values never exceed their inputs'
            self._widen(op.name, hardtanh if op.params.get("hardtanh") else graph.peak(op.name))

    def _widen(self, name: str, peak: float) -> None:
        root = self.classes.find(name)
        self.peaks[root] = max(self.peaks.get(root, 0.0), peak)

    def of(self, name: str) -> FixedType | BipolarType:
        if name in self.thresholded:
            return BIPOLAR
        peak = self.peaks.get(self.classes.find(name), 0.0)
        return FixedType(self.bits, frac_for_range(peak, self.bits))


# --------------------------------------------------------------------------- building


class _BinaryBuilder(graph_ptq._Builder):
    """``graph_ptq``'s builder plus binary convolutions, thresholds, signs and SI units."""

    def __init__(self, graph: OpGraph, bits: int, w_bits: int, multiplier_bits: int,
                 shift_only: bool, lut_bits: int) -> None:  # fmt: skip
        self.graph, self.bits, self.w_bits = graph, bits, w_bits
        self.multiplier_bits, self.shift_only, self.lut_bits = multiplier_bits, shift_only, lut_bits
        self.one_d = len(graph.shape(INPUT)) == 2
        self.layers: list = []
        self.names: dict[str, str] = {INPUT: INPUT}
        self.signs: dict[str, str] = {}  # op name -> its SignLayer
        # layer name -> (gain, scale, mean, beta): its value is gain·(scale·acc − mean) + beta
        self.affines: dict[str, tuple[np.ndarray, ...]] = {}
        readers = _consumers(graph)
        thresholded = {op.name for op in graph.ops if _thresholded(op, readers[op.name])}
        self.tensor_types = _Types(graph, bits, thresholded)

    def type_of(self, name: str):
        return self.tensor_types.of(name)

    def weight_type(self, module: nn.Module, raw: np.ndarray) -> FixedType:
        """A multiplication layer's weight type, from its weights' peak (QAT fixes it)."""
        del module
        return FixedType(self.w_bits, frac_for_range(float(np.abs(raw).max()), self.w_bits))

    def sign_of(self, name: str) -> str:
        """The layer holding ``name``'s ±1 codes: itself when thresholded, else its sign."""
        if isinstance(self.type_of(name), BipolarType):
            return self.source(name)
        if name not in self.signs:
            source = self.source(name)
            layer = SignLayer(f"{source}_sign", (source,), self._sign_threshold(source))
            self.layers.append(layer)
            self.signs[name] = layer.name
        return self.signs[name]

    def _sign_threshold(self, source: str):
        """The sign of ``source``'s value before it is rounded: a threshold on its
        accumulator when its affine is known and it has no ReLU (``sign(relu(y))`` is +1,
        as the sign of its codes), else None (the sign of its codes)."""
        layer = next(la for la in reversed(self.layers) if la.name == source)
        if source not in self.affines or getattr(layer, "relu", True):
            return None
        gain, scale, mean, beta = self.affines[source]
        zero = np.zeros_like(gain)
        return fold_threshold(source, gain, scale, zero, mean, beta, 1 << (layer.acc_bits - 1))

    def _out(self, op: GraphOp) -> tuple[FixedType | BipolarType, bool]:
        """The op's output type and ReLU flag (hardtanh is the type's saturation)."""
        return self.type_of(op.name), op.act == "relu"

    # ops ---------------------------------------------------------------------------
    def _compute(self, op: GraphOp) -> None:
        m = op.module
        if getattr(m, "is_adder", False):
            raise QuantizationError(
                f"layer '{op.name}': adder layers in a binary network are not exported"
            )
        in_type = self.type_of(op.inputs[0])
        raw = m.weight.detach().double().numpy()
        w_type = self.weight_type(m, raw)
        weight, geometry = quantize(raw, w_type), {}
        if hasattr(m, "kernel_size"):
            weight, geometry = self._conv_geometry(m, weight)
        if self._is_classifier(op) and not op.params.get("hardtanh"):
            self.emit(op.name, self._classifier(op, weight, (in_type, w_type)))
            return
        out_type, relu = self._out(op)
        source = (self.source(op.inputs[0]),)
        if isinstance(out_type, BipolarType):
            terms = int(np.prod(weight.shape[1:]))
            acc_bits = mul_acc_bits(in_type.bits, w_type.bits, terms)
            gain, mean, beta = self._affine(op, weight.shape[0])
            scale = np.full(weight.shape[0], 2.0 ** -(in_type.frac + w_type.frac))
            zero = np.zeros(weight.shape[0])
            threshold = fold_threshold(op.name, gain, scale, zero, mean, beta, 1 << (acc_bits - 1))
            layer = ComputeLayer(op.name, "mul", weight, in_type, w_type, acc_bits, threshold,
                                 BIPOLAR, False, **geometry, inputs=source)  # fmt: skip
        else:
            affine = self._affine(op, weight.shape[0])
            layer = fold_compute_layer(
                op.name, "mul", weight, (in_type, w_type), out_type, affine,
                self.multiplier_bits, self.shift_only, relu=relu, geometry=geometry,
                inputs=source,
            )  # fmt: skip
            gain, mean, beta = affine
            scale = np.full_like(gain, 2.0 ** -(in_type.frac + w_type.frac))
            self.affines[op.name] = (gain, scale, mean, beta)
        self.emit(op.name, layer)

    def _binary_layer(self, name: str, conv: nn.Module, bn, source: str, out_type, relu: bool):
        """A binary convolution reading ``source``'s sign, its alpha and ``bn`` folded into a
        threshold (``out_type`` ±1) or a requantization."""
        w = conv.weight.detach().double().numpy()
        out_ch = w.shape[0]
        alpha = np.abs(w).reshape(out_ch, -1).mean(axis=1)
        weight, geometry = self._conv_geometry(conv, np.where(w >= 0, 1, -1).astype(np.int64))
        terms = int(np.prod(weight.shape[1:]))
        acc_bits = xnor_acc_bits(terms)
        gain, mean, beta = (np.ones(out_ch), np.zeros(out_ch), np.zeros(out_ch))
        if bn is not None:
            gain, mean, beta = _bn_terms(bn)
        zero = np.zeros(out_ch)
        self.affines[name] = (gain, alpha, mean, beta)
        if isinstance(out_type, BipolarType):
            stage = fold_threshold(name, gain, alpha, zero, mean, beta, terms)
        else:
            stage = fold_requant(name, gain, alpha, zero, mean, beta, acc_bits, out_type,
                                 self.multiplier_bits, self.shift_only)  # fmt: skip
        return ComputeLayer(name, "xnor", weight, BIPOLAR, BIPOLAR, acc_bits, stage, out_type,
                            relu, **geometry, inputs=(self.sign_of(source),))  # fmt: skip

    def _add(self, op: GraphOp) -> None:
        super()._add(op)  # a residual add: its value is its sum, acc·2^-frac
        frac = max(self.type_of(s).frac for s in op.inputs)
        ones, zeros = np.ones(self._channels(op)), np.zeros(self._channels(op))
        self.affines[self.source(op.name)] = (ones, ones * 2.0**-frac, zeros, zeros)

    def _binary(self, op: GraphOp) -> None:
        out_type, relu = self._out(op)
        layer = self._binary_layer(op.name, op.module, op.bn, op.inputs[0], out_type, relu)
        self.emit(op.name, layer)

    def _si(self, op: GraphOp) -> None:
        m, x = op.module, op.inputs[0]
        part = {p: f"{op.name}.{p}" for p in _PARTS}
        branch = self._binary_layer(f"{op.name}_binary", m.binary, m.norm, x,
                                    self._part_type(part["bin"]), False)  # fmt: skip
        self.layers.append(branch)
        gate = self._si_gate(op, part)
        shortcut = self._si_shortcut(op, part)
        gated_type = self._part_type(part["gated"])
        x_type, g_type = self._code_type(shortcut), self._code_type(gate)
        acc_bits = mul_acc_bits(x_type.bits, g_type.bits, 1)
        gain = np.full(m.out_channels, 2.0 ** (gated_type.frac - x_type.frac - g_type.frac))
        mul = MulLayer(f"{op.name}_gated", (shortcut, gate), acc_bits,
                       self._requant(f"{op.name}_gated", gain, acc_bits), gated_type)  # fmt: skip
        self.layers.append(mul)
        self.emit(op.name, self._si_join(op, branch, mul))

    def _code_type(self, layer_name: str) -> FixedType:
        """The code type of an emitted layer's result (pass-through layers keep their
        operand's)."""
        if layer_name == INPUT:
            return self.type_of(INPUT)
        layer = next(la for la in reversed(self.layers) if la.name == layer_name)
        if hasattr(layer, "out_type"):
            return layer.out_type
        if isinstance(layer, SignLayer):
            return BIPOLAR
        return self._code_type(layer.inputs[0])

    def _part_type(self, key: str, bits: int | None = None) -> FixedType:
        bits = bits or self.bits
        return FixedType(bits, frac_for_range(self.graph.peaks[key], bits))

    def _si_join(self, op: GraphOp, branch: ComputeLayer, mul: MulLayer) -> AddLayer:
        """``branch + gated``, aligned by shifts, then the unit's batch norm and activation
        folded into the requantization: ``gain·(sum − mean) + beta``."""
        a, b = branch.out_type, mul.out_type
        frac = max(a.frac, b.frac)
        shifts = (frac - a.frac, frac - b.frac)
        from adderflow.sim.ops.int_add import sum_bits

        acc_bits = sum_bits([a.bits, b.bits], shifts)
        out_type, relu = self._out(op)
        channels = op.module.out_channels
        gain, mean, beta = np.ones(channels), np.zeros(channels), np.zeros(channels)
        if op.bn is not None:
            gain, mean, beta = _bn_terms(op.bn)
        requant = fit_requant(
            gain * 2.0 ** (out_type.frac - frac), beta * 2.0**out_type.frac, acc_bits,
            self.multiplier_bits, layer=op.name, shift_only=self.shift_only,
            center=mean * 2.0**frac,
        )  # fmt: skip
        self.affines[op.name] = (gain, np.full(channels, 2.0**-frac), mean, beta)
        return AddLayer(op.name, (branch.name, mul.name), shifts, acc_bits, requant, out_type,
                        relu)  # fmt: skip

    def _si_gate(self, op: GraphOp, part: dict[str, str]) -> str:
        """squeeze → reduce (ReLU) → expand → sigmoid table → ``[C, 1, 1]``."""
        m, x = op.module, op.inputs[0]
        x_type = self.type_of(x)
        frame = graph_ptq._spatial(self.graph.shape(x))
        squeezed = self._average(f"{op.name}_squeeze", self.source(x), x_type, frame, frame,
                                 part["squeeze"], m.binary.in_channels)  # fmt: skip
        flat = FlattenLayer(f"{op.name}_squeeze_flat", (squeezed,))
        self.layers.append(flat)
        reduce = self._dense(f"{op.name}_reduce", m.reduce, flat.name, self._code_type(squeezed),
                             self._part_type(part["reduce"]), relu=True)  # fmt: skip
        lut_in = self._part_type(part["expand"], self.lut_bits)
        expand = self._dense(f"{op.name}_expand", m.expand, reduce.name, reduce.out_type, lut_in,
                             relu=False)  # fmt: skip
        gate_type = FixedType(self.bits, self.bits - 1)
        table = lookup_table(lambda v: 1.0 / (1.0 + np.exp(-v)), lut_in, gate_type)
        lut = LutLayer(f"{op.name}_sigmoid", table, gate_type, (expand.name,))
        self.layers.append(lut)
        shaped = ReshapeLayer(f"{op.name}_gate", (m.out_channels, 1, 1), (lut.name,))
        self.layers.append(shaped)
        return shaped.name

    def _dense(self, name: str, linear: nn.Linear, source: str, in_type: FixedType,
               out_type: FixedType, relu: bool) -> ComputeLayer:  # fmt: skip
        raw = linear.weight.detach().double().numpy()
        w_type = self.weight_type(linear, raw)
        channels = raw.shape[0]
        mean = np.zeros(channels)
        if linear.bias is not None:
            mean = -linear.bias.detach().double().numpy()
        layer = fold_compute_layer(
            name, "mul", quantize(raw, w_type), (in_type, w_type), out_type,
            (np.ones(channels), mean, np.zeros(channels)), self.multiplier_bits,
            self.shift_only, relu=relu, inputs=(source,),
        )  # fmt: skip
        self.layers.append(layer)
        return layer

    def _average(self, name: str, source: str, in_type: FixedType, kernel, stride, key: str,
                 channels: int):  # fmt: skip
        """An exact average pool: the identity over one position, a shift over a square
        power-of-two window equal to its stride, else a window sum and a requantization to
        the type of ``key``'s peak. Returns the layer holding the result."""
        area = kernel[0] * kernel[1]
        if area == 1 and tuple(stride) == (1, 1):
            return source
        if kernel[0] == kernel[1] and tuple(kernel) == tuple(stride) and area & (area - 1) == 0:
            self.layers.append(PoolLayer(name, tuple(kernel), tuple(stride), "avg",
                                         inputs=(source,)))  # fmt: skip
            return name
        out_type = self._part_type(key)
        acc_bits = in_type.bits + math.ceil(math.log2(area))
        gain = np.full(channels, 2.0 ** (out_type.frac - in_type.frac) / area)
        requant = self._requant(name, gain, acc_bits)
        self.layers.append(SumPoolLayer(name, tuple(kernel), tuple(stride), acc_bits, requant,
                                        out_type, False, (source,)))  # fmt: skip
        return name

    def _si_shortcut(self, op: GraphOp, part: dict[str, str]) -> str:
        """Ceil-mode average pool for the stride (exact cases only), then the projection."""
        m, x = op.module, op.inputs[0]
        frame = graph_ptq._spatial(self.graph.shape(x))
        stride = graph_ptq._frame((m.stride,) * (1 if self.one_d else 2))
        kernel, steps = [], []
        for size, s in zip(frame, stride, strict=True):
            if size % s == 0:
                kernel.append(s)
                steps.append(s)
            elif size == 1:
                kernel.append(1)
                steps.append(1)
            else:
                raise QuantizationError(
                    f"layer '{op.name}' (SqueezeInteraction): its shortcut's ceil-mode average "
                    f"pool of stride {m.stride} over a frame of {size} averages partial "
                    "windows of different sizes, which no exact pool computes; use inputs "
                    "whose frame divides by the stride"
                )
        pooled = self._average(f"{op.name}_pool", self.source(x), self.type_of(x), kernel,
                               steps, part["pool"], m.binary.in_channels)  # fmt: skip
        if isinstance(m.project, nn.Identity):
            return pooled
        conv = m.project
        raw = conv.weight.detach().double().numpy()
        w_type = self.weight_type(conv, raw)
        weight, geometry = self._conv_geometry(conv, quantize(raw, w_type))
        channels = raw.shape[0]
        affine = (np.ones(channels), np.zeros(channels), np.zeros(channels))
        layer = fold_compute_layer(
            f"{op.name}_project", "mul", weight, (self._code_type(pooled), w_type),
            self._part_type(part["project"]), affine, self.multiplier_bits, self.shift_only,
            relu=False, geometry=geometry, inputs=(pooled,),
        )  # fmt: skip
        self.layers.append(layer)
        return layer.name


def quantize_binary_graph(
    model: nn.Module,
    calib_x: np.ndarray,
    bits: int = 8,
    multiplier_bits: int = 16,
    shift_only: bool = False,
    weight_bits: int | None = None,
    lut_bits: int | None = None,
) -> QuantizedNetwork:
    """PTQ of a traced network with binary layers (see the module doc). ``bits`` is every
    code tensor's width, ``weight_bits`` the multiplication layers' weights' (default
    ``bits``), ``lut_bits`` the sigmoid tables' input width (default ``min(bits, 12)``)."""
    check_bits(bits)
    w_bits = check_bits(bits if not weight_bits else weight_bits, "weight bit width")
    lut_bits = check_bits(lut_bits or min(bits, MAX_LUT_BITS), "lookup input width")
    if lut_bits > MAX_LUT_BITS:
        raise QuantizationError(f"lookup input width {lut_bits} is above {MAX_LUT_BITS}")
    calib_x = np.asarray(calib_x, dtype=np.float32)
    if calib_x.ndim not in (3, 4):
        raise QuantizationError(
            f"calibration data of shape {calib_x.shape}: expected [N, C, L] or [N, C, H, W]"
        )
    model.eval()
    graph = trace_binary_graph(model, calib_x)
    return _BinaryBuilder(graph, bits, w_bits, multiplier_bits, shift_only, lut_bits).build()
