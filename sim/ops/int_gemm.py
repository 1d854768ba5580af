"""``IntGemm``: an integer multiplication dense layer (the classifier of adder networks)."""

from adderflow.sim import reference
from adderflow.sim.ops.base import IntegerOp


class IntGemm(IntegerOp):
    input_names = ("x", "weight")

    def get_nodeattr_types(self):
        return {"out_bits": ("i", True, 0)}

    def output_shape(self, input_shapes):
        return (input_shapes[0][0], input_shapes[1][0])

    def execute_node(self, context, graph):
        x, w = self.inputs(context)
        self.write(context, reference.int_gemm(x, w))
