"""``IntAdd``: a residual add (DESIGN.md rule 10), ``(a << shifts[0]) + (b << shifts[1])``.

The two branches' codes have power-of-two scales; the coarser one is left-shifted to the
finer one's (the finer operand's shift is 0) and the codes are added exactly
(``fixed.join_add``). The sum is an accumulator: ``out_bits`` must hold every sum of the
operands' widths, and a requantization after it rounds and saturates it by rule 4.
"""

import numpy as np

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.fixed import MAX_SHIFT, code_bits
from adderflow.sim import cost_rules, reference
from adderflow.sim.onnx_io import node_attr, node_label
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import IntegerOp


class IntAdd(IntegerOp):
    input_names = ("a", "b")

    def get_nodeattr_types(self):
        return {"shifts": ("ints", True, []), "out_bits": ("i", True, 0)}

    def output_shape(self, input_shapes):
        a, b = input_shapes
        if tuple(a) != tuple(b):
            raise ModelFormatError(
                f"node '{node_label(self.onnx_node)}' (IntAdd): operands of shapes {list(a)} "
                f"and {list(b)} (a residual add does not broadcast)"
            )
        return tuple(a)

    def execute_node(self, context, graph):
        a, b = self.inputs(context)
        self.write(context, reference.int_add(a, b, tuple(self.get_nodeattr("shifts"))))

    @classmethod
    def check(cls, node) -> None:
        """Two shifts in ``0..MAX_SHIFT``, the finer operand's 0 (rule 10: aligned to the
        finer scale); both operands 2..16-bit codes of one shape; ``out_bits`` holds every
        sum of them (rule 9: accumulators never wrap)."""
        bits = checks.out_bits(node)
        shifts = _shifts(node)
        if len(node.inputs) != 2:
            return  # verify_node's error, raised when the op runs
        a, b = node.inputs
        if a.shape is not None and b.shape is not None and a.shape[1:] != b.shape[1:]:
            raise QuantizationError(
                f"{node.where()}: operands '{a.name}' {list(a.shape)} and '{b.name}' "
                f"{list(b.shape)} differ in shape (a residual add does not broadcast)"
            )
        widths = [checks.code_bits(node, t) for t in (a, b)]
        needed = sum_bits(widths, shifts)
        if bits < needed:
            raise QuantizationError(
                f"{node.where()}: out_bits {bits} cannot hold its sums: {widths[0]}- and "
                f"{widths[1]}-bit operands shifted by {shifts} reach {needed} bits (DESIGN.md "
                "rules 9 and 10: the add is exact, a requantization rounds and saturates it)"
            )

    @classmethod
    def cost(cls, node, g, counted_as=None):
        """Per element one add at the sum's width and one shift per shifted operand (a shift
        by a constant is wiring: counted, priced free)."""
        n = g.numel(node.out.name)
        width = f"int{node.attr('out_bits')}"
        shifted = sum(1 for s in node.attr("shifts") if s)
        return cost_rules.count(("add", width, n), ("shift", width, shifted * n))

    @classmethod
    def lower(cls, lw, node) -> None:
        """int64 ``Mul`` by ``2**shift`` per operand and an int64 ``Add``: exact, since the
        check keeps the sum within ``out_bits <= 52`` bits."""
        proto = node.proto
        name = proto.name
        terms = []
        for i, (x, shift) in enumerate(zip(proto.input, node_attr(proto, "shifts"), strict=True)):
            if shift:
                factor = lw.const(f"{name}__pow{i}", np.int64(1 << shift))
                x = lw.add("Mul", [x, factor], f"{name}__shifted{i}")
            terms.append(x)
        lw.add("Add", terms, proto.output[0])


def _shifts(node) -> tuple[int, int]:
    shifts = list(node_attr(node.proto, "shifts"))
    if len(shifts) != 2 or any(not 0 <= s <= MAX_SHIFT for s in shifts):
        raise QuantizationError(
            f"{node.where()}: shifts {shifts} are not 2 values in 0..{MAX_SHIFT}"
        )
    if min(shifts) != 0:
        raise QuantizationError(
            f"{node.where()}: shifts {shifts}: the finer operand's shift must be 0 (DESIGN.md "
            "rule 10 aligns to the finer scale; a common left shift folds into the requantization)"
        )
    return shifts[0], shifts[1]


def sum_bits(widths: list[int], shifts: tuple[int, int]) -> int:
    """Signed width of every ``(a << sa) + (b << sb)`` for ``a``, ``b`` of these widths."""
    lo = sum(-(1 << (w - 1)) << s for w, s in zip(widths, shifts, strict=True))
    hi = sum(((1 << (w - 1)) - 1) << s for w, s in zip(widths, shifts, strict=True))
    return code_bits(np.array([lo, hi], dtype=np.int64))
