"""``IntMul``: ``x · gate``, codes times per-channel gate codes (a squeeze-excite gate).

``x`` is ``[N, C, H, W]``, ``gate`` ``[N, C, 1, 1]``, broadcast over the spatial axes
(``fixed.gate_product``). The products are exact: ``out_bits`` must hold every product of
the operands' widths (``fixed.product_bits``, rule 9), and a requantization after it rounds
and saturates them by rule 4. Two activations multiplied: a real multiplication, counted
as one.
"""

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.fixed import product_bits
from adderflow.sim import cost_rules, reference
from adderflow.sim.onnx_io import node_label
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import IntegerOp


class IntMul(IntegerOp):
    input_names = ("x", "gate")

    def get_nodeattr_types(self):
        return {"out_bits": ("i", True, 0)}

    def output_shape(self, input_shapes):
        x, gate = (tuple(s) for s in input_shapes)
        if not _gates(x, gate):
            raise ModelFormatError(
                f"node '{node_label(self.onnx_node)}' (IntMul): a gate of shape {list(gate)} "
                f"does not gate x of shape {list(x)} (it must be [N, C, 1, 1])"
            )
        return x

    def execute_node(self, context, graph):
        x, gate = self.inputs(context)
        self.write(context, reference.gate_mul(x, gate))

    @classmethod
    def check(cls, node) -> None:
        """``x`` NCHW and ``gate`` ``[N, C, 1, 1]`` of its channels, both 2..16-bit codes;
        ``out_bits`` holds every product of them (rule 9: the products never wrap)."""
        bits = checks.out_bits(node)
        if len(node.inputs) != 2:
            return  # verify_node's error, raised when the op runs
        x, gate = node.inputs
        if x.shape is not None and gate.shape is not None and not _gates(x.shape, gate.shape):
            raise QuantizationError(
                f"{node.where()}: gate '{gate.name}' {list(gate.shape)} does not gate "
                f"'{x.name}' {list(x.shape)} (it must be [N, C, 1, 1] of x's channels)"
            )
        widths = [checks.code_bits(node, t) for t in (x, gate)]
        needed = product_bits(*widths)
        if bits < needed:
            raise QuantizationError(
                f"{node.where()}: out_bits {bits} cannot hold its products: {widths[0]}- and "
                f"{widths[1]}-bit operands reach {needed} bits (DESIGN.md rule 9: the product "
                "is exact, a requantization rounds and saturates it)"
            )

    @classmethod
    def cost(cls, node, g, counted_as=None):
        """One multiplication per output element at the wider operand's width."""
        x, gate = (t.name for t in node.inputs)
        width = cost_rules.wider(g.natural_width(x), g.natural_width(gate))
        return cost_rules.count(("mul", width, g.numel(node.out.name)))

    @classmethod
    def lower(cls, lw, node) -> None:
        """An int64 ``Mul`` broadcasting the gate: exact, the products stay within 32 bits."""
        proto = node.proto
        lw.add("Mul", list(proto.input), proto.output[0])


def _gates(x, gate) -> bool:
    """Whether ``gate`` is ``[N, C, 1, 1]`` of NCHW ``x`` (an unknown batch matches)."""
    if len(x) != 4 or len(gate) != 4 or tuple(gate[2:]) != (1, 1) or gate[1] != x[1]:
        return False
    return gate[0] is None or x[0] is None or gate[0] == x[0]
