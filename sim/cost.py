"""Operation and energy counts of an ONNX/QONNX model, per image, read from the IR itself.

Why on the IR: the exported graph is what every backend builds, so its counts are the
hardware's counts (accumulator widths included), and a hardware engineer can cost a model
without PyTorch. The conventions (docs/cost-model.md) follow the AdderNet papers so our
figures compare with theirs:

* a multiplication layer's term is 1 multiplication + 1 addition; an adder layer's term
  ``|x - w|`` accumulated is 2 additions (subtract at operand width, accumulate at the
  accumulator width ``out_bits``) plus 1 absolute value, counted under ``abs`` and costed
  0 pJ (the sign of ``x - w`` picks add or subtract in the accumulator: a carry-in, no
  extra adder). ``K`` products need ``K - 1`` additions; the ``K``-th is the bias or
  initial value, so bias is not counted separately.
* ``Requant``: 1 mul + 2 adds (bias, rounding) per element, or a free shift + 2 adds when
  every multiplier is a signed power of two. Comparisons (max pooling, ReLU) cost an add.
* an op the model does not know is listed in ``uncounted``, never counted as zero.

Three views: ``as_ann`` counts the graph as it is; ``as_cnn`` counts every ``AdderConv`` /
``AdderGemm`` as its multiplier twin ``IntConv`` / ``IntGemm`` (accumulator width from
``fixed.mul_acc_bits``); ``as_bnn`` counts every accumulating layer between the first and
the last as XNOR + popcount on bits (DESIGN.md rules 6 and 7), the requantizers feeding
them as sign thresholds. The IR's own binary layers (``XnorConv`` / ``XnorGemm``: packed
1-bit weights, ±1 inputs) are XNOR + popcount in every view, and a ``BinaryThreshold`` is
one comparison per element.

Memory is compulsory traffic: each counted node reads its weights and activation inputs
once and writes its outputs once (perfect reuse inside a node, no fusion across nodes).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from adderflow.errors import AdderflowError, ConfigError
from adderflow.fixed import mul_acc_bits, signed_bits
from adderflow.sim.energy import (
    EnergyTable,
    default_energy_table,
    load_energy_table,
    parse_width,
    width_bits,
)
from adderflow.sim.onnx_io import node_attr, read_onnx

KINDS = ("add", "mul", "cmp", "abs", "shift", "xnor", "popcount")
VIEWS = ("ann", "cnn", "bnn")
# Columns of the per-layer text table (shift is free and popcount equals xnor per term; both
# still show in its widths column and in ``to_dict``).
TABLE_KINDS = ("add", "mul", "cmp", "abs", "xnor")
DEFAULT_MEMORY = "sram_32kb"
# Ops whose arithmetic is the multiply- or adder-accumulate the papers count.
MAC_OPS = frozenset(
    {"Conv", "Gemm", "MatMul", "AdderConv", "AdderGemm", "IntConv", "IntGemm", "XnorConv"}
    | {"XnorGemm"}
)
TWIN = {"AdderConv": "IntConv", "AdderGemm": "IntGemm"}
# The IR's binary layers: already XNOR + popcount, in every view.
XNOR_OPS = ("XnorConv", "XnorGemm")
# The BNN view's name for a binarized accumulating layer.
XNOR_TWIN = {
    "Conv": "XnorConv",
    "AdderConv": "XnorConv",
    "IntConv": "XnorConv",
    "Gemm": "XnorGemm",
    "MatMul": "XnorGemm",
    "AdderGemm": "XnorGemm",
    "IntGemm": "XnorGemm",
}
# Same string as adderflow.sim.ops.DOMAIN; literal here so costing needs no qonnx import.
ADDERFLOW_DOMAIN = "adderflow"
STANDARD_DOMAINS = ("", "ai.onnx")
QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general")
FREE_OPS = frozenset(
    ["Reshape", "Flatten", "Transpose", "Identity", "Squeeze", "Unsqueeze", "Concat", "Cast"]
    + ["Dropout", "Slice", "Pad"]
)
_ELEM_WIDTH = {
    TensorProto.FLOAT: "fp32",
    TensorProto.FLOAT16: "fp16",
    TensorProto.BFLOAT16: "bf16",
    TensorProto.DOUBLE: "fp64",
    TensorProto.BOOL: "int1",
    TensorProto.INT8: "int8",
    TensorProto.UINT8: "int8",
    TensorProto.INT16: "int16",
    TensorProto.UINT16: "int16",
    TensorProto.INT32: "int32",
    TensorProto.UINT32: "int32",
    TensorProto.INT64: "int64",
    TensorProto.UINT64: "int64",
}

Ops = dict[str, dict[str, int]]  # kind -> width -> count per image


# --------------------------------------------------------------------------- widths


def _wider(a: str, b: str) -> str:
    """The width an op on operands ``a`` and ``b`` runs at: a float wins, then more bits."""
    fa, ba = parse_width(a)
    fb, bb = parse_width(b)
    return max((a, (fa != "int", ba)), (b, (fb != "int", bb)), key=lambda t: t[1])[0]


def _datatype_width(datatype: str) -> str | None:
    """Width of a qonnx DataType name (``INT8``, ``UINT4``, ``BIPOLAR``, ``FIXED<8,3>``)."""
    if datatype in ("BIPOLAR", "BINARY"):
        return "int1"
    if datatype == "TERNARY":
        return "int2"
    if datatype in ("FLOAT32", "FLOAT16"):
        return "fp" + datatype[-2:]
    m = re.match(r"^(?:U?INT|FIXED<|SCALEDINT<)(\d+)", datatype)
    return f"int{m[1]}" if m else None


# --------------------------------------------------------------------------- graph facts


class _ShapeUnknown(Exception):
    """A tensor a rule needs has no static shape; the node is listed as uncounted."""


@dataclass
class _Graph:
    """Shapes, widths and constant values of one model's tensors, as the rules read them."""

    shapes: dict[str, tuple[int | None, ...] | None]
    elem: dict[str, int]
    datatypes: dict[str, str]
    consts: dict[str, np.ndarray]
    precision: str | None = None
    # Widths a view imposes (the BNN view's 1-bit tensors); they beat ``precision`` too.
    overrides: dict[str, str] = field(default_factory=dict)

    def shape(self, name: str) -> tuple[int | None, ...]:
        """Static shape; an activation's batch dimension (dim 0) may be symbolic (None)."""
        if name in self.consts:
            return tuple(self.consts[name].shape)
        shape = self.shapes.get(name)
        if shape is None or any(d is None for d in shape[1:]):
            raise _ShapeUnknown(name)
        return shape

    def numel(self, name: str) -> int:
        """Elements per image: the batch dimension (dim 0) of an activation is divided out."""
        shape = self.shape(name)
        return int(np.prod(shape if name in self.consts else shape[1:]))

    def natural_width(self, name: str) -> str:
        if name in self.overrides:
            return self.overrides[name]
        if name in self.datatypes and _datatype_width(self.datatypes[name]):
            return _datatype_width(self.datatypes[name])
        value = self.consts.get(name)
        if value is not None and value.dtype.kind in "iub":
            return f"int{signed_bits(int(np.max(np.abs(value), initial=0)))}"
        return _ELEM_WIDTH.get(self.elem.get(name, TensorProto.FLOAT), "fp32")

    def width(self, name: str) -> str:
        """Storage width of a tensor, unless every value is treated as ``precision``."""
        return self.overrides.get(name) or self.precision or self.natural_width(name)


