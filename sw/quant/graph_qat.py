"""Quantization-aware fine-tuning of any torch.fx-traceable network, on PTQ's grid.

Choices (docs/quantization.md):
- The types are PTQ's (``graph_ptq.graph_types`` from the calibration peaks) and stay
  fixed for the whole fine-tune: no learned scales, so the exported types are known
  before training and a scale never flips between two powers of two mid-run.
- Fake quantization is a straight-through round-and-saturate (``FakeQuant``): after the
  input, after every requantizing operation (a conv or dense layer with its batch norm
  and activation, a residual add, a squeeze-excite product, an average pool) and on
  every weight (a parametrization). The gradient passes unchanged inside the type's
  range and is zero outside it, where the value saturates. An adder layer's weights take
  its input's type, so they train with the clamp and export needs no compensation.
- Batch norm stays float while training (``qat.freeze`` fixes its statistics later in
  the fine-tune) and folds into the integer requantization at export
  (``graph_ptq.build_network`` with the same types), as ``quant.qat`` does for
  ``BlockNet``: the exported weight codes are the fake-quantized weights' exactly.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor, fx, nn
from torch.nn.utils import parametrize

from adderflow.errors import QuantizationError
from adderflow.fixed import FixedType, check_bits
from adderflow.quant.graph_ptq import GraphTypes, build_network, graph_types
from adderflow.quant.spec import INPUT, QuantizedNetwork
from adderflow.quant.trace import OpGraph, _Normalizer, calibrate_graph, trace

_RESTORED = ("compute", "add", "mul", "avgpool", "gap")  # ops whose output is re-gridded


class FakeQuant(nn.Module):
    """``fixed<b, f>`` rounding (half to even) and saturation with a straight-through
    gradient inside the range."""

    def __init__(self, t: FixedType) -> None:
        super().__init__()
        self.bits, self.frac = t.bits, t.frac
        self.lo, self.hi = t.qmin * 2.0**-t.frac, t.qmax * 2.0**-t.frac

    def forward(self, x: Tensor) -> Tensor:
        y = x.clamp(self.lo, self.hi)
        scale = 2.0**self.frac
        return y + (torch.round(y * scale) / scale - y).detach()

    def extra_repr(self) -> str:
        return f"fixed<{self.bits}, {self.frac}>"


class GraphQAT(nn.Module):
    """The fake-quantized graph module plus what export needs: the normalized graph and
    its fixed types."""

    def __init__(self, gm: fx.GraphModule, graph: OpGraph, types: GraphTypes) -> None:
        super().__init__()
        self.gm = gm
        self.graph, self.types = graph, types

    def forward(self, x: Tensor) -> Tensor:
        return self.gm(x)


def _insert_after(gm: fx.GraphModule, node: fx.Node, name: str, module: nn.Module) -> None:
    gm.add_submodule(name, module)
    with gm.graph.inserting_after(node):
        new = gm.graph.call_module(name, (node,))
    node.replace_all_uses_with(new, delete_user_cb=lambda user: user is not new)


def to_graph_qat(
    model: nn.Module,
    calib_x: np.ndarray,
    bits: int = 8,
    weight_bits: int | None = None,
    adder_scale: str = "activation",
) -> GraphQAT:
    """A fake-quantized copy of a trained float ``model``, ready to fine-tune."""
    check_bits(bits, "QAT bit width")
    w_bits = check_bits(bits if not weight_bits else weight_bits, "QAT weight bit width")
    if adder_scale not in ("activation", "joint"):
        raise QuantizationError(f"adder scale '{adder_scale}' is not one of activation, joint")
    copied = copy.deepcopy(model).eval()
    gm = trace(copied)
    calib_x = np.asarray(calib_x, dtype=np.float32)
    peaks, shapes = calibrate_graph(gm, calib_x)
    ops, output, input_node = _Normalizer(gm, shapes).run()
    graph = OpGraph(ops, output, peaks, shapes, input_node)
    ptq = graph_types(graph, bits, w_bits, adder_scale)
    types = GraphTypes(ptq.tensors, ptq.weights, fixed=True)
    nodes = {n.name: n for n in gm.graph.nodes}
    _insert_after(gm, nodes[input_node], "fq_input", FakeQuant(types.tensors[INPUT]))
    for op in ops:
        if op.kind == "compute":
            w_type = types.weights.get(op.name, types.tensors[op.inputs[0]])
            parametrize.register_parametrization(op.module, "weight", FakeQuant(w_type))
        classifier = op.name == output and isinstance(op.module, nn.Linear) and op.bn is None
        if op.kind in _RESTORED and not (classifier and op.act is None):
            _insert_after(gm, nodes[op.node], f"fq_{op.name}", FakeQuant(types.tensors[op.name]))
    gm.recompile()
    return GraphQAT(gm, graph, types)


@torch.no_grad()
def graph_qat_network(
    model: GraphQAT, multiplier_bits: int = 16, shift_only: bool = False
) -> QuantizedNetwork:
    """The integer network a fine-tuned ``GraphQAT`` computes (batch norm folded)."""
    model.eval()
    return build_network(model.graph, model.types, multiplier_bits, shift_only)


# ------------------------------------------------------------------- fake-quant execution


def _fake_accumulate(module: nn.Module, spec, codes: Tensor) -> Tensor:
    """One layer's accumulator codes from the fine-tuned module itself, in float64: its
    fake-quantized weights, its own padding and stride, its forward (adder) or its
    convolution without the bias (which export moves into the requantization)."""
    x = codes * 2.0**-spec.in_type.frac
    one_d = spec.is_conv and (isinstance(module, nn.Conv1d) or _adder_1d(module))
    if one_d:
        x = x.squeeze(2)  # the IR's height-1 frame back to the module's 1-D signal
    if getattr(module, "is_adder", False):
        value = module(x)
    elif isinstance(module, nn.Linear):
        value = nn.functional.linear(x, module.weight)
    else:
        value = module._conv_forward(x, module.weight, None)
    if one_d:
        value = value.unsqueeze(2)
    frac = spec.in_type.frac + (0 if spec.kind == "adder" else spec.w_type.frac)
    return value * 2.0**frac


def _adder_1d(module: nn.Module) -> bool:
    return getattr(module, "is_adder", False) and len(getattr(module, "kernel_size", ())) == 1


@torch.no_grad()
def run_graph_fake_quant(
    model: GraphQAT, net: QuantizedNetwork, x: np.ndarray
) -> dict[str, np.ndarray]:
    """Every layer's codes with each compute layer's accumulator taken from the
    fake-quantized module (weights and arithmetic of the fine-tuned model) and the rest
    (requantizations, pools, joins) from the torch integer model. Keys match
    ``run_integer_model``; equal codes mean export kept the fake-quant grid."""
    from adderflow.quant.integer_model import _RUN, _requantize, quantize_input
    from adderflow.quant.spec import ComputeLayer

    model = copy.deepcopy(model).double().eval()
    modules = {op.name: op.module for op in model.graph.ops if op.kind == "compute"}
    h = quantize_input(torch.as_tensor(np.asarray(x)), net)
    outs, results = {"input_codes": h}, {INPUT: h}
    for index, layer in enumerate(net.layers):
        operands = [results[name] for name in net.sources(index)]
        if isinstance(layer, ComputeLayer):
            acc = _fake_accumulate(modules[layer.name], layer, operands[0])
            out = _requantize(layer, acc)
        else:
            acc, out = _RUN[type(layer)](layer, operands)
        if acc is not None:
            outs[f"{layer.name}_acc"] = acc
        outs[f"{layer.name}_out"] = results[layer.name] = out
    return {name: _as_codes(name, t) for name, t in outs.items()}


def _as_codes(name: str, t: Tensor) -> np.ndarray:
    values = t.numpy()
    codes = np.round(values)
    if not np.array_equal(codes, values):
        raise QuantizationError(f"fake quantization gave non-integer codes at {name}")
    return codes.astype(np.int64)
