"""``IntMul`` → hls4ml: the squeeze-excite gate ``x · gate``, the ``[C]`` gate broadcast
over x's pixels, exact in ``out_bits`` (kernel ``af_mul``; a requantization follows)."""

from __future__ import annotations

from adderflow.errors import ModelFormatError
from adderflow.hw.hls4ml_backend.layouts import HlsTensor, out_bits, shaped_attrs
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_merge.h"


def convert(cv, node) -> None:
    x, gate = cv.source(node, 0), cv.source(node, 1)
    if len(x.shape) != 3 or gate.shape != (1, 1, x.shape[2]):
        raise ModelFormatError(
            f"layer '{node.label}' ({node.op}): gate of shape {list(gate.shape)} does not "
            f"gate the channels of x {list(x.shape)} (channels-last)"
        )
    out = HlsTensor(x.shape, out_bits(node), x.chw, x.ir_shape)
    cv.add(node, "IntMul", out, inputs=list(node.proto.input[:2]), **shaped_attrs(out))


def parts() -> Parts:
    from adderflow.hw.hls4ml_backend import layers as hl

    class IntMul(hl.ShapedLayer):
        pass

    class Config(hl.Config):
        layers = (IntMul,)
        text = "struct config{index} {{\n" + hl.SHAPED_CONFIG + "}};\n"

    class Call(hl.JoinCall):
        layers, header = (IntMul,), HEADER
        text = hl.JOIN_CALL.format(kernel="af_mul")

    return IntMul, (Config, Call)


MAPPINGS.add("IntMul", HlsMapping(convert, parts, HEADER))
