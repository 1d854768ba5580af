"""``IntMaxPool``: max pooling on integer codes (onnxruntime's MaxPool has no int64)."""

from onnx import TensorProto
from qonnx.core.datatype import DataType

from adderflow.export import lowering
from adderflow.sim import cost_rules, reference
from adderflow.sim.onnx_io import node_attr
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import IntegerOp


class IntMaxPool(IntegerOp):
    input_names = ("x",)
    keeps_bipolar = True

    def get_nodeattr_types(self):
        return {
            "kernel_shape": ("ints", True, []),
            "strides": ("ints", True, []),
            "out_bits": ("i", True, 0),
        }

    def infer_node_datatype(self, model) -> None:
        """``INT<out_bits>``; the max of ±1 codes stays ``BIPOLAR`` (an OR of bits)."""
        if model.get_tensor_datatype(self.onnx_node.input[0]) == DataType["BIPOLAR"]:
            model.set_tensor_datatype(self.onnx_node.output[0], DataType["BIPOLAR"])
            return
        super().infer_node_datatype(model)

    def output_shape(self, input_shapes):
        n, c, h, w = input_shapes[0]
        (kh, kw), (sh, sw) = self.get_nodeattr("kernel_shape"), self.get_nodeattr("strides")
        return (n, c, (h - kh) // sh + 1, (w - kw) // sw + 1)

    def execute_node(self, context, graph):
        (x,) = self.inputs(context)
        kernel = tuple(self.get_nodeattr("kernel_shape"))
        strides = tuple(self.get_nodeattr("strides"))
        self.write(context, reference.max_pool(x, kernel, strides))

    @classmethod
    def check(cls, node) -> None:
        """The max of codes fits their width; over ±1 codes it is ±1 codes again."""
        checks.out_bits(node)
        if node.inputs and not node.x.bipolar:
            checks.not_narrower(node)

    @classmethod
    def cost(cls, node, g, counted_as=None):
        return cost_rules.max_pool(node, g)

    @classmethod
    def lower(cls, lw, node) -> None:
        """float64 ``MaxPool`` on codes (exact), cast back."""
        proto = node.proto
        xf = lw.add("Cast", [proto.input[0]], f"{proto.name}__xf", to=TensorProto.DOUBLE)
        pooled = lw.add(
            "MaxPool",
            [xf],
            f"{proto.name}__pool",
            kernel_shape=list(node_attr(proto, "kernel_shape")),
            strides=list(node_attr(proto, "strides")),
        )
        lowering.cast_back(lw, proto, pooled)