def _read_graph(model: onnx.ModelProto, precision: str | None) -> _Graph:
    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in STANDARD_DOMAINS:
            tensor = next((a.t for a in node.attribute if a.name == "value"), None)
            if tensor is not None:
                consts[node.output[0]] = numpy_helper.to_array(tensor)
    shapes, elem = _value_infos(graph)
    if _missing_shapes(graph, shapes, consts):
        try:
            inferred = onnx.shape_inference.infer_shapes(model).graph
        except Exception:  # best effort: the rules list whatever stays unknown
            inferred = None
        if inferred is not None:
            more_shapes, more_elem = _value_infos(inferred)
            shapes = {**more_shapes, **{k: v for k, v in shapes.items() if v is not None}}
            elem = {**more_elem, **elem}
    datatypes = {
        ann.tensor_name: kv.value
        for ann in graph.quantization_annotation
        for kv in ann.quant_parameter_tensor_names
        if kv.key == "finn_datatype"
    }
    return _Graph(shapes, elem, datatypes, consts, precision)


def _value_infos(graph: onnx.GraphProto):
    shapes: dict[str, tuple[int | None, ...] | None] = {}
    elem: dict[str, int] = {}
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        tt = vi.type.tensor_type
        if tt.elem_type:
            elem[vi.name] = tt.elem_type
        dims = tt.shape.dim if tt.HasField("shape") else None
        shapes[vi.name] = (
            None
            if dims is None
            else tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
        )
    return shapes, elem


def _missing_shapes(graph: onnx.GraphProto, shapes, consts) -> bool:
    names = {n for node in graph.node for n in [*node.input, *node.output] if n}
    return any(shapes.get(n) is None for n in names - set(consts))


# --------------------------------------------------------------------------- counting rules


