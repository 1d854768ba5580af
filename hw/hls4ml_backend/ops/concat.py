"""``Concat`` (axis 1) → hls4ml's own ``Concatenate`` layer on the channels-last axis
(``nnet::concatenate3d``, or ``1d`` for vectors, in both io types): it only copies codes, so
it is exact on ``ap_int`` codes once its output type is the operands' (``project.py`` sets
it; tests/test_hls4ml.py compares every tensor). It takes two operands; more are a chain
whose links the IR has no tensor of, so they are not traced."""

from __future__ import annotations

from adderflow.errors import ModelFormatError
from adderflow.hw.hls4ml_backend.layouts import HlsTensor, map_tensor
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS


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
        op = f"concatenate{len(out.shape)}d"  # the kernel, named as hls4ml's converters do
        cv.add(node, "Concatenate", out, inputs=[left, right], name=name, axis=-1, op=op)
        left = name or node.proto.output[0]


def parts() -> Parts:
    """hls4ml's own ``Concatenate`` with its own templates (registered by hls4ml)."""
    from hls4ml.model.layers import Concatenate

    return Concatenate, ()


MAPPINGS.add("Concat", HlsMapping(convert, parts))
