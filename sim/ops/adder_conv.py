"""``AdderConv``: ``acc = -sum |x - w|`` over each padded window (DESIGN.md rules 2-3)."""

from adderflow.sim import reference
from adderflow.sim.ops.base import CONV_ATTRS, IntegerOp, conv_output_shape


class AdderConv(IntegerOp):
    input_names = ("x", "weight")

    def get_nodeattr_types(self):
        return dict(CONV_ATTRS)

    def output_shape(self, input_shapes):
        return conv_output_shape(
            input_shapes[0],
            input_shapes[1],
            self.get_nodeattr("strides"),
            self.get_nodeattr("pads"),
        )

    def execute_node(self, context, graph):
        x, w = self.inputs(context)
        strides = tuple(self.get_nodeattr("strides"))
        pads = tuple(self.get_nodeattr("pads"))
        self.write(context, reference.adder_conv(x, w, strides, pads))