def _ops(*entries: tuple[str, str, int]) -> Ops:
    out: Ops = {}
    for kind, width, n in entries:
        if n:
            out.setdefault(kind, {})
            out[kind][width] = out[kind].get(width, 0) + int(n)
    return out


def _acc_width(node: onnx.NodeProto, operand: str) -> str:
    """An integer layer accumulates at its ``out_bits``; a float one at its operand width."""
    out_bits = node_attr(node, "out_bits", None)
    return f"int{out_bits}" if parse_width(operand)[0] == "int" and out_bits else operand


def _window_terms(node: onnx.NodeProto, g: _Graph) -> tuple[int, int]:
    """(outputs per image, terms per output) of a conv-shaped node: ``K = C/g * kh * kw``."""
    return g.numel(node.output[0]), int(np.prod(g.shape(node.input[1])[1:]))


def _dense_terms(node: onnx.NodeProto, g: _Graph) -> tuple[int, int]:
    """AdderGemm/IntGemm take weight ``[O, K]``."""
    return g.numel(node.output[0]), g.shape(node.input[1])[1]


def _gemm_terms(node: onnx.NodeProto, g: _Graph) -> tuple[int, int]:
    a = g.shape(node.input[0])
    return g.numel(node.output[0]), a[0] if node_attr(node, "transA", 0) else a[-1]


def _matmul_terms(node: onnx.NodeProto, g: _Graph) -> tuple[int, int]:
    return g.numel(node.output[0]), g.shape(node.input[0])[-1]


def _packed_terms(node: onnx.NodeProto, g: _Graph) -> tuple[int, int]:
    """XnorConv/XnorGemm: the weight is packed bits; its logical shape is ``weight_shape``."""
    shape = node_attr(node, "weight_shape", None)
    if not shape:
        raise _ShapeUnknown(node.input[1])
    return g.numel(node.output[0]), int(np.prod(shape[1:]))


_TERMS = {
    "Conv": _window_terms,
    "AdderConv": _window_terms,
    "IntConv": _window_terms,
    "AdderGemm": _dense_terms,
    "IntGemm": _dense_terms,
    "Gemm": _gemm_terms,
    "MatMul": _matmul_terms,
    "XnorConv": _packed_terms,
    "XnorGemm": _packed_terms,
}


