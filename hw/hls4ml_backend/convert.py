"""IR → hls4ml layer list: one hls4ml layer per adderflow op, channels-last.

hls4ml's ONNX front end knows neither our custom ops nor integer-code tensors, so we
convert the IR ourselves into hls4ml's layer list (what its own converters hand to
``ModelGraph.from_layer_list``): ``convert`` walks ``adderflow.sim.view.read_view(model)``
and hands each node to its op's mapping (``ops.MAPPINGS``, one module per op: the
conversion, the hls4ml layer class with its config and function templates, and its C++
kernel from ``hw/hls/``). Every tensor is an ``ap_int`` of the width the IR's contract
gives it, so hls4ml's precision inference has nothing to infer, and requantization rounds
half to even and saturates through ``ap_fixed<..., AP_RND_CONV, AP_SAT>`` (DESIGN.md rules
4 and 5).

The hls4ml graph starts at ``input_codes`` (the integer codes after the IR's input
quantizer) and is channels-last; the converter transposes at the boundary and permutes
the columns of a dense layer that follows a flatten (DESIGN.md rule 8). Layers are named
after the IR tensors they produce (``<layer>_acc``, ``<layer>_out``), so hls4ml's trace
gives every tensor by its IR name for a layer-by-layer comparison.

Pure Python and NumPy: converting (and its errors) needs no hls4ml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from adderflow.errors import AdderflowError, ModelFormatError
from adderflow.hw.hls4ml_backend.layouts import (
    MAX_TENSOR_BITS,
    MIN_TENSOR_BITS,
    HlsTensor,
    check_bits,
    last_input_row,
    map_tensor,
    max_rows_per_input,
)
from adderflow.hw.hls4ml_backend.ops import MAPPINGS
from adderflow.sim.ops import OPS
from adderflow.sim.view import ModelView, Node, read_view

INPUT_TENSOR = "input_codes"
INPUT_STAGE = ("Quant", "Mul", "Cast")
_INPUT_STAGE_DOMAINS = ("", "ai.onnx", "qonnx.custom_op.general")
# Kept under their old names for callers and tests.
_max_rows_per_input = max_rows_per_input
__all__ = [
    "INPUT_TENSOR", "MAX_TENSOR_BITS", "MIN_TENSOR_BITS", "Conversion", "Converter",
    "HlsTensor", "convert", "last_input_row",
]  # fmt: skip


@dataclass
class Conversion:
    """What ``convert`` hands to hls4ml, plus what is needed to read results back."""

    layers: list[dict[str, Any]]
    tensors: dict[str, HlsTensor] = field(default_factory=dict)
    output: str = ""
    ir_tensors: set[str] = field(default_factory=set)  # the IR's names (traced layers)

    def to_reference_layout(self, name: str, values: np.ndarray) -> np.ndarray:
        """Codes of tensor ``name`` from hls4ml ``[n, *shape]`` into the IR's NCHW layout."""
        t = self.tensors[name]
        codes = _as_int(values, name).reshape(len(values), *t.shape)
        if t.chw is None:
            return codes
        c, h, w = t.chw
        nchw = codes.reshape(len(values), h, w, c).transpose(0, 3, 1, 2)
        if t.ir_shape is not None:
            return nchw.reshape(len(values), *t.ir_shape)
        return nchw if len(t.shape) == 3 else nchw.reshape(len(values), -1)


def _as_int(values: np.ndarray, name: str) -> np.ndarray:
    rounded = np.rint(values)
    if not np.array_equal(rounded, values):
        raise AdderflowError(f"hls4ml returned non-integer codes for tensor '{name}'")
    return rounded.astype(np.int64)


class Converter:
    """The conversion under way: the op mappings read their input here and add layers."""

    def __init__(self, view: ModelView) -> None:
        self.view = view
        self.conv = Conversion(layers=[])

    def weight(self, node: Node, index: int) -> np.ndarray:
        name = node.proto.input[index]
        return node.const(index, f"input '{name}'").astype(np.int64)

    def source(self, node: Node, index: int = 0) -> HlsTensor:
        name = node.proto.input[index]
        if name not in self.conv.tensors:
            raise ModelFormatError(
                f"node '{node.label}': input '{name}' is not produced by a supported layer"
            )
        return self.conv.tensors[name]

    def add(
        self, node: Node, kind: str, out: HlsTensor, *, inputs: list[str] | None = None,
        name: str = "", **attrs: Any,
    ) -> None:  # fmt: skip
        """Add ``node``'s layer reading ``inputs`` (its first input by default); ``name``
        replaces its output's name for a layer the IR has no tensor of (not traced)."""
        name = name or node.proto.output[0]
        check_bits(out.bits, node, "output")
        self.conv.tensors[name] = out
        self.conv.layers.append(
            {"class_name": kind, "name": name, "inputs": inputs or [node.proto.input[0]],
             "out_bits": out.bits} | attrs
        )  # fmt: skip
        self.conv.output = name


def _input_tensor(view: ModelView) -> HlsTensor:
    if view.input_bits is None:
        raise ModelFormatError("model has no adderflow.input_bits property: not an adderflow IR")
    dims = [d or 0 for d in (view.input.shape or ())][1:]
    if len(dims) == 3:
        return map_tensor(*dims, view.input_bits)
    if len(dims) == 2:
        # A 1-D signal [C, L] enters as the channels-last frame [1, L, C] (project.py
        # transposes it), so reshaping it to [C, 1, L] moves no code.
        c, length = dims
        return HlsTensor((1, length, c), view.input_bits, (c, 1, length), (c, length))
    return HlsTensor(tuple(dims), view.input_bits)


def _input_stage(node: Node) -> bool:
    """Float image -> codes: outside the integer datapath (see the module doc)."""
    return node.op in INPUT_STAGE and node.domain in _INPUT_STAGE_DOMAINS


def _refuse(view: ModelView) -> None:
    """Ops the backend cannot take yet are refused before anything converts, naming the
    first layer among them rather than a threshold that only feeds one."""
    refused = [n for n in view if n.op in MAPPINGS and MAPPINGS.get(n.op).refusal_of(n)]
    if refused:
        node = min(refused, key=lambda n: n.op in OPS and OPS[n.op].bipolar_output)
        why = MAPPINGS.get(node.op).refusal_of(node)
        raise ModelFormatError(f"layer '{node.label}' ({node.op}) {why}")


def convert(model: onnx.ModelProto) -> Conversion:
    """The hls4ml layer list of an adderflow IR model; unsupported parts raise, naming them."""
    view = read_view(model)
    _refuse(view)
    cv = Converter(view)
    cv.conv.ir_tensors = {out for node in view for out in node.proto.output}
    first = _input_tensor(view)
    cv.conv.tensors[INPUT_TENSOR] = first
    cv.conv.layers.append(
        {"class_name": "InputLayer", "name": INPUT_TENSOR, "input_shape": list(first.shape)}
    )
    for node in view:
        if _input_stage(node):
            continue
        mapping = MAPPINGS.get(node.op, f"layer '{node.label}'")
        assert mapping.convert is not None  # refusals were raised above
        mapping.convert(cv, node)
    if cv.conv.output != view.output.name:
        raise ModelFormatError(
            f"the hls4ml graph ends at '{cv.conv.output}', the model at '{view.output.name}'"
        )
    return cv.conv
