"""``BinaryThreshold``: batch norm + sign folded into one integer threshold per channel.

``out = +1 if direction·acc >= threshold else -1`` (``direction`` is -1 where the folded
batch-norm gain is negative). Inputs: ``acc``, ``threshold`` int64 ``[C]``, ``direction``
int64 ``[C]`` of ±1. The output is ±1 codes (qonnx datatype ``BIPOLAR``), what a binary
layer reads.
"""

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.export import lowering
from adderflow.sim import cost_rules, reference
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import IntegerOp


class BinaryThreshold(IntegerOp):
    input_names = ("acc", "threshold", "direction")
    bipolar_output = True
    integer_cost = True

    def get_nodeattr_types(self):
        return {}

    def out_bits(self) -> int:
        return 2  # a ±1 code in a signed integer; it is stored as one bit

    def infer_node_datatype(self, model) -> None:
        model.set_tensor_datatype(self.onnx_node.output[0], DataType["BIPOLAR"])

    def output_shape(self, input_shapes):
        return input_shapes[0]

    def execute_node(self, context, graph):
        acc, threshold, direction = self.inputs(context)
        self.write(context, reference.binary_threshold(acc, threshold, direction))

    @classmethod
    def check(cls, node) -> None:
        """Thresholds and directions are integer initializers, one per channel; directions
        ±1."""
        if len(node.inputs) != 3:
            return  # verify_node's error, raised when the op runs
        threshold = checks.const(node, 1, "threshold")
        direction = checks.const(node, 2, "direction")
        for what, value in (("threshold", threshold), ("direction", direction)):
            if value.dtype.kind not in "iu" or value.ndim != 1:
                raise ModelFormatError(
                    f"{node.where()}: {what} must be a 1-D integer initializer, got "
                    f"{value.dtype} {list(value.shape)}"
                )
        if threshold.shape != direction.shape:
            raise ModelFormatError(
                f"{node.where()}: {threshold.size} thresholds but {direction.size} directions"
            )
        if not np.all((direction == 1) | (direction == -1)):
            raise QuantizationError(f"{node.where()}: directions must be +1 or -1")

    @classmethod
    def cost(cls, node, g, counted_as=None):
        """1 comparison per element at the accumulator's width (the direction flips the
        comparison, it costs nothing)."""
        return cost_rules.sign_threshold(node, g)

    @classmethod
    def lower(cls, lw, node) -> None:
        """``Where(acc·direction >= threshold, 1, -1)`` in int64 (``GreaterOrEqual``, opset
        12)."""
        proto = node.proto
        acc, threshold, direction = proto.input
        name = proto.name
        t = lowering.per_channel(lw, proto, threshold).astype(np.int64)
        d = lowering.per_channel(lw, proto, direction).astype(np.int64)
        signed = lw.add("Mul", [acc, lw.const(f"{name}__d", d)], f"{name}__signed")
        above = lw.add("GreaterOrEqual", [signed, lw.const(f"{name}__t", t)], f"{name}__ge")
        plus = lw.const(f"{name}__plus", np.int64(1))
        minus = lw.const(f"{name}__minus", np.int64(-1))
        lw.nodes.append(
            helper.make_node(
                "Where", [above, plus, minus], [proto.output[0]], name=f"{name}__out"
            )
        )
