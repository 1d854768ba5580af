"""``Requant``: ``sat(round((acc * M + B) * 2**-s))`` per channel, BN and bias folded in.

``acc`` is any accumulator, whatever produced it: a layer's, a residual add's, a window
sum's or a gate product's (DESIGN.md rules 4 and 10). Its width is the producer's
``out_bits`` as the view reads it, which is all the check and the cost rule look at.
"""

import numpy as np
from onnx import TensorProto

from adderflow.export import lowering
from adderflow.fixed import MAX_PRODUCT_BITS, check_requant_limits, signed_bits
from adderflow.sim import cost_rules, reference
from adderflow.sim.energy import width_bits
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

    @classmethod
    def cost(cls, node, g, counted_as=None):
        """``(acc * M + B) >> s`` rounded: 1 mul + 2 adds per element (bias, rounding), or a
        free shift + 2 adds when every multiplier is a signed power of two."""
        n = g.numel(node.out.name)
        acc_bits = width_bits(g.natural_width(node.x.name))
        multiplier = node.inputs[1].name
        m = g.consts.get(multiplier)
        if m is None:
            m_bits, shift_only = width_bits(g.natural_width(multiplier)), False
        else:
            mag = np.abs(m.astype(np.int64))
            m_bits = signed_bits(int(np.max(mag, initial=0)))
            shift_only = bool(np.all((mag & (mag - 1)) == 0))  # 0 or a power of two
        product = f"int{acc_bits + m_bits}"
        if shift_only:
            return cost_rules.count(("shift", f"int{acc_bits}", n), ("add", product, 2 * n))
        return cost_rules.count(
            ("mul", f"int{max(acc_bits, m_bits)}", n), ("add", product, 2 * n)
        )

    @classmethod
    def lower(cls, lw, node) -> None:
        """``acc*M + B`` in int64, then float64 ``Mul`` by ``2**-s`` (exact), ``Round`` (half
        to even, as the contract), ``Clip``, cast back: exact because ``fixed.fit_requant``
        keeps ``|acc*M + B| < 2**53``."""
        proto = node.proto
        acc, m, b = proto.input
        name = proto.name
        m_b = lowering.per_channel(lw, proto, m)
        b_b = lowering.per_channel(lw, proto, b)
        am = lw.add("Mul", [acc, lw.const(f"{name}__m", m_b)], f"{name}__am")
        v = lw.add("Add", [am, lw.const(f"{name}__b", b_b)], f"{name}__v")
        vf = lw.add("Cast", [v], f"{name}__vf", to=TensorProto.DOUBLE)
        scale = lw.const(f"{name}__scale", np.float64(2.0 ** -node_attr(proto, "shift")))
        scaled = lw.add("Mul", [vf, scale], f"{name}__scaled")
        rounded = lw.add("Round", [scaled], f"{name}__round")
        bits = node_attr(proto, "out_bits")
        lo = 0.0 if node_attr(proto, "relu", 0) else -(2.0 ** (bits - 1))
        bounds = [
            lw.const(f"{name}__lo", np.float64(lo)),
            lw.const(f"{name}__hi", np.float64(2.0 ** (bits - 1) - 1)),
        ]
        lowering.cast_back(lw, proto, lw.add("Clip", [rounded, *bounds], f"{name}__clip"))
