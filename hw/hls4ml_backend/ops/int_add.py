"""``IntAdd`` → hls4ml: the residual add ``(a << s_a) + (b << s_b)`` in ``out_bits``, exact
(kernel ``af_add``; a requantization follows, as after any accumulator). Our own kernel, not
hls4ml's ``Add`` merge: that one adds without shifts, and the two operands of a join carry
different power-of-two scales."""

from __future__ import annotations

from adderflow.hw.hls4ml_backend.layouts import HlsTensor, out_bits, same_shape, shaped_attrs
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_merge.h"


def convert(cv, node) -> None:
    a, b = cv.source(node, 0), cv.source(node, 1)
    same_shape(node, a, b)
    shift_a, shift_b = (int(s) for s in node.attr("shifts"))
    out = HlsTensor(a.shape, out_bits(node), a.chw, a.ir_shape)
    cv.add(node, "IntAdd", out, inputs=list(node.proto.input[:2]), shift_a=shift_a,
           shift_b=shift_b, **shaped_attrs(out))  # fmt: skip


def parts() -> Parts:
    from hls4ml.model.attributes import Attribute

    from adderflow.hw.hls4ml_backend import layers as hl

    class IntAdd(hl.ShapedLayer):
        _expected_attributes = [Attribute("shift_a"), Attribute("shift_b")]

    class Config(hl.Config):
        layers = (IntAdd,)
        text = (
            "struct config{index} {{\n" + hl.SHAPED_CONFIG
            + "    static const unsigned shift_a = {shift_a};\n"
            + "    static const unsigned shift_b = {shift_b};\n}};\n"
        )  # fmt: skip

    class Call(hl.JoinCall):
        layers, header = (IntAdd,), HEADER
        text = hl.JOIN_CALL.format(kernel="af_add")

    return IntAdd, (Config, Call)


MAPPINGS.add("IntAdd", HlsMapping(convert, parts, HEADER))
