"""``IntMaxPool``: max pooling on integer codes (onnxruntime's MaxPool has no int64).

``pads`` (ONNX order: top, left, bottom, right) are positions that never win; each is below
the kernel's side, as ONNX's MaxPool demands, so every window holds a code.
"""

from onnx import TensorProto
from qonnx.core.datatype import DataType

from adderflow.errors import QuantizationError
from adderflow.export import lowering
from adderflow.sim import cost_rules, reference
from adderflow.sim.onnx_io import node_attr
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import IntegerOp

NO_PADS = [0, 0, 0, 0]


class IntMaxPool(IntegerOp):
    input_names = ("x",)
    keeps_bipolar = True

    def get_nodeattr_types(self):
        return {
            "kernel_shape": ("ints", True, []),
            "strides": ("ints", True, []),
            "pads": ("ints", False, list(NO_PADS)),
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
        top, left, bottom, right = self.get_nodeattr("pads")
        return (n, c, (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1)

    def execute_node(self, context, graph):
        (x,) = self.inputs(context)
        kernel = tuple(self.get_nodeattr("kernel_shape"))
        strides = tuple(self.get_nodeattr("strides"))
        pads = tuple(self.get_nodeattr("pads"))
        self.write(context, reference.max_pool(x, kernel, strides, pads))

    @classmethod
    def check(cls, node) -> None:
        """The max of codes fits their width; over ±1 codes it is ±1 codes again; a window
        and pads below its sides (a window of padding alone would have no code to pick)."""
        checks.out_bits(node)
        checks.window(node)
        kh, kw = node_attr(node.proto, "kernel_shape")
        pads = list(node_attr(node.proto, "pads", NO_PADS))
        if max(pads[0], pads[2]) >= kh or max(pads[1], pads[3]) >= kw:
            raise QuantizationError(
                f"{node.where()}: pads {pads} are not below the kernel {[kh, kw]} (a window "
                "of padding alone has no code to pick; ONNX MaxPool's rule)"
            )
        if node.inputs and not node.x.bipolar:
            checks.not_narrower(node)

    @classmethod
    def cost(cls, node, g, counted_as=None):
        """``kh·kw - 1`` comparisons per output, padded positions included (the window
        compares them with the floor they hold)."""
        return cost_rules.max_pool(node, g)

    @classmethod
    def lower(cls, lw, node) -> None:
        """float64 ``MaxPool`` on codes (exact), cast back; its padded positions never win."""
        proto = node.proto
        xf = lw.add("Cast", [proto.input[0]], f"{proto.name}__xf", to=TensorProto.DOUBLE)
        pooled = lw.add(
            "MaxPool",
            [xf],
            f"{proto.name}__pool",
            kernel_shape=list(node_attr(proto, "kernel_shape")),
            strides=list(node_attr(proto, "strides")),
            pads=list(node_attr(proto, "pads", NO_PADS)),
        )
        lowering.cast_back(lw, proto, pooled)
