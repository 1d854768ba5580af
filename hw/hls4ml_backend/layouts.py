"""The conversions several op mappings share: a window layer (convolution or pool) and a
dense layer, channels-last, with the widths read from the IR's view. Pure Python."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from adderflow.errors import ModelFormatError

if TYPE_CHECKING:
    from adderflow.hw.hls4ml_backend.convert import Converter
    from adderflow.sim.view import Node

# predict() and trace() carry codes through C doubles: exact only up to 53 bits.
MAX_TENSOR_BITS = 53
MIN_TENSOR_BITS = 2


@dataclass
class HlsTensor:
    """Shape of an IR tensor in hls4ml (channels-last) and how to read it back as NCHW."""

    shape: tuple[int, ...]  # channels-last, no batch
    bits: int
    chw: tuple[int, int, int] | None = None  # a 3-D map, or the map a flat vector came from
    # The IR's shape when it is none of the above: a 1-D signal [C, L] is the map [C, 1, L].
    ir_shape: tuple[int, ...] | None = None


def map_tensor(c: int, h: int, w: int, bits: int) -> HlsTensor:
    """A channels-last feature map of the IR's ``[C, H, W]``."""
    return HlsTensor((h, w, c), bits, (c, h, w))


def check_bits(bits: int, node: Node, what: str) -> None:
    if not MIN_TENSOR_BITS <= bits <= MAX_TENSOR_BITS:
        raise ModelFormatError(
            f"layer '{node.label}' ({node.op}): {bits}-bit {what} is outside what the hls4ml "
            f"backend carries exactly ({MIN_TENSOR_BITS}..{MAX_TENSOR_BITS} bits)"
        )


def const_bits(node: Node, index: int) -> int:
    """Storage width of constant input ``index``: the narrowest its values need (the
    view's ``value_bits``), at least ``MIN_TENSOR_BITS``."""
    bits = max(node.inputs[index].value_bits, MIN_TENSOR_BITS)
    check_bits(bits, node, "weight")
    return bits


def out_bits(node: Node) -> int:
    """The node's output code width under the contract (the view's)."""
    bits = node.out.bits
    if bits is None:
        if node.is_adderflow:
            node.attr("out_bits")  # a missing attribute is the cause: name it
        raise ModelFormatError(f"{node.where()}: output '{node.out.name}' has no code width")
    return bits


def window_attrs(node: Node, src: HlsTensor, kh: int, kw: int) -> dict[str, int]:
    if len(src.shape) != 3:
        raise ModelFormatError(f"layer '{node.label}' ({node.op}): needs a 4-D NCHW input")
    h, w, c = src.shape
    sh, sw = node.attr("strides", (1, 1))
    top, left, bottom, right = node.attr("pads", (0, 0, 0, 0))
    oh, ow = (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ModelFormatError(f"layer '{node.label}': window larger than its {h}x{w} input")
    attrs = dict(
        in_height=h, in_width=w, n_chan=c, out_height=oh, out_width=ow,
        filt_height=kh, filt_width=kw, stride_height=sh, stride_width=sw,
        pad_top=top, pad_left=left, pad_bottom=bottom, pad_right=right,
    )  # fmt: skip
    attrs["max_rows_per_input"] = max_rows_per_input(attrs)
    return attrs


def last_input_row(a: dict[str, int], oh: int) -> int:
    """The input row after which io_stream emits output row ``oh`` (``af_row_ready``): the
    last row its window covers, clipped into the image (padding rows above or below it)."""
    last = oh * a["stride_height"] + a["filt_height"] - 1 - a["pad_top"]
    return max(0, min(last, a["in_height"] - 1))


def max_rows_per_input(a: dict[str, int]) -> int:
    """Most output rows one input row completes (io_stream's line-buffer loop bound)."""
    counts: dict[int, int] = {}
    for oh in range(a["out_height"]):
        last = last_input_row(a, oh)
        counts[last] = counts.get(last, 0) + 1
    return max(counts.values())


def convert_conv(cv: Converter, node: Node, kind: str) -> None:
    """A convolution: weights ``[O, C/group, kh, kw]`` to the kernel's channels-last rows
    ``[O][kh][kw][C/group]``; output ``o`` reads the channels of group ``o // (O/group)``."""
    src, w = cv.source(node), cv.weight(node, 1)
    o, cg, kh, kw = w.shape
    group = int(node.attr("group", 1))
    attrs = window_attrs(node, src, kh, kw)
    if group < 1 or o % group or cg * group != attrs["n_chan"]:
        raise ModelFormatError(
            f"layer '{node.label}': weight {list(w.shape)} with group {group} does not fit "
            f"its input of {attrs['n_chan']} channels"
        )
    flat = w.transpose(0, 2, 3, 1).reshape(o, -1)
    out = map_tensor(o, attrs["out_height"], attrs["out_width"], out_bits(node))
    cv.add(node, kind, out, n_filt=o, n_in=cg * kh * kw, group=group, weight_data=flat,
           weight_bits=const_bits(node, 1), **attrs)  # fmt: skip


def convert_dense(cv: Converter, node: Node, kind: str) -> None:
    """A dense layer; after a flatten of a channels-last map its columns are reordered."""
    src, w = cv.source(node), cv.weight(node, 1)
    if len(src.shape) != 1 or w.shape[1] != src.shape[0]:
        raise ModelFormatError(
            f"layer '{node.label}': weight {list(w.shape)} does not fit its input {list(src.shape)}"
        )
    if src.chw is not None:
        # The input is a flattened channels-last map: reorder C-major columns to match.
        c, h, wd = src.chw
        w = w.reshape(len(w), c, h, wd).transpose(0, 2, 3, 1).reshape(len(w), -1)
    out = HlsTensor((w.shape[0],), out_bits(node))
    cv.add(node, kind, out, n_in=w.shape[1], n_out=w.shape[0], weight_data=w,
           weight_bits=const_bits(node, 1))  # fmt: skip


def convert_pool(
    cv: Converter, node: Node, kind: str, *, widens: bool = False, **extra: Any
) -> None:
    """A pool: codes keep their width, unless it ``widens`` (a window sum: ``out_bits``).
    ``pad`` is the code a padded tap holds: the input type's minimum, which never wins a max
    (a tie with a real minimum gives the same code)."""
    src = cv.source(node)
    kh, kw = node.attr("kernel_shape")
    attrs = window_attrs(node, src, kh, kw)
    bits = out_bits(node) if widens else src.bits
    out = map_tensor(src.shape[2], attrs["out_height"], attrs["out_width"], bits)
    check_bits(out_bits(node), node, "output")
    cv.add(node, kind, out, pad=-(1 << (src.bits - 1)), **extra, **attrs)


def shaped_attrs(out: HlsTensor) -> dict[str, Any]:
    """An element-wise layer's shape attributes: io_stream carries ``n_pixels`` packets of
    ``n_chan`` codes (a vector: one packet)."""
    return {
        "out_shape": [int(d) for d in out.shape],
        "n_chan": int(out.shape[-1]),
        "n_pixels": int(np.prod(out.shape[:-1], dtype=np.int64)),
    }


def same_shape(node: Node, a: HlsTensor, b: HlsTensor) -> None:
    if a.shape != b.shape:
        raise ModelFormatError(
            f"layer '{node.label}' ({node.op}): operands of shapes {list(a.shape)} and "
            f"{list(b.shape)} (channels-last) differ"
        )
