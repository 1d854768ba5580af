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

Two views: ``as_ann`` counts the graph as it is; ``as_cnn`` counts every ``AdderConv`` /
``AdderGemm`` as its multiplier twin ``IntConv`` / ``IntGemm`` (accumulator width from
``fixed.mul_acc_bits``). Binary layers are not in the IR yet, so there is no BNN view.

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

KINDS = ("add", "mul", "cmp", "abs", "shift")
VIEWS = ("ann", "cnn")
DEFAULT_MEMORY = "sram_32kb"
# Ops whose arithmetic is the multiply- or adder-accumulate the papers count.
MAC_OPS = frozenset({"Conv", "Gemm", "MatMul", "AdderConv", "AdderGemm", "IntConv", "IntGemm"})
TWIN = {"AdderConv": "IntConv", "AdderGemm": "IntGemm"}
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
        if name in self.datatypes and _datatype_width(self.datatypes[name]):
            return _datatype_width(self.datatypes[name])
        value = self.consts.get(name)
        if value is not None and value.dtype.kind in "iub":
            return f"int{signed_bits(int(np.max(np.abs(value), initial=0)))}"
        return _ELEM_WIDTH.get(self.elem.get(name, TensorProto.FLOAT), "fp32")

    def width(self, name: str) -> str:
        """Storage width of a tensor, unless every value is treated as ``precision``."""
        return self.precision or self.natural_width(name)


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


_TERMS = {
    "Conv": _window_terms,
    "AdderConv": _window_terms,
    "IntConv": _window_terms,
    "AdderGemm": _dense_terms,
    "IntGemm": _dense_terms,
    "Gemm": _gemm_terms,
    "MatMul": _matmul_terms,
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


_ADDERFLOW_RULES = {
    "AdderConv": _mac,
    "AdderGemm": _mac,
    "IntConv": _mac,
    "IntGemm": _mac,
    "Requant": _requant,
    "IntMaxPool": _max_pool,
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


def _rule(node: onnx.NodeProto):
    if node.domain == ADDERFLOW_DOMAIN:
        return _ADDERFLOW_RULES.get(node.op_type)
    if node.domain in STANDARD_DOMAINS:
        return _STANDARD_RULES.get(node.op_type)
    if node.domain in QONNX_DOMAINS:
        return _QONNX_RULES.get(node.op_type)
    return None


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
        head = ("node", "op", "add", "mul", "cmp", "widths", "64b acc", "arith", "memory")
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
        f"{layer.count('add'):,}",
        f"{layer.count('mul'):,}",
        f"{layer.count('cmp'):,}",
        _widths(layer.ops),
        f"{layer.accesses_64b:,}",
        _fmt_pj(layer.arith_pj),
        _fmt_pj(layer.memory_pj),
    )


def _total_row(result: CostResult) -> tuple[str, ...]:
    t = result.totals()
    counts = [f"{t[kind]:,}" for kind in ("add", "mul", "cmp")]
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
    lines = _align([head, *rows], numeric={2, 3, 4, 6, 7, 8})
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


def _count_node(node: onnx.NodeProto, g: _Graph, view: str) -> LayerCost | None:
    """Counts of one node; None for an unknown op (the caller lists it as uncounted)."""
    rule = _rule(node)
    if rule is None:
        return None
    twin = TWIN.get(node.op_type) if view == "cnn" and node.domain == ADDERFLOW_DOMAIN else None
    ops = rule(node, g, twin or node.op_type)
    if g.precision:
        ops = _ops(*((kind, g.precision, n) for kind, by_w in ops.items() for n in by_w.values()))
    layer = LayerCost(node.name or node.output[0], node.op_type, ops, counted_as=twin)
    if rule is not _free:
        layer.weight_bits, layer.act_read_bits, layer.act_write_bits = _memory_bits(node, g)
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

    ``view="cnn"`` counts adder layers as their multiplier twins. ``precision`` (e.g.
    ``"fp32"``) treats all arithmetic and storage as that width, which is how the papers'
    float comparisons are reproduced. ``memory`` is the level every access is priced at.
    """
    table = table or default_energy_table()
    _check_options(view, table, precision, memory)
    g = _read_graph(model, precision)
    layers, uncounted, notes = [], [], set()
    for node in model.graph.node:
        if node.op_type == "Constant" and node.domain in STANDARD_DOMAINS:
            continue  # data, not computation
        name = node.name or node.output[0]
        try:
            layer = _count_node(node, g, view)
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


@dataclass
class Twins:
    """An adder network next to its multiplier twin, as every cost report shows it."""

    ann: CostResult
    cnn: CostResult

    def ratio(self, what: str = "energy_pj") -> float | None:
        """How many times the CNN twin costs the ANN (``arith_pj``, ``memory_pj``, ...)."""
        a, c = getattr(self.ann, what), getattr(self.cnn, what)
        return c / a if a else None

    def to_dict(self) -> dict:
        return {
            "ann": self.ann.to_dict(),
            "cnn": self.cnn.to_dict(),
            "cnn_over_ann": {w: self.ratio(w) for w in ("arith_pj", "memory_pj", "energy_pj")},
        }

    def format_table(self) -> str:
        a, c = self.ann.totals(), self.cnn.totals()
        rows = [(kind, f"{a[kind]:,}", f"{c[kind]:,}", "") for kind in KINDS]
        rows.append(("64-bit accesses", f"{a['accesses_64b']:,}", f"{c['accesses_64b']:,}", ""))
        energies = (("arith_pj", "arithmetic"), ("memory_pj", f"memory ({self.ann.memory})"))
        for key, label in (*energies, ("energy_pj", "energy")):
            r = self.ratio(key)
            rows.append((label, _fmt_pj(a[key]), _fmt_pj(c[key]), f"{r:.2f}×" if r else "n/a"))
        head = ("per image", "ANN (as is)", "CNN twin", "CNN/ANN")
        return "\n".join(_align([head, *rows], numeric={1, 2, 3}))


def twins(model: onnx.ModelProto, **options) -> Twins:
    return Twins(as_ann(model, **options), as_cnn(model, **options))


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
    return p


def main(argv: list[str] | None = None) -> int:
    """``adderflow energy MODEL.onnx``: per-layer table, then ANN vs CNN twin totals."""
    args = _parser().parse_args(argv)
    try:
        model = load_model_file(args.model)
        table = load_energy_table(args.table)
        result = twins(model, table=table, precision=args.precision, memory=args.memory)
    except AdderflowError as exc:
        print(f"adderflow energy: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(result.ann.format_table())
    print()
    print(result.format_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
