"""``Concat`` (axis 1) → hls4ml: the channels of each operand one after another at every
pixel, channels-last (kernel ``af_concat``, two operands; more are a chain whose links the
IR has no tensor of, so they are not traced)."""

from __future__ import annotations

from adderflow.errors import ModelFormatError
from adderflow.hw.hls4ml_backend.layouts import HlsTensor, map_tensor, shaped_attrs
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_merge.h"


def _joined(node, a: HlsTensor, b: HlsTensor) -> HlsTensor:
    """The concatenation of maps (or plain vectors) ``a`` and ``b``."""
    if len(a.shape) == 3 and len(b.shape) == 3 and a.shape[:2] == b.shape[:2]:
        h, w = a.shape[:2]
        return map_tensor(a.shape[2] + b.shape[2], h, w, a.bits)
    if len(a.shape) == len(b.shape) == 1 and a.chw is None and b.chw is None:
        return HlsTensor((a.shape[0] + b.shape[0],), a.bits)
    raise ModelFormatError(
        f"layer '{node.label}' ({node.op}): operands of shapes {list(a.shape)} and "
        f"{list(b.shape)} (channels-last) do not concatenate on the channels"
    )


def convert(cv, node) -> None:
    if node.attr("axis") != 1:
        raise ModelFormatError(f"layer '{node.label}' ({node.op}): only axis 1 is supported")
    names = list(node.proto.input)
    left = names[0]
    for i, right in enumerate(names[1:], 1):
        a, b = cv.conv.tensors[left], cv.source(node, i)
        out = _joined(node, a, b)
        last = i == len(names) - 1
        name = "" if last else f"{node.proto.output[0]}_link{i}"
        widths = {"n_chan_a": int(a.shape[-1]), "n_chan_b": int(b.shape[-1])}
        cv.add(node, "IntConcat", out, inputs=[left, right], name=name, **widths,
               **shaped_attrs(out))  # fmt: skip
        left = name or node.proto.output[0]


def parts() -> Parts:
    from hls4ml.model.attributes import Attribute

    from adderflow.hw.hls4ml_backend import layers as hl

    class IntConcat(hl.ShapedLayer):
        _expected_attributes = [Attribute("n_chan_a"), Attribute("n_chan_b")]

    class Config(hl.Config):
        layers = (IntConcat,)
        text = (
            "struct config{index} {{\n" + hl.SHAPED_CONFIG
            + "    static const unsigned n_chan_a = {n_chan_a};\n"
            + "    static const unsigned n_chan_b = {n_chan_b};\n}};\n"
        )  # fmt: skip

    class Call(hl.JoinCall):
        layers, header = (IntConcat,), HEADER
        text = hl.JOIN_CALL.format(kernel="af_concat")

    return IntConcat, (Config, Call)


MAPPINGS.add("Concat", HlsMapping(convert, parts, HEADER))
