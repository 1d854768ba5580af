"""``XnorConv``: binary convolution, ``acc = 2·popcount(xnor(a, w)) − K`` (DESIGN.md rule 6).

Input: ±1 codes ``[N, C, H, W]`` (int64 -1/+1). Weight: packed bits, uint8
``[O, ceil(K/8)]`` (``fixed.pack_bits``), its logical ``[O, C/group, kh, kw]`` in the
``weight_shape`` attribute (``K = C/group·kh·kw``). Zero padding does not vote (masked out
of the popcount).
"""

from adderflow.errors import ModelFormatError
from adderflow.sim import reference
from adderflow.sim.ops.base import CONV_ATTRS, conv_output_shape
from adderflow.sim.ops.layer import LayerOp


class XnorConv(LayerOp):
    input_names = ("x", "weight")
    arithmetic = "xnor"
    layout = "window"
    integer_cost = True

    def get_nodeattr_types(self):
        return {**CONV_ATTRS, "weight_shape": ("ints", True, [])}

    def weight_shape(self) -> tuple[int, ...]:
        shape = tuple(int(d) for d in self.get_nodeattr("weight_shape"))
        if len(shape) != 4 or min(shape) < 1:
            node = self.onnx_node
            raise ModelFormatError(
                f"node '{node.name}' (XnorConv): weight_shape {list(shape)} is not "
                "[O, C/group, kh, kw]"
            )
        return shape

    def output_shape(self, input_shapes):
        strides, pads = self.get_nodeattr("strides"), self.get_nodeattr("pads")
        return conv_output_shape(input_shapes[0], self.weight_shape(), strides, pads)

    def execute_node(self, context, graph):
        x, packed = self.inputs(context)
        strides = tuple(self.get_nodeattr("strides"))
        pads = tuple(self.get_nodeattr("pads"))
        group = int(self.get_nodeattr("group"))
        acc = reference.xnor_conv(x, packed, self.weight_shape(), strides, pads, group)
        self.write(context, acc)
