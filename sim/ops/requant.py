"""``Requant``: ``sat(round((acc * M + B) * 2**-s))`` per channel, BN and bias folded in."""

from adderflow.fixed import MAX_PRODUCT_BITS, check_requant_limits
from adderflow.sim import reference
from adderflow.sim.onnx_io import node_attr
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import IntegerOp


class Requant(IntegerOp):
    input_names = ("acc", "multiplier", "bias")
    requantizes = True

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

    @classmethod
    def check(cls, node) -> None:
        """Shift 0..``MAX_SHIFT``, integer ``M`` and ``B``, ``|acc·M + B|`` within
        ``MAX_PRODUCT_BITS`` bits (``fixed.check_requant_limits``)."""
        checks.out_bits(node)
        if len(node.inputs) != 3:
            return  # verify_node's error, raised when the op runs
        acc_bits = node.x.bits if node.x.bits is not None else MAX_PRODUCT_BITS
        check_requant_limits(
            acc_bits,
            checks.const(node, 1, "multiplier"),
            checks.const(node, 2, "bias"),
            node_attr(node.proto, "shift"),
            node.where(),
        )
