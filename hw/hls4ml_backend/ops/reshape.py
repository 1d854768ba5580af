"""``Reshape`` → hls4ml, where the channels-last order of the codes stays as it is: a map
``[C, H, W]`` (or a 1-D signal ``[C, L]``) to another of the same channels and pixel count
(e.g. a 1-D network's ``[C, L]`` to ``[C, 1, L]``), a copy (kernel ``af_copy``); to one
vector per sample, a flatten (``Flatten``'s kernel, its dense consumer reordering its
columns). Any other reshape would move codes between channels: refused, naming the layer."""

from __future__ import annotations

from adderflow.errors import ModelFormatError
from adderflow.hw.hls4ml_backend.layouts import HlsTensor, map_tensor, shaped_attrs
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS
from adderflow.hw.hls4ml_backend.ops.flatten import add_flatten

HEADER = "nnet_adder_merge.h"


def _target(node) -> tuple[int, ...]:
    shape = node.out.shape
    if shape is None or any(d is None for d in shape[1:]):
        raise ModelFormatError(f"layer '{node.label}' ({node.op}): output has no static shape")
    return tuple(int(d) for d in shape[1:])


def convert(cv, node) -> None:
    src, dims = cv.source(node), _target(node)
    if len(dims) == 1:
        add_flatten(cv, node, src)
        return
    if src.chw is not None and len(src.shape) == 3 and dims[0] == src.chw[0]:
        c, pixels = src.chw[0], src.shape[0] * src.shape[1]
        if len(dims) == 3 and dims[1] * dims[2] == pixels:
            out = map_tensor(c, dims[1], dims[2], src.bits)
        elif len(dims) == 2 and dims[1] == pixels:
            out = HlsTensor((1, pixels, c), src.bits, (c, 1, pixels), dims)
        else:
            out = None
        if out is not None:
            cv.add(node, "IntReshape", out, **shaped_attrs(out))
            return
    ir_in = list(src.ir_shape or src.chw or src.shape)
    raise ModelFormatError(
        f"layer '{node.label}' ({node.op}): reshaping {ir_in} to {list(dims)} moves codes "
        "between channels in hls4ml's channels-last layout; only reshapes that keep the "
        "channels (and flattens) are in the hls4ml backend"
    )


def parts() -> Parts:
    from adderflow.hw.hls4ml_backend import layers as hl

    class IntReshape(hl.ShapedLayer):
        pass

    class Config(hl.Config):
        layers = (IntReshape,)
        text = "struct config{index} {{\n" + hl.SHAPED_CONFIG + "}};\n"

    class Call(hl.Call):
        layers, header = (IntReshape,), HEADER
        text = hl.CALL.format(kernel="af_copy")

    return IntReshape, (Config, Call)


MAPPINGS.add("Reshape", HlsMapping(convert, parts, HEADER))
