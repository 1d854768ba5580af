"""``Requant``: ``sat(round((acc * M + B) * 2**-s))`` per channel, BN and bias folded in."""

from adderflow.sim import reference
from adderflow.sim.ops.base import IntegerOp


class Requant(IntegerOp):
    input_names = ("acc", "multiplier", "bias")

    def get_nodeattr_types(self):
        return {
            "shift": ("i", True, 0),
            "out_bits": ("i", True, 0),
            "relu": ("i", False, 0, {0, 1}),
        }

    def output_shape(self, input_shapes):
        return input_shapes[0]

    def execute_node(self, context, graph):
        acc, multiplier, bias = self.inputs(context)
        out = reference.requant(
            acc,
            multiplier,
            bias,
            shift=self.get_nodeattr("shift"),
            out_bits=self.get_nodeattr("out_bits"),
            relu=bool(self.get_nodeattr("relu")),
        )
        self.write(context, out)
