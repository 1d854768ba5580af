"""IR → hls4ml layer list: one hls4ml layer per adderflow op, channels-last.

hls4ml's ONNX front end knows neither our custom ops nor integer-code tensors, so we
convert the IR ourselves into hls4ml's layer list (what its own converters hand to
``ModelGraph.from_layer_list``): one registered hls4ml layer class per IR op, each with a
config template, a function template and a C++ kernel from ``hw/hls/`` registered as
backend source. Every tensor is an ``ap_int`` of the width the IR's contract gives it, so
hls4ml's precision inference has nothing to infer, and requantization rounds half to even
and saturates through ``ap_fixed<..., AP_RND_CONV, AP_SAT>`` (DESIGN.md rules 4 and 5).

The hls4ml graph starts at ``input_codes`` (the integer codes after the IR's input
quantizer) and is channels-last; the converter transposes at the boundary and permutes
the columns of a dense layer that follows a flatten (DESIGN.md rule 8). Layers are named
after the IR tensors they produce (``<layer>_acc``, ``<layer>_out``), so hls4ml's trace
gives every tensor by its IR name for a layer-by-layer comparison.

Pure Python and NumPy: converting (and its errors) needs no hls4ml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from adderflow.errors import AdderflowError, ModelFormatError, QuantizationError
from adderflow.fixed import avg_pool_shift, code_bits
from adderflow.sim.onnx_io import node_attr
from adderflow.sim.ops import DOMAIN, first_binary_node

INPUT_TENSOR = "input_codes"
INPUT_STAGE = ("Quant", "Mul", "Cast")
# predict() and trace() carry codes through C doubles: exact only up to 53 bits.
MAX_TENSOR_BITS = 53
MIN_TENSOR_BITS = 2


# --- the conversion: IR nodes -> hls4ml layer dicts ----------------------------------------


@dataclass
class _Tensor:
    """Shape of an IR tensor in hls4ml (channels-last) and how to read it back as NCHW."""

    shape: tuple[int, ...]  # channels-last, no batch
    bits: int
    chw: tuple[int, int, int] | None = None  # a 3-D map, or the map a flat vector came from


@dataclass
class Conversion:
    """What ``convert`` hands to hls4ml, plus what is needed to read results back."""

    layers: list[dict[str, Any]]
    tensors: dict[str, _Tensor] = field(default_factory=dict)
    output: str = ""

    def to_reference_layout(self, name: str, values: np.ndarray) -> np.ndarray:
        """Codes of tensor ``name`` from hls4ml ``[n, *shape]`` into the IR's NCHW layout."""
        t = self.tensors[name]
        codes = _as_int(values, name).reshape(len(values), *t.shape)
        if t.chw is None:
            return codes
        c, h, w = t.chw
        nchw = codes.reshape(len(values), h, w, c).transpose(0, 3, 1, 2)
        return nchw if len(t.shape) == 3 else nchw.reshape(len(values), -1)


def _as_int(values: np.ndarray, name: str) -> np.ndarray:
    rounded = np.rint(values)
    if not np.array_equal(rounded, values):
        raise AdderflowError(f"hls4ml returned non-integer codes for tensor '{name}'")
    return rounded.astype(np.int64)


class _Converter:
    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.conv = Conversion(layers=[])

    def weight(self, node: onnx.NodeProto, index: int) -> np.ndarray:
        name = node.input[index]
        if name not in self.inits:
            raise ModelFormatError(f"node '{node.name}': input '{name}' must be an initializer")
        return self.inits[name].astype(np.int64)

    def source(self, node: onnx.NodeProto) -> _Tensor:
        if node.input[0] not in self.conv.tensors:
            raise ModelFormatError(
                f"node '{node.name}': input '{node.input[0]}' is not produced by a supported layer"
            )
        return self.conv.tensors[node.input[0]]

    def add(self, node: onnx.NodeProto, kind: str, out: _Tensor, **attrs: Any) -> None:
        name = node.output[0]
        _check_bits(out.bits, node, "output")
        self.conv.tensors[name] = out
        self.conv.layers.append(
            {"class_name": kind, "name": name, "inputs": [node.input[0]], "out_bits": out.bits}
            | attrs
        )
        self.conv.output = name


def _check_bits(bits: int, node: onnx.NodeProto, what: str) -> None:
    if not MIN_TENSOR_BITS <= bits <= MAX_TENSOR_BITS:
        raise ModelFormatError(
            f"layer '{node.name}' ({node.op_type}): {bits}-bit {what} is outside what the hls4ml "
            f"backend carries exactly ({MIN_TENSOR_BITS}..{MAX_TENSOR_BITS} bits)"
        )


def _weight_bits(node: onnx.NodeProto, w: np.ndarray) -> int:
    bits = code_bits(w)
    bits = max(bits, MIN_TENSOR_BITS)
    _check_bits(bits, node, "weight")
    return bits


