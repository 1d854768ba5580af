"""``AdderGemm``: ``acc[n, o] = -sum_k |x[n, k] - w[o, k]|`` (a 1x1 adder layer)."""

from adderflow.sim import reference
from adderflow.sim.ops.base import IntegerOp


class AdderGemm(IntegerOp):
    input_names = ("x", "weight")

    def get_nodeattr_types(self):
        return {"out_bits": ("i", True, 0)}

    def output_shape(self, input_shapes):
        return (input_shapes[0][0], input_shapes[1][0])

    def execute_node(self, context, graph):
        x, w = self.inputs(context)
        self.write(context, reference.adder_gemm(x, w))
