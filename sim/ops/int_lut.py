"""``IntLut``: a nonlinearity as a table lookup, ``out = table[x - qmin]``.

``x`` is ``b``-bit signed codes (any shape), ``table`` an integer initializer of ``2**b``
entries (``qmin = -2**(b-1)``), ``out_bits`` wide (``fixed.table_lookup``). The quantizer
computes the table (e.g. a sigmoid gate's, ``fixed.lookup_table``); every backend only
reads it, so the op is exact whatever function the table holds. Inputs are at most
``fixed.MAX_LUT_BITS`` wide, so the table stays a small ROM: one read per element, no
arithmetic.
"""

import numpy as np

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.fixed import MAX_LUT_BITS, check_bits, code_bits
from adderflow.sim import cost_rules, reference
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import IntegerOp


class IntLut(IntegerOp):
    input_names = ("x", "table")
    integer_cost = True

    def get_nodeattr_types(self):
        return {"out_bits": ("i", True, 0)}

    def output_shape(self, input_shapes):
        return input_shapes[0]

    def execute_node(self, context, graph):
        x, table = self.inputs(context)
        self.write(context, reference.lut(x, table))

    @classmethod
    def check(cls, node) -> None:
        """The table is a 1-D integer initializer of ``2**b`` entries for ``b``-bit input
        codes (``b <= MAX_LUT_BITS``), every entry within ``out_bits`` (2..16)."""
        bits = check_bits(checks.out_bits(node), f"{node.where()}: out_bits")
        if len(node.inputs) != 2:
            return  # verify_node's error, raised when the op runs
        x = node.inputs[0]
        table = checks.const(node, 1, "table")
        if table.dtype.kind not in "iu" or table.ndim != 1:
            raise ModelFormatError(
                f"{node.where()}: table must be a 1-D integer initializer, got {table.dtype} "
                f"{list(table.shape)}"
            )
        if x.bits is None:
            raise QuantizationError(f"{node.where()}: operand '{x.name}' has no code width")
        if x.bits > MAX_LUT_BITS:
            raise QuantizationError(
                f"{node.where()}: operand '{x.name}' is {x.bits}-bit; a lookup takes at most "
                f"{MAX_LUT_BITS}-bit codes (2**{MAX_LUT_BITS} table entries)"
            )
        if table.size != 1 << x.bits:
            raise QuantizationError(
                f"{node.where()}: table has {table.size} entries; {x.bits}-bit operand "
                f"'{x.name}' needs {1 << x.bits}"
            )
        needed = code_bits(table)
        if needed > bits:
            raise QuantizationError(
                f"{node.where()}: table entries need {needed} bits, out_bits is {bits}"
            )

    @classmethod
    def cost(cls, node, g, counted_as=None):
        """One table read per element, at the entries' width (a ROM read, no arithmetic)."""
        width = f"int{int(node.attr('out_bits'))}"
        return cost_rules.count(("lookup", width, g.numel(node.out.name)))

    @classmethod
    def lower(cls, lw, node) -> None:
        """``Gather(table, x - qmin)`` in int64: exact, the indices are the codes moved to
        start at 0."""
        proto = node.proto
        x, table_name = proto.input
        table = lw.init(proto, table_name).astype(np.int64)
        name = proto.name
        offset = lw.const(f"{name}__qmin", np.int64(-(table.size // 2)))
        index = lw.add("Sub", [x, offset], f"{name}__index")
        lw.add("Gather", [lw.const(f"{name}__table", table), index], proto.output[0], axis=0)
