"""Quantization-aware fine-tuning of traced networks with binary layers, on
``graph_binary``'s fixed types (docs/quantization.md, "QAT of binary networks").

The same choices as ``graph_qat`` for adder and cnn students, on the binary exporter:

- The types are PTQ's: the network is traced and calibrated once, at the start, and the
  export reads those calibration peaks again (``OpGraph.peaks`` is never re-measured), so
  every tensor type, SI part type and sigmoid table input type is known before training.
- Straight-through fake quantization (``graph_qat.FakeQuant``) after the input and after
  every op that export requantizes to ``fixed<b, f>`` (conv/dense layers, binary layers
  and SI units not ending in a threshold, residual adds, average pools), and on the
  weights of every multiplication layer (plain convs and dense layers, SI units'
  ``reduce``, ``expand`` and 1×1 projection). Export reads each weight's type from its
  fake quantizer, so the exported weight codes are the fake-quantized weights exactly.
- Binary convolutions keep their own sign straight-through estimator; thresholds (batch
  norm + sign) are exact, so an op whose only readers are binary layers is not
  fake-quantized. The tensors inside an SI unit (squeeze, reduce, expand, gate, gated
  product, binary branch) train in float: export rounds them to their fixed types.
  Because of that, and because export's sign layers take the sign of the value before
  rounding, the fine-tuned float model does not compute the exported codes, and verify
  has no ``fake_quant`` comparison for binary students.
- Batch norm stays live and folds at export, as in ``graph_qat``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from adderflow.errors import QuantizationError
from adderflow.fixed import MAX_LUT_BITS, FixedType, check_bits, frac_for_range
from adderflow.nn.binary import SqueezeInteraction
from adderflow.quant import graph_ptq
from adderflow.quant.graph_binary import _BinaryBuilder, _consumers, _thresholded, _trace_binary
from adderflow.quant.graph_qat import FakeQuant, GraphQAT, _insert_after
from adderflow.quant.spec import INPUT, QuantizedNetwork
from adderflow.quant.trace import OpGraph, trace


class BinaryGraphQAT(GraphQAT):
    """The fake-quantized binary graph module, its frozen graph and its widths."""

    def __init__(self, gm, graph: OpGraph, bits: int, w_bits: int, lut_bits: int) -> None:
        super().__init__(gm, graph, None)
        self.bits, self.w_bits, self.lut_bits = bits, w_bits, lut_bits


class _QATBuilder(_BinaryBuilder):
    def weight_type(self, module: nn.Module, raw: np.ndarray) -> FixedType:
        """The type the weights were fake-quantized to while fine-tuning."""
        del raw
        fq = module.parametrizations.weight[0]
        return FixedType(fq.bits, fq.frac)


def _fake_weights(module: nn.Module, w_bits: int) -> None:
    peak = float(module.weight.detach().abs().max())
    w_type = FixedType(w_bits, frac_for_range(peak, w_bits))
    parametrize.register_parametrization(module, "weight", FakeQuant(w_type))


def to_binary_graph_qat(
    model: nn.Module,
    calib_x: np.ndarray,
    bits: int = 8,
    weight_bits: int | None = None,
    adder_scale: str = "activation",
) -> BinaryGraphQAT:
    """A fake-quantized copy of a trained binary ``model``, ready to fine-tune
    (``adder_scale`` is unused: binary networks hold no adder layers)."""
    del adder_scale
    check_bits(bits, "QAT bit width")
    w_bits = check_bits(bits if not weight_bits else weight_bits, "QAT weight bit width")
    lut_bits = min(bits, MAX_LUT_BITS)
    calib_x = np.asarray(calib_x, dtype=np.float32)
    if calib_x.ndim not in (3, 4):
        raise QuantizationError(
            f"calibration data of shape {calib_x.shape}: expected [N, C, L] or [N, C, H, W]"
        )
    gm = trace(copy.deepcopy(model).eval())
    with torch.no_grad():
        graph = _trace_binary(gm, calib_x)
    types = _BinaryBuilder(graph, bits, w_bits, 16, False, lut_bits)  # PTQ's tensor types
    readers = _consumers(graph)
    nodes = {n.name: n for n in gm.graph.nodes}
    _insert_after(gm, nodes[graph.input_node], "fq_input", FakeQuant(types.type_of(INPUT)))
    for op in graph.ops:
        if op.kind == "compute" and not getattr(op.module, "is_adder", False):
            _fake_weights(op.module, w_bits)
        if isinstance(op.module, SqueezeInteraction):
            for part in (op.module.reduce, op.module.expand, op.module.project):
                if not isinstance(part, nn.Identity):
                    _fake_weights(part, w_bits)
        restored = graph_ptq._requantizes(op, graph) and not _thresholded(op, readers[op.name])
        classifier = op.name == graph.output and isinstance(op.module, nn.Linear)
        if restored and not (classifier and op.bn is None and op.act is None):
            t = types.type_of(op.name)
            _insert_after(gm, nodes[op.node], f"fq_{op.name}", FakeQuant(t))
    gm.recompile()
    return BinaryGraphQAT(gm, graph, bits, w_bits, lut_bits)


@torch.no_grad()
def binary_graph_qat_network(
    model: BinaryGraphQAT, multiplier_bits: int = 16, shift_only: bool = False
) -> QuantizedNetwork:
    """The integer network a fine-tuned ``BinaryGraphQAT`` computes, on its start types."""
    model.eval()
    builder = _QATBuilder(model.graph, model.bits, model.w_bits, multiplier_bits, shift_only,
                          model.lut_bits)  # fmt: skip
    return builder.build()
