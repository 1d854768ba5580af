"""``XnorGemm``: binary dense layer, ``acc[n, o] = 2·popcount(xnor(x[n], w[o])) − K``.

Input: ±1 codes ``[N, K]``. Weight: packed bits, uint8 ``[O, ceil(K/8)]``
(``fixed.pack_bits``), its logical ``[O, K]`` in the ``weight_shape`` attribute.
"""

from adderflow.errors import ModelFormatError
from adderflow.sim import reference
from adderflow.sim.ops.layer import LayerOp


class XnorGemm(LayerOp):
    input_names = ("x", "weight")
    arithmetic = "xnor"
    layout = "dense"
    integer_cost = True

    def get_nodeattr_types(self):
        return {"out_bits": ("i", True, 0), "weight_shape": ("ints", True, [])}

    def weight_shape(self) -> tuple[int, ...]:
        shape = tuple(int(d) for d in self.get_nodeattr("weight_shape"))
        if len(shape) != 2 or min(shape) < 1:
            node = self.onnx_node
            raise ModelFormatError(
                f"node '{node.name}' (XnorGemm): weight_shape {list(shape)} is not [O, K]"
            )
        return shape

    def output_shape(self, input_shapes):
        return (input_shapes[0][0], self.weight_shape()[0])

    def execute_node(self, context, graph):
        x, packed = self.inputs(context)
        self.write(context, reference.xnor_gemm(x, packed, self.weight_shape()))
