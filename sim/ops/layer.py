"""The concerns every accumulating layer shares, chosen by its traits.

An accumulating op module gives its semantics and its traits (``arithmetic``: adder, mac
or xnor; ``layout``: window or dense); its load check, cost rule, term count and
standard-ONNX lowering follow from them here, so the layer family's knowledge is written
once (FINN's abstract layer op) and each op module stays the one place naming the op.
"""

from __future__ import annotations

import numpy as np

from adderflow.export import lowering
from adderflow.sim import cost_rules
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import CONV_ATTRS, IntegerOp, conv_output_shape

# The logical weight rank of a binary layer's ``weight_shape``, by layout.
_PACKED_RANK = {"window": 4, "dense": 2}


class LayerOp(IntegerOp):
    """An accumulating layer: (activation, weight) in, one accumulator per output."""

    abstract = True

    @classmethod
    def check(cls, node) -> None:
        """Operand widths, weight range, window geometry and an accumulator holding every
        ``|acc|`` (rules 2, 6 and 9)."""
        if cls.binary():
            checks.binary_operands(node, rank=_PACKED_RANK[cls.layout])
            return
        kind = "adder" if cls.arithmetic == "adder" else "mul"
        checks.operands(node, kind, windowed=cls.layout == "window")

    @classmethod
    def terms(cls, node, g) -> tuple[int, int]:
        """(outputs per image, terms per output)."""
        if cls.binary():
            return cost_rules.packed_terms(node, g)
        if cls.layout == "window":
            return cost_rules.window_terms(node, g)
        return cost_rules.dense_terms(node, g)

    @classmethod
    def cost(cls, node, g, counted_as=None):
        """XNOR + popcount for a binary layer; adder-accumulate for an adder layer as it is
        (counted as its multiplier twin: multiply-accumulate at the twin's accumulator
        width); multiply-accumulate otherwise."""
        if cls.binary():
            return cost_rules.xnor_accumulate(node, g)
        adder = cls.arithmetic == "adder"
        terms = cls.terms(node, g)
        return cost_rules.accumulate(node, g, terms, adder=adder and counted_as is None, twin=adder)

    @classmethod
    def lower(cls, lw, node) -> None:
        lowering.accumulate(lw, node.proto, cls.arithmetic, cls.layout)


class WindowOp(LayerOp):
    """A convolution-shaped op: ``compute(x, weight, strides, pads, group)`` from the
    reference."""

    abstract = True
    layout = "window"
    input_names = ("x", "weight")

    @staticmethod
    def compute(x: np.ndarray, w: np.ndarray, strides, pads, group: int) -> np.ndarray:
        raise NotImplementedError

    def get_nodeattr_types(self):
        return dict(CONV_ATTRS)

    def output_shape(self, input_shapes):
        strides, pads = self.get_nodeattr("strides"), self.get_nodeattr("pads")
        return conv_output_shape(input_shapes[0], input_shapes[1], strides, pads)

    def execute_node(self, context, graph):
        x, w = self.inputs(context)
        strides = tuple(self.get_nodeattr("strides"))
        pads = tuple(self.get_nodeattr("pads"))
        group = int(self.get_nodeattr("group"))
        self.write(context, self.compute(x, w, strides, pads, group))


class DenseOp(LayerOp):
    """A matrix-shaped op: ``compute(x [N,K], weight [O,K]) -> [N,O]`` from the reference."""

    abstract = True
    layout = "dense"
    input_names = ("x", "weight")

    @staticmethod
    def compute(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_nodeattr_types(self):
        return {"out_bits": ("i", True, 0)}

    def output_shape(self, input_shapes):
        return (input_shapes[0][0], input_shapes[1][0])

    def execute_node(self, context, graph):
        x, w = self.inputs(context)
        self.write(context, self.compute(x, w))