def _window_attrs(node: onnx.NodeProto, src: _Tensor, kh: int, kw: int) -> dict[str, int]:
    if len(src.shape) != 3:
        raise ModelFormatError(f"layer '{node.name}' ({node.op_type}): needs a 4-D NCHW input")
    h, w, c = src.shape
    sh, sw = node_attr(node, "strides", (1, 1))
    top, left, bottom, right = node_attr(node, "pads", (0, 0, 0, 0))
    oh, ow = (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ModelFormatError(f"layer '{node.name}': window larger than its {h}x{w} input")
    attrs = dict(
        in_height=h, in_width=w, n_chan=c, out_height=oh, out_width=ow,
        filt_height=kh, filt_width=kw, stride_height=sh, stride_width=sw,
        pad_top=top, pad_left=left, pad_bottom=bottom, pad_right=right,
    )  # fmt: skip
    attrs["max_rows_per_input"] = _max_rows_per_input(attrs)
    return attrs


def last_input_row(a: dict[str, int], oh: int) -> int:
    """The input row after which io_stream emits output row ``oh`` (``af_row_ready``): the
    last row its window covers, clipped into the image (padding rows above or below it)."""
    last = oh * a["stride_height"] + a["filt_height"] - 1 - a["pad_top"]
    return max(0, min(last, a["in_height"] - 1))


def _max_rows_per_input(a: dict[str, int]) -> int:
    """Most output rows one input row completes (io_stream's line-buffer loop bound)."""
    counts: dict[int, int] = {}
    for oh in range(a["out_height"]):
        last = last_input_row(a, oh)
        counts[last] = counts.get(last, 0) + 1
    return max(counts.values())


def _conv(cv: _Converter, node: onnx.NodeProto, kind: str) -> None:
    src, w = cv.source(node), cv.weight(node, 1)
    o, c, kh, kw = w.shape
    attrs = _window_attrs(node, src, kh, kw)
    if c != attrs["n_chan"]:
        raise ModelFormatError(
            f"layer '{node.name}': weight has {c} channels, its input {src.shape[2]}"
        )
    # [O, C, kh, kw] -> [O, kh, kw, C]: the kernel's channels-last window order.
    flat = w.transpose(0, 2, 3, 1).reshape(o, -1)
    out = _Tensor((attrs["out_height"], attrs["out_width"], o), node_attr(node, "out_bits"))
    out.chw = (o, attrs["out_height"], attrs["out_width"])
    cv.add(node, kind, out, n_filt=o, n_in=c * kh * kw, weight_data=flat,
           weight_bits=_weight_bits(node, w), **attrs)  # fmt: skip


def _gemm(cv: _Converter, node: onnx.NodeProto, kind: str) -> None:
    src, w = cv.source(node), cv.weight(node, 1)
    if len(src.shape) != 1 or w.shape[1] != src.shape[0]:
        raise ModelFormatError(
            f"layer '{node.name}': weight {list(w.shape)} does not fit its input {list(src.shape)}"
        )
    if src.chw is not None:
        # The input is a flattened channels-last map: reorder C-major columns to match.
        c, h, wd = src.chw
        w = w.reshape(len(w), c, h, wd).transpose(0, 2, 3, 1).reshape(len(w), -1)
    out = _Tensor((w.shape[0],), node_attr(node, "out_bits"))
    cv.add(node, kind, out, n_in=w.shape[1], n_out=w.shape[0], weight_data=w,
           weight_bits=_weight_bits(node, w))  # fmt: skip


def _requant(cv: _Converter, node: onnx.NodeProto) -> None:
    src = cv.source(node)
    m, b = cv.weight(node, 1).reshape(-1), cv.weight(node, 2).reshape(-1)
    if not len(m) == len(b) == src.shape[-1]:
        raise ModelFormatError(
            f"layer '{node.name}': {len(m)} multipliers for {src.shape[-1]} channels"
        )
    shift, out_bits = node_attr(node, "shift"), node_attr(node, "out_bits")
    m_bits, b_bits = _weight_bits(node, m), _weight_bits(node, b)
    # acc * M + B exactly, and at least shift + 2 bits so the fixed-point view keeps a sign
    # bit and an integer bit whatever the shift.
    prod_bits = max(max(src.bits + m_bits, b_bits) + 1, shift + 2)
    out = _Tensor(src.shape, out_bits, src.chw)
    cv.add(node, "IntRequant", out, n_chan=len(m), n_pixels=int(np.prod(src.shape[:-1])),
           mult_data=m, bias_data=b, mult_bits=m_bits, bias_bits=b_bits, shift=shift,
           prod_bits=prod_bits, relu=bool(node_attr(node, "relu")))  # fmt: skip


def _maxpool(cv: _Converter, node: onnx.NodeProto) -> None:
    src = cv.source(node)
    kh, kw = node_attr(node, "kernel_shape")
    attrs = _window_attrs(node, src, kh, kw)
    out = _Tensor((attrs["out_height"], attrs["out_width"], src.shape[2]), src.bits)
    out.chw = (src.shape[2], attrs["out_height"], attrs["out_width"])
    _check_bits(node_attr(node, "out_bits"), node, "output")
    cv.add(node, "IntMaxPool2D", out, **attrs)


def _avgpool(cv: _Converter, node: onnx.NodeProto) -> None:
    """As ``_maxpool``, plus the shift that divides the window sum (refused naming the
    layer unless the area is a power of two)."""
    src = cv.source(node)
    kh, kw = node_attr(node, "kernel_shape")
    where = f"layer '{node.name}' (IntAvgPool)"
    try:
        shift = avg_pool_shift((kh, kw), node_attr(node, "strides"), where)
    except QuantizationError as exc:
        raise ModelFormatError(str(exc)) from None
    attrs = _window_attrs(node, src, kh, kw)
    out = _Tensor((attrs["out_height"], attrs["out_width"], src.shape[2]), src.bits)
    out.chw = (src.shape[2], attrs["out_height"], attrs["out_width"])
    _check_bits(node_attr(node, "out_bits"), node, "output")
    cv.add(node, "IntAvgPool2D", out, shift=shift, **attrs)


def _flatten(cv: _Converter, node: onnx.NodeProto) -> None:
    src = cv.source(node)
    if node_attr(node, "axis") != 1:
        raise ModelFormatError(f"layer '{node.name}': only Flatten(axis=1) is supported")
    size = int(np.prod(src.shape))
    pixels = int(np.prod(src.shape[:-1]))
    out = _Tensor((size,), src.bits, src.chw)
    cv.add(node, "IntFlatten", out, n_chan=src.shape[-1], n_pixels=pixels)


HANDLERS: dict[tuple[str, str], Callable[[_Converter, onnx.NodeProto], None]] = {
    (DOMAIN, "AdderConv"): lambda cv, n: _conv(cv, n, "AdderConv2D"),
    (DOMAIN, "IntConv"): lambda cv, n: _conv(cv, n, "IntConv2D"),
    (DOMAIN, "AdderGemm"): lambda cv, n: _gemm(cv, n, "AdderDense"),
    (DOMAIN, "IntGemm"): lambda cv, n: _gemm(cv, n, "IntDense"),
    (DOMAIN, "Requant"): _requant,
    (DOMAIN, "IntMaxPool"): _maxpool,
    (DOMAIN, "IntAvgPool"): _avgpool,
    ("", "Flatten"): _flatten,
}


def _input_tensor(model: onnx.ModelProto) -> _Tensor:
    props = {p.key: p.value for p in model.metadata_props}
    if "adderflow.input_bits" not in props:
        raise ModelFormatError("model has no adderflow.input_bits property: not an adderflow IR")
    bits = int(props["adderflow.input_bits"])
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:]
    if len(dims) == 3:
        c, h, w = dims
        return _Tensor((h, w, c), bits, (c, h, w))
    return _Tensor(tuple(dims), bits)


