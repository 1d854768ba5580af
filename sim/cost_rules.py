"""Counting primitives of the cost model (docs/cost-model.md), shared by its rules.

A rule is ``rule(node, g, counted_as) -> Ops``: the operations of one node of the model view
(``sim.view.Node``) per image, by kind and width, read from ``g`` (``CountGraph``: shapes,
widths and constants of the tensors as a view of the cost model sees them). ``counted_as``
is the op a view counts the node as (an adder layer's multiplier twin), None for the node
as it is. Each adderflow op's rule is its ``cost`` (``sim.ops``); the standard ops' rules
are in ``sim.cost``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from onnx import TensorProto

from adderflow.fixed import mul_acc_bits, signed_bits, xnor_acc_bits
from adderflow.sim.energy import parse_width, width_bits

if TYPE_CHECKING:
    from adderflow.sim.view import ModelView, Node

Ops = dict[str, dict[str, int]]  # kind -> width -> count per image

ELEM_WIDTH = {
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


def count(*entries: tuple[str, str, int]) -> Ops:
    """``(kind, width, n)`` entries merged into ``Ops`` (zero counts left out)."""
    out: Ops = {}
    for kind, width, n in entries:
        if n:
            out.setdefault(kind, {})
            out[kind][width] = out[kind].get(width, 0) + int(n)
    return out


# --------------------------------------------------------------------------- widths


def wider(a: str, b: str) -> str:
    """The width an op on operands ``a`` and ``b`` runs at: a float wins, then more bits."""
    fa, ba = parse_width(a)
    fb, bb = parse_width(b)
    return max((a, (fa != "int", ba)), (b, (fb != "int", bb)), key=lambda t: t[1])[0]


def datatype_width(datatype: str) -> str | None:
    """Width of a qonnx DataType name (``INT8``, ``UINT4``, ``BIPOLAR``, ``FIXED<8,3>``)."""
    import re

    if datatype in ("BIPOLAR", "BINARY"):
        return "int1"
    if datatype == "TERNARY":
        return "int2"
    if datatype in ("FLOAT32", "FLOAT16"):
        return "fp" + datatype[-2:]
    m = re.match(r"^(?:U?INT|FIXED<|SCALEDINT<)(\d+)", datatype)
    return f"int{m[1]}" if m else None


# --------------------------------------------------------------------------- graph facts


class ShapeUnknown(Exception):
    """A tensor a rule needs has no static shape; the node is listed as uncounted."""


@dataclass
class CountGraph:
    """Shapes, widths and constant values of one model's tensors, as the rules read them."""

    shapes: dict[str, tuple[int | None, ...] | None]
    elem: dict[str, int]
    datatypes: dict[str, str]
    consts: dict[str, np.ndarray]
    precision: str | None = None
    # Widths a view imposes (the BNN view's 1-bit tensors); they beat ``precision`` too.
    overrides: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, view: ModelView, precision: str | None) -> CountGraph:
        tensors = view.tensors.values()
        return cls(
            shapes={t.name: t.shape for t in tensors if not t.is_const},
            elem={t.name: t.elem_type for t in tensors if t.elem_type},
            datatypes={t.name: t.datatype for t in tensors if t.datatype is not None},
            consts={t.name: t.value for t in tensors if t.value is not None},
            precision=precision,
        )

    def shape(self, name: str) -> tuple[int | None, ...]:
        """Static shape; an activation's batch dimension (dim 0) may be symbolic (None)."""
        if name in self.consts:
            return tuple(self.consts[name].shape)
        shape = self.shapes.get(name)
        if shape is None or any(d is None for d in shape[1:]):
            raise ShapeUnknown(name)
        return shape

    def numel(self, name: str) -> int:
        """Elements per image: the batch dimension (dim 0) of an activation is divided out."""
        shape = self.shape(name)
        return int(np.prod(shape if name in self.consts else shape[1:]))

    def natural_width(self, name: str) -> str:
        """The annotation's width; an integer constant without one is priced at the signed
        width of its largest magnitude (the cost model's storage convention)."""
        if name in self.overrides:
            return self.overrides[name]
        if name in self.datatypes and datatype_width(self.datatypes[name]):
            return datatype_width(self.datatypes[name])
        value = self.consts.get(name)
        if value is not None and value.dtype.kind in "iub":
            return f"int{signed_bits(int(np.max(np.abs(value), initial=0)))}"
        return ELEM_WIDTH.get(self.elem.get(name, TensorProto.FLOAT), "fp32")

    def width(self, name: str) -> str:
        """Storage width of a tensor, unless every value is treated as ``precision``."""
        return self.overrides.get(name) or self.precision or self.natural_width(name)