def _mac(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
    """Multiply-accumulate (1 mul + 1 add per term) or adder-accumulate (2 adds + 1 abs)."""
    outputs, k = _TERMS[node.op_type](node, g)
    terms = outputs * k
    operand = _wider(g.natural_width(node.input[0]), g.natural_width(node.input[1]))
    if op_type in ("AdderConv", "AdderGemm"):
        acc = _acc_width(node, operand)
        return _ops(("add", operand, terms), ("add", acc, terms), ("abs", operand, terms))
    if node.op_type in TWIN and parse_width(operand)[0] == "int":  # the multiplier twin
        bx, bw = (width_bits(g.natural_width(n)) for n in node.input[:2])
        acc = f"int{mul_acc_bits(bx, bw, k)}"
    else:
        acc = _acc_width(node, operand)
    return _ops(("mul", operand, terms), ("add", acc, terms))


def _requant(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
    """``(acc * M + B) >> s`` rounded: 1 mul + 2 adds per element, a shift if M is 2^k."""
    n = g.numel(node.output[0])
    acc_bits = width_bits(g.natural_width(node.input[0]))
    m = g.consts.get(node.input[1])
    if m is None:
        m_bits, shift_only = width_bits(g.natural_width(node.input[1])), False
    else:
        mag = np.abs(m.astype(np.int64))
        m_bits = signed_bits(int(np.max(mag, initial=0)))
        shift_only = bool(np.all((mag & (mag - 1)) == 0))  # 0 or a power of two
    product = f"int{acc_bits + m_bits}"
    if shift_only:
        return _ops(("shift", f"int{acc_bits}", n), ("add", product, 2 * n))
    return _ops(("mul", f"int{max(acc_bits, m_bits)}", n), ("add", product, 2 * n))


def _pool_window(node: onnx.NodeProto) -> int:
    return int(np.prod(node_attr(node, "kernel_shape", None)))


def _max_pool(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
    n = g.numel(node.output[0])
    return _ops(("cmp", g.natural_width(node.input[0]), n * (_pool_window(node) - 1)))


def _int_avg_pool(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
    """``IntAvgPool``: per output ``k·k − 1`` additions at the sum's width (input width +
    ``log2(k·k)``), then one shift by ``log2(k·k)`` and one rounding add; no multiplier."""
    n = g.numel(node.output[0])
    window = _pool_window(node)
    sum_width = f"int{width_bits(g.natural_width(node.input[0])) + window.bit_length() - 1}"
    return _ops(("add", sum_width, n * window), ("shift", sum_width, n))


def _avg_pool(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
    n, w = g.numel(node.output[0]), g.natural_width(node.input[0])
    return _ops(("add", w, n * (_pool_window(node) - 1)), ("mul", w, n))


def _global_avg_pool(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
    shape = g.shape(node.input[0])
    channels, window = shape[1], int(np.prod(shape[2:]))
    w = g.natural_width(node.input[0])
    return _ops(("add", w, channels * (window - 1)), ("mul", w, channels))


def _power_of_two_const(g: _Graph, names: Iterable[str]) -> bool:
    for name in names:
        value = g.consts.get(name)
        if value is not None and value.size:
            mag = np.abs(value.astype(np.float64))
            if np.all(mag > 0) and np.all(np.log2(mag) == np.round(np.log2(mag))):
                return True
    return False


def _mul(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
    """Scaling by a power-of-two constant is a shift (an exponent add in float): free."""
    kind = "shift" if _power_of_two_const(g, node.input) else "mul"
    return _ops((kind, g.natural_width(node.output[0]), g.numel(node.output[0])))


def _elementwise(*kinds: str):
    def rule(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
        n, w = g.numel(node.output[0]), g.natural_width(node.output[0])
        return _ops(*((kind, w, n) for kind in kinds))

    return rule


def _quant(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
    """Input quantizer: 1 float mul per element (the scale); round and clip not counted.
    A ``Quant`` of a constant (a weight quantizer) is folded at export: nothing per image."""
    if node.input[0] in g.consts:
        return {}
    return _ops(("mul", g.natural_width(node.input[0]), g.numel(node.input[0])))


def _free(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
    return {}


def _xnor_layer(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
    """An IR binary layer (DESIGN.md rule 6): per term 1 XNOR + 1 popcount input bit (int1);
    per output 1 add at the accumulator width for ``2·popcount − K`` (the doubling is a
    shift; ``K`` is the count of taps that vote, fewer at a padded border)."""
    outputs, k = _packed_terms(node, g)
    acc = f"int{node_attr(node, 'out_bits', None) or int(k).bit_length() + 1}"
    terms = outputs * k
    return _ops(("xnor", "int1", terms), ("popcount", "int1", terms), ("add", acc, outputs))


def _binary_threshold(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
    """An IR ``BinaryThreshold``: 1 comparison per element at the accumulator's width (the
    direction flips the comparison, it costs nothing)."""
    return _ops(("cmp", g.natural_width(node.input[0]), g.numel(node.output[0])))


_ADDERFLOW_RULES = {
    "AdderConv": _mac,
    "AdderGemm": _mac,
    "IntConv": _mac,
    "IntGemm": _mac,
    "XnorConv": _xnor_layer,
    "XnorGemm": _xnor_layer,
    "BinaryThreshold": _binary_threshold,
    "Requant": _requant,
    "IntMaxPool": _max_pool,
    "IntAvgPool": _int_avg_pool,
}
_STANDARD_RULES = {
    "Conv": _mac,
    "Gemm": _mac,
    "MatMul": _mac,
    "Add": _elementwise("add"),
    "Sub": _elementwise("add"),
    "Abs": _elementwise("abs"),
    "Relu": _elementwise("cmp"),
    "Mul": _mul,
    "BatchNormalization": _elementwise("mul", "add"),
    "MaxPool": _max_pool,
    "AveragePool": _avg_pool,
    "GlobalAveragePool": _global_avg_pool,
    **dict.fromkeys(FREE_OPS, _free),
}
_QONNX_RULES = {"Quant": _quant}


def _xnor(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
    """A binary layer (DESIGN.md rule 6): per term 1 XNOR + 1 popcount input bit, both 1 bit
    wide. ``2·popcount − K`` is not counted: it folds into the next threshold."""
    outputs, k = _TERMS[node.op_type](node, g)
    return _ops(("xnor", "int1", outputs * k), ("popcount", "int1", outputs * k))


def _threshold(node: onnx.NodeProto, g: _Graph, op_type: str) -> Ops:
    """A requantizer feeding a binary layer is BN + sign folded into one per-channel integer
    threshold: 1 comparison per element at the accumulator's width."""
    return _ops(("cmp", g.natural_width(node.input[0]), g.numel(node.output[0])))


# Rules whose operations are integer by construction: a precision override leaves them be.
_BIT_RULES = (_xnor, _threshold, _xnor_layer, _binary_threshold)


def _rule(node: onnx.NodeProto):
    if node.domain == ADDERFLOW_DOMAIN:
        return _ADDERFLOW_RULES.get(node.op_type)
    if node.domain in STANDARD_DOMAINS:
        return _STANDARD_RULES.get(node.op_type)
    if node.domain in QONNX_DOMAINS:
        return _QONNX_RULES.get(node.op_type)
    return None


# --------------------------------------------------------------------------- the BNN view

# A walk from a binary layer's input back to the requantizer that becomes its sign
# threshold passes these unchanged: max pooling signs is an OR of bits, the rest moves data.
_SIGN_TRANSPARENT = FREE_OPS | {"IntMaxPool", "MaxPool"}


@dataclass(frozen=True)
class _BnnPlan:
    """What the BNN view changes, keyed by node output names: the hidden layers that become
    XNOR/popcount, the first and last layers (multiplication layers, DESIGN.md rule 7), the
    requantizers that become sign thresholds, and the tensors stored as bits."""

    binary: frozenset[str]
    multiply: frozenset[str]
    thresholds: frozenset[str]
    widths: dict[str, str]


def _accumulating(node: onnx.NodeProto) -> bool:
    if node.domain == ADDERFLOW_DOMAIN:
        return node.op_type in (*TWIN, *TWIN.values(), *XNOR_OPS)
    return node.domain in STANDARD_DOMAINS and node.op_type in ("Conv", "Gemm", "MatMul")


def _sign_path(name: str, producers: dict, widths: dict[str, str]) -> str | None:
    """Store ``name`` and the tensors behind it as bits back to its requantizer; return that
    requantizer's output (it becomes the threshold), or None if the walk meets anything else
    (a float graph's ReLU or BN stays counted as it is)."""
    while True:
        widths[name] = "int1"
        node = producers.get(name)
        if node is None:
            return None
        if node.domain == ADDERFLOW_DOMAIN and node.op_type == "Requant":
            return name
        if node.op_type not in _SIGN_TRANSPARENT or not node.input:
            return None
        name = node.input[0]


def _bnn_plan(model: onnx.ModelProto, g: _Graph) -> _BnnPlan:
    layers = [node for node in model.graph.node if _accumulating(node)]
    producers = {out: node for node in model.graph.node for out in node.output}
    widths: dict[str, str] = {}
    binary, thresholds = set(), set()
    for node in layers[1:-1]:
        if node.domain == ADDERFLOW_DOMAIN and node.op_type in XNOR_OPS:
            continue  # already binary: counted by its own rule, its input already thresholded
        try:
            _, k = _TERMS[node.op_type](node, g)
        except _ShapeUnknown:
            continue  # counted by its own rule, which lists it as uncounted
        binary.add(node.output[0])
        widths[node.input[1]] = "int1"
        widths[node.output[0]] = f"int{int(k).bit_length()}"  # a popcount of K bits: 0..K
        thresholds.add(_sign_path(node.input[0], producers, widths))
    ends = frozenset(node.output[0] for node in layers[:1] + layers[-1:])
    return _BnnPlan(frozenset(binary), ends, frozenset(thresholds - {None}), widths)


def binarizable(model: onnx.ModelProto) -> bool:
    """Whether a BNN view applies: some layer lies between the first and the last."""
    return sum(map(_accumulating, model.graph.node)) > 2


# --------------------------------------------------------------------------- results


def _fmt_pj(pj: float) -> str:
    for unit, scale in (("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.2f} {unit}"
    return f"{pj:.2f} pJ"


def _accesses(bits: int) -> int:
    return math.ceil(bits / 64)


@dataclass
class LayerCost:
    """One node's counts per image, by kind and width, and what they cost."""

    node: str
    op_type: str
    ops: Ops = field(default_factory=dict)
    counted_as: str | None = None  # the twin op in the CNN view
    weight_bits: int = 0
    act_read_bits: int = 0
    act_write_bits: int = 0
    arith_pj: float = 0.0
    memory_pj: float = 0.0

    def count(self, kind: str) -> int:
        return sum(self.ops.get(kind, {}).values())

    @property
    def accesses_64b(self) -> int:
        """64-bit memory accesses: each tensor's bits rounded up to whole words."""
        return sum(map(_accesses, (self.weight_bits, self.act_read_bits, self.act_write_bits)))

    @property
    def energy_pj(self) -> float:
        return self.arith_pj + self.memory_pj

    def to_dict(self) -> dict:
        return {
            "node": self.node,
            "op_type": self.op_type,
            "counted_as": self.counted_as,
            **{kind: self.count(kind) for kind in KINDS},
            "ops": {kind: dict(by_width) for kind, by_width in self.ops.items()},
            "weight_bits": self.weight_bits,
            "act_read_bits": self.act_read_bits,
            "act_write_bits": self.act_write_bits,
            "accesses_64b": self.accesses_64b,
            "arith_pj": self.arith_pj,
            "memory_pj": self.memory_pj,
            "energy_pj": self.energy_pj,
        }


@dataclass
class CostResult:
    """Per-layer costs of one view of a network, with totals and what was left out."""

    view: str
    layers: list[LayerCost]
    uncounted: list[str]
    interpolated_widths: list[str]
    precision: str | None
    memory: str
    table: str

    def total(self, kind: str) -> int:
        return sum(layer.count(kind) for layer in self.layers)

    def ops_by_width(self) -> Ops:
        merged: Ops = {}
        for layer in self.layers:
            for kind, by_width in layer.ops.items():
                for width, n in by_width.items():
                    merged.setdefault(kind, {})
                    merged[kind][width] = merged[kind].get(width, 0) + n
        return merged

    @property
    def arith_pj(self) -> float:
        return sum(layer.arith_pj for layer in self.layers)

    @property
    def memory_pj(self) -> float:
        return sum(layer.memory_pj for layer in self.layers)

    @property
    def energy_pj(self) -> float:
        return self.arith_pj + self.memory_pj

    def select(self, op_types: Iterable[str]) -> CostResult:
        """The same result restricted to some op types, e.g. ``MAC_OPS`` (the papers' count)."""
        keep = set(op_types)
        return replace(self, layers=[layer for layer in self.layers if layer.op_type in keep])

    def totals(self) -> dict:
        return {
            **{kind: self.total(kind) for kind in KINDS},
            "ops": self.ops_by_width(),
            "weight_bits": sum(layer.weight_bits for layer in self.layers),
            "act_read_bits": sum(layer.act_read_bits for layer in self.layers),
            "act_write_bits": sum(layer.act_write_bits for layer in self.layers),
            "accesses_64b": sum(layer.accesses_64b for layer in self.layers),
            "arith_pj": self.arith_pj,
            "memory_pj": self.memory_pj,
            "energy_pj": self.energy_pj,
        }

    def to_dict(self) -> dict:
        """The shape ``metrics.json`` stores."""
        return {
            "view": self.view,
            "precision": self.precision,
            "memory": self.memory,
            "table": self.table,
            "layers": [layer.to_dict() for layer in self.layers],
            "total": self.totals(),
            "uncounted": list(self.uncounted),
            "interpolated_widths": list(self.interpolated_widths),
        }

    def format_table(self) -> str:
        head = ("node", "op", *TABLE_KINDS, "widths", "64b acc", "arith", "memory")
        rows = [_layer_row(layer) for layer in self.layers]
        rows.append(_total_row(self))
        text = _grid(head, rows)
        notes = [
            f"view: {self.view}; precision: {self.precision or 'as stored'}; "
            f"memory: {self.memory}; table: {self.table}"
        ]
        notes += [f"interpolated: {label}" for label in self.interpolated_widths]
        notes += [f"NOT COUNTED: {item}" for item in self.uncounted]
        return text + "\n" + "\n".join(notes)


def _widths(ops: Ops) -> str:
    return " ".join(f"{kind}:{'/'.join(sorted(ops[kind]))}" for kind in KINDS if kind in ops)


def _layer_row(layer: LayerCost) -> tuple[str, ...]:
    op = layer.op_type if not layer.counted_as else f"{layer.op_type}→{layer.counted_as}"
    return (
        layer.node,
        op,
        *(f"{layer.count(kind):,}" for kind in TABLE_KINDS),
        _widths(layer.ops),
        f"{layer.accesses_64b:,}",
        _fmt_pj(layer.arith_pj),
        _fmt_pj(layer.memory_pj),
    )


def _total_row(result: CostResult) -> tuple[str, ...]:
    t = result.totals()
    counts = [f"{t[kind]:,}" for kind in TABLE_KINDS]
    energies = [_fmt_pj(t["arith_pj"]), _fmt_pj(t["memory_pj"])]
    return ("TOTAL", "", *counts, "", f"{t['accesses_64b']:,}", *energies)


def _align(rows: list[tuple[str, ...]], numeric: set[int]) -> list[str]:
    """Rows as text lines, columns padded to their widest cell, numbers right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _grid(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Per-layer table: header, rule, layer rows, rule, the TOTAL row (the last of ``rows``)."""
    numeric = {*range(2, 2 + len(TABLE_KINDS)), *range(3 + len(TABLE_KINDS), len(head))}
    lines = _align([head, *rows], numeric)
    rule = "-" * max(map(len, lines))
    return "\n".join([lines[0], rule, *lines[1:-1], rule, lines[-1]])


# --------------------------------------------------------------------------- estimate


def _check_options(view: str, table: EnergyTable, precision: str | None, memory: str) -> None:
    if view not in VIEWS:
        raise ConfigError(f"unknown view {view!r} (known: {', '.join(VIEWS)})")
    if precision is not None:
        for kind in ("add", "mul"):
            table.op_energy(kind, precision)  # raises naming the precision when unusable
    table.memory_pj(memory, 0)


def _memory_bits(node: onnx.NodeProto, g: _Graph) -> tuple[int, int, int]:
    ins = [n for n in node.input if n]
    weights = sum(g.numel(n) * width_bits(g.width(n)) for n in ins if n in g.consts)
    reads = sum(g.numel(n) * width_bits(g.width(n)) for n in ins if n not in g.consts)
    writes = sum(g.numel(n) * width_bits(g.width(n)) for n in node.output if n)
    return weights, reads, writes


def _view_rule(node: onnx.NodeProto, view: str, plan: _BnnPlan | None):
    """(rule, the op it is counted as when that differs) of one node in one view."""
    key = node.output[0] if node.output else ""
    if plan is not None and key in plan.binary:
        return _xnor, XNOR_TWIN[node.op_type]
    if plan is not None and key in plan.thresholds:
        return _threshold, "Threshold"
    to_multiply = view == "cnn" or (plan is not None and key in plan.multiply)
    twin = TWIN.get(node.op_type) if to_multiply and node.domain == ADDERFLOW_DOMAIN else None
    return _rule(node), twin


def _count_node(
    node: onnx.NodeProto, g: _Graph, view: str, plan: _BnnPlan | None = None
) -> LayerCost | None:
    """Counts of one node; None for an unknown op (the caller lists it as uncounted)."""
    rule, twin = _view_rule(node, view, plan)
    if rule is None:
        return None
    ops = rule(node, g, twin or node.op_type)
    if g.precision and rule not in _BIT_RULES:
        ops = _ops(*((kind, g.precision, n) for kind, by_w in ops.items() for n in by_w.values()))
    layer = LayerCost(node.name or node.output[0], node.op_type, ops, counted_as=twin)
    if rule is not _free:
        layer.weight_bits, layer.act_read_bits, layer.act_write_bits = _memory_bits(node, g)
    if rule is _threshold:  # one threshold per channel replaces multiplier and bias
        layer.weight_bits = g.numel(node.input[2]) * width_bits(g.width(node.input[0]))
    return layer


def _price(layer: LayerCost, table: EnergyTable, memory: str, notes: set[str]) -> None:
    layer.arith_pj = 0.0
    for kind, by_width in layer.ops.items():
        for width, n in by_width.items():
            lookup = table.op_energy(kind, width)
            layer.arith_pj += n * lookup.pj
            if lookup.interpolated:
                notes.add(lookup.label)
    layer.memory_pj = table.memory_pj(memory, layer.accesses_64b)


def estimate(
    model: onnx.ModelProto,
    view: str = "ann",
    table: EnergyTable | None = None,
    precision: str | None = None,
    memory: str = DEFAULT_MEMORY,
) -> CostResult:
    """Counts and energy of ``model`` per image.

    ``view="cnn"`` counts adder layers as their multiplier twins; ``view="bnn"`` counts
    every layer between the first and the last as XNOR + popcount (first and last stay
    multiplication layers) and the requantizers feeding them as sign thresholds.
    ``precision`` (e.g. ``"fp32"``) treats all arithmetic and storage as that width (binary
    layers and thresholds excepted), which is how the papers' float comparisons are
    reproduced. ``memory`` is the level every access is priced at.
    """
    table = table or default_energy_table()
    _check_options(view, table, precision, memory)
    g = _read_graph(model, precision)
    plan = _bnn_plan(model, g) if view == "bnn" else None
    if plan is not None:
        g.overrides = plan.widths
    layers, uncounted, notes = [], [], set()
    for node in model.graph.node:
        if node.op_type == "Constant" and node.domain in STANDARD_DOMAINS:
            continue  # data, not computation
        name = node.name or node.output[0]
        try:
            layer = _count_node(node, g, view, plan)
        except _ShapeUnknown as exc:
            uncounted.append(f"{node.op_type} (node {name}: shape of '{exc}' unknown)")
            continue
        if layer is None:
            uncounted.append(f"{node.op_type} (node {name})")
            continue
        _price(layer, table, memory, notes)
        layers.append(layer)
    return CostResult(view, layers, uncounted, sorted(notes), precision, memory, table.origin)


def as_ann(model: onnx.ModelProto, **options) -> CostResult:
    """The network as it is: adder layers cost additions."""
    return estimate(model, "ann", **options)


def as_cnn(model: onnx.ModelProto, **options) -> CostResult:
    """The multiplier twin: every AdderConv/AdderGemm counted as IntConv/IntGemm."""
    return estimate(model, "cnn", **options)


def as_bnn(model: onnx.ModelProto, **options) -> CostResult:
    """The binary twin: hidden layers XNOR + popcount, first and last layers multiply."""
    return estimate(model, "bnn", **options)


ENERGIES = ("arith_pj", "memory_pj", "energy_pj")


@dataclass
class Twins:
    """An adder network next to its multiplier twin (and its binary twin where one applies),
    as every cost report shows it."""

    ann: CostResult
    cnn: CostResult
    bnn: CostResult | None = None

    def ratio(self, what: str = "energy_pj", twin: str = "cnn") -> float | None:
        """How many times a twin (``cnn`` or ``bnn``) costs the ANN (``arith_pj``, ...)."""
        other = getattr(self, twin)
        if other is None:
            return None
        a, c = getattr(self.ann, what), getattr(other, what)
        return c / a if a else None

    def to_dict(self) -> dict:
        out = {
            "ann": self.ann.to_dict(),
            "cnn": self.cnn.to_dict(),
            "cnn_over_ann": {w: self.ratio(w) for w in ENERGIES},
        }
        if self.bnn is not None:
            out["bnn"] = self.bnn.to_dict()
            out["bnn_over_ann"] = {w: self.ratio(w, "bnn") for w in ENERGIES}
        return out

    def _views(self) -> list[tuple[str, CostResult]]:
        views = [("ANN (as is)", self.ann), ("CNN twin", self.cnn)]
        return views + ([("BNN twin", self.bnn)] if self.bnn is not None else [])

    def format_table(self) -> str:
        """Totals side by side, then each twin's cost over the ANN's."""
        views = self._views()
        totals = [view.totals() for _, view in views]
        others = [name for name in ("cnn", "bnn") if getattr(self, name) is not None]
        blank = [""] * len(others)
        rows = [(kind, *(f"{t[kind]:,}" for t in totals), *blank) for kind in KINDS]
        rows.append(("64-bit accesses", *(f"{t['accesses_64b']:,}" for t in totals), *blank))
        labels = ("arithmetic", f"memory ({self.ann.memory})", "energy")
        for key, label in zip(ENERGIES, labels, strict=True):
            ratios = (self.ratio(key, name) for name in others)
            energies = (_fmt_pj(t[key]) for t in totals)
            rows.append((label, *energies, *(f"{r:.2f}×" if r else "n/a" for r in ratios)))
        head = ("per image", *(name for name, _ in views), *(f"{n.upper()}/ANN" for n in others))
        return "\n".join(_align([head, *rows], numeric=set(range(1, len(head)))))


def twins(model: onnx.ModelProto, **options) -> Twins:
    """ANN and CNN twin always; the BNN twin when the network has a layer between its first
    and last (those stay multiplication layers, so a BNN of fewer layers is no BNN)."""
    bnn = as_bnn(model, **options) if binarizable(model) else None
    return Twins(as_ann(model, **options), as_cnn(model, **options), bnn)


# --------------------------------------------------------------------------- CLI


def load_model_file(path: str | Path) -> onnx.ModelProto:
    """Any ONNX file (not only adderflow's), with one clear error for a broken one."""
    return read_onnx(path)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="adderflow energy",
        description="Operation counts and energy per image of an ONNX/QONNX model, next to "
        "its multiplier twin (docs/cost-model.md).",
    )
    p.add_argument("model", type=Path, help="ONNX or QONNX model file")
    p.add_argument("--table", type=Path, help="YAML energy table (default: 45 nm, Horowitz)")
    p.add_argument("--precision", help="treat all arithmetic as this width, e.g. fp32 or int8")
    p.add_argument("--memory", default=DEFAULT_MEMORY, help="memory level priced per access")
    p.add_argument(
        "--view",
        choices=VIEWS,
        default="ann",
        help="whose per-layer table to print: the network as is (ann), its multiplier twin "
        "(cnn) or its binary twin (bnn); the totals always show every view",
    )
    return p


def main(argv: list[str] | None = None, load=load_model_file) -> int:
    """``adderflow energy MODEL.onnx``: per-layer table, then the views' totals side by side.

    ``load`` reads the file; ``adderflow energy`` passes the importer's ``costing_model``,
    so energy and ``adderflow import`` price one model through one path."""
    args = _parser().parse_args(argv)
    try:
        model = load(args.model)
        table = load_energy_table(args.table)
        result = twins(model, table=table, precision=args.precision, memory=args.memory)
    except AdderflowError as exc:
        print(f"adderflow energy: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    per_layer = getattr(result, args.view)
    if per_layer is None:  # no layer between the first and the last
        per_layer = as_bnn(model, table=table, precision=args.precision, memory=args.memory)
    print(per_layer.format_table())
    print()
    print(result.format_table())
    return 0