def _refuse_binary(model: onnx.ModelProto) -> None:
    """Binary layers have no hls4ml layer class yet: name the first one."""
    node = first_binary_node(model)
    if node is not None:
        raise ModelFormatError(
            f"layer '{node.name}' ({node.op_type}) is binary: adderflow's hls4ml extension "
            "has no XNOR/popcount or threshold layer yet (DESIGN.md rule 6)"
        )


def convert(model: onnx.ModelProto) -> Conversion:
    """The hls4ml layer list of an adderflow IR model; unsupported parts raise, naming them."""
    _refuse_binary(model)
    cv = _Converter(model)
    first = _input_tensor(model)
    cv.conv.tensors[INPUT_TENSOR] = first
    cv.conv.layers.append(
        {"class_name": "InputLayer", "name": INPUT_TENSOR, "input_shape": list(first.shape)}
    )
    for node in model.graph.node:
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        if node.op_type in INPUT_STAGE and domain in ("", "qonnx.custom_op.general"):
            continue  # float image -> codes: outside the integer datapath (see module doc)
        handler = HANDLERS.get((domain, node.op_type))
        if handler is None:
            supported = ", ".join(sorted(op for _, op in HANDLERS))
            raise ModelFormatError(
                f"layer '{node.name}': op '{domain or 'ai.onnx'}.{node.op_type}' has no hls4ml "
                f"mapping (supported: {supported})"
            )
        handler(cv, node)
    if cv.conv.output != model.graph.output[0].name:
        raise ModelFormatError(
            f"the hls4ml graph ends at '{cv.conv.output}', the model at "
            f"'{model.graph.output[0].name}'"
        )
    return cv.conv