# --------------------------------------------------------------------------- layers


def acc_width(node: Node, operand: str) -> str:
    """An integer layer accumulates at its ``out_bits``; a float one at its operand width."""
    out_bits = node.attr("out_bits", None)
    return f"int{out_bits}" if parse_width(operand)[0] == "int" and out_bits else operand


def window_terms(node: Node, g: CountGraph) -> tuple[int, int]:
    """(outputs per image, terms per output) of a conv-shaped node: ``K = C/g * kh * kw``."""
    return g.numel(node.out.name), int(np.prod(g.shape(node.inputs[1].name)[1:]))


def dense_terms(node: Node, g: CountGraph) -> tuple[int, int]:
    """A dense layer with weight ``[O, K]``."""
    return g.numel(node.out.name), g.shape(node.inputs[1].name)[1]


def packed_terms(node: Node, g: CountGraph) -> tuple[int, int]:
    """A binary layer: the weight is packed bits; its logical shape is ``weight_shape``."""
    shape = node.attr("weight_shape", None)
    if not shape:
        raise ShapeUnknown(node.inputs[1].name)
    return g.numel(node.out.name), int(np.prod(shape[1:]))


def accumulate(
    node: Node, g: CountGraph, terms: tuple[int, int], adder: bool, twin: bool = False
) -> Ops:
    """Multiply-accumulate (1 mul + 1 add per term) or, for an ``adder`` layer,
    adder-accumulate (2 adds + 1 abs). The multiplier ``twin`` of an integer adder layer
    accumulates at ``fixed.mul_acc_bits`` of its operands."""
    outputs, k = terms
    n = outputs * k
    x, w = node.inputs[0].name, node.inputs[1].name
    operand = wider(g.natural_width(x), g.natural_width(w))
    if adder:
        acc = acc_width(node, operand)
        return count(("add", operand, n), ("add", acc, n), ("abs", operand, n))
    if twin and parse_width(operand)[0] == "int":
        bx, bw = (width_bits(g.natural_width(name)) for name in (x, w))
        acc = f"int{mul_acc_bits(bx, bw, k)}"
    else:
        acc = acc_width(node, operand)
    return count(("mul", operand, n), ("add", acc, n))


def xnor_accumulate(node: Node, g: CountGraph) -> Ops:
    """A binary layer of the IR (DESIGN.md rule 6): per term 1 XNOR + 1 popcount input bit
    (int1); per output 1 add at the accumulator width for ``2·popcount − K`` (the doubling
    is a shift; ``K`` is the count of taps that vote, fewer at a padded border)."""
    outputs, k = packed_terms(node, g)
    acc = f"int{node.attr('out_bits', None) or int(k).bit_length() + 1}"
    n = outputs * k
    return count(("xnor", "int1", n), ("popcount", "int1", n), ("add", acc, outputs))


def xnor_terms(outputs: int, k: int) -> Ops:
    """A foreign layer whose operands are both ±1: counted as the IR's binary layer is (1
    XNOR + 1 popcount bit per term, 1 add per output at ``xnor_acc_bits(K)``)."""
    acc = f"int{xnor_acc_bits(k)}"
    n = outputs * k
    return count(("xnor", "int1", n), ("popcount", "int1", n), ("add", acc, outputs))


def xnor_twin(outputs: int, k: int) -> Ops:
    """A layer counted as binary: per term 1 XNOR + 1 popcount input bit, both 1 bit wide.
    ``2·popcount − K`` is not counted: it folds into the next threshold."""
    return count(("xnor", "int1", outputs * k), ("popcount", "int1", outputs * k))


def sign_threshold(node: Node, g: CountGraph) -> Ops:
    """BN + sign folded into one per-channel integer threshold: 1 comparison per element at
    the accumulator's width (a direction flips the comparison, it costs nothing)."""
    return count(("cmp", g.natural_width(node.x.name), g.numel(node.out.name)))


# --------------------------------------------------------------------------- pools


def pool_window(node: Node) -> int:
    return int(np.prod(node.attr("kernel_shape")))  # a missing one is refused naming the node


def max_pool(node: Node, g: CountGraph, counted_as: str | None = None) -> Ops:
    n = g.numel(node.out.name)
    return count(("cmp", g.natural_width(node.x.name), n * (pool_window(node) - 1)))
