"""Load-time check primitives the op modules compose into their ``check`` (DESIGN.md rule 9).

Each takes a node of the model view (``sim.view.Node``): an operand's width is the view's
contract width (``Tensor.bits``, set by its producer), a weight's its ``INTn`` annotation,
whose range its values must respect. Every error names the node and the bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.fixed import (
    MAX_BITS,
    MAX_PRODUCT_BITS,
    MIN_BITS,
    acc_bits_needed,
    check_bits,
    unpack_bits,
    xnor_acc_bits,
)
from adderflow.sim.onnx_io import node_attr

if TYPE_CHECKING:
    from adderflow.sim.view import Node


def const(node: Node, index: int, what: str) -> np.ndarray:
    """Input ``index`` as an initializer; anything else is an error naming the node."""
    name = node.proto.input[index] if len(node.proto.input) > index else ""
    return node.const(index, f"{what} '{name}'")


def code_bits(node: Node, t, role: str = "operand") -> int:
    """The contract width of tensor ``t`` that ``node`` reads, checked (2..16 bits), the
    error naming the tensor and the node that set its width."""
    if t.bits is None:
        raise QuantizationError(f"{node.where()}: {role} '{t.name}' has no code width")
    source = f" (set by node '{t.producer}')" if t.producer else ""
    return check_bits(t.bits, f"{node.where()}: {role} '{t.name}'{source} width")


def out_bits(node: Node) -> int:
    """``out_bits`` is an integer in ``MIN_BITS..MAX_PRODUCT_BITS`` (an accumulator or a
    requantized output; the last layer keeps its full accumulator)."""
    bits = node_attr(node.proto, "out_bits")
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise QuantizationError(f"{node.where()}: out_bits must be an integer, got {bits!r}")
    if not MIN_BITS <= bits <= MAX_PRODUCT_BITS:
        raise QuantizationError(
            f"{node.where()}: out_bits {bits} is outside {MIN_BITS}..{MAX_PRODUCT_BITS}"
        )
    return bits


def window(node: Node) -> None:
    """Kernels and strides of at least 1, pads of at least 0 (rule 9: any ``p``, also
    ``p >= k``: an output that sees only padding is ``-Σ|w|``)."""
    kernel = list(node_attr(node.proto, "kernel_shape"))
    strides = list(node_attr(node.proto, "strides", [1, 1]))
    pads = list(node_attr(node.proto, "pads", [0, 0, 0, 0]))
    if len(kernel) != 2 or min(kernel) < 1:
        raise QuantizationError(f"{node.where()}: kernel_shape {kernel} is not 2 sizes >= 1")
    if len(strides) != 2 or min(strides) < 1:
        raise QuantizationError(f"{node.where()}: strides {strides} are not 2 values >= 1")
    if len(pads) != 4 or min(pads) < 0:
        raise QuantizationError(f"{node.where()}: pads {pads} are not 4 values >= 0")


def groups(node: Node, weight_shape: tuple[int, ...]) -> None:
    """ONNX Conv's ``group``: an integer >= 1 dividing the output channels, and the weight
    ``[O, C/group, kh, kw]`` covering the input's ``C`` channels. The accumulator bound
    follows from the weight, whose rows hold each output's ``C/group·kh·kw`` terms."""
    group = node_attr(node.proto, "group", 1)
    if isinstance(group, bool) or not isinstance(group, int) or group < 1:
        raise QuantizationError(f"{node.where()}: group must be an integer >= 1, got {group!r}")
    out_ch, per_group = int(weight_shape[0]), int(weight_shape[1])
    if out_ch % group:
        raise QuantizationError(
            f"{node.where()}: group {group} does not divide its {out_ch} output channels"
        )
    shape = node.x.shape
    channels = shape[1] if shape is not None and len(shape) == 4 else None
    if channels is not None and per_group * group != channels:
        raise QuantizationError(
            f"{node.where()}: weight {list(weight_shape)} with group {group} reads "
            f"{per_group * group} input channels, its input '{node.x.name}' has {channels}"
        )


def operands(node: Node, kind: str, windowed: bool) -> None:
    """An integer layer's activation and weight are 2..16-bit codes, the weight's values
    within its ``INTn`` annotation, and ``out_bits`` holds the largest ``|acc|`` of the
    input width and these weights (``kind``: ``adder`` or ``mul``; rules 2 and 9); a
    ``windowed`` one has a valid window."""
    bits = out_bits(node)
    if len(node.inputs) < 2:
        return  # a wrong input count is verify_node's error, raised when the op runs
    x, weight = node.inputs[:2]
    if windowed:
        window(node)
        if weight.shape is not None and len(weight.shape) == 4:
            groups(node, weight.shape)
    x_bits = None
    if x.bits is not None:
        what = f"{node.where()}: input '{x.name}' (set by node '{x.producer}') width"
        x_bits = check_bits(x.bits, what)
    w = weight.value
    datatype = weight.datatype or ""
    if datatype.startswith("INT") and datatype[3:].isdigit():
        w_bits = check_bits(int(datatype[3:]), f"{node.where()}: weight '{weight.name}' width")
        lo, hi = -(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1
        if w is not None and w.size and (w.min() < lo or w.max() > hi):
            raise QuantizationError(
                f"{node.where()}: weight '{weight.name}' has values outside {datatype}"
            )
    if x_bits is None or w is None or not w.size:
        return
    if w.dtype.kind not in "iu":
        raise ModelFormatError(f"{node.where()}: weight '{weight.name}' is not integer codes")
    needed = acc_bits_needed(kind, x_bits, w)
    if bits < needed:
        raise QuantizationError(
            f"{node.where()}: out_bits {bits} cannot hold its accumulators: "
            f"{x_bits}-bit inputs and these weights reach {needed} bits (DESIGN.md rules "
            "2 and 9: accumulators never wrap)"
        )


def binary_operands(node: Node, rank: int) -> None:
    """A binary layer reads ±1 codes, has packed-bit weights matching ``weight_shape`` (of
    ``rank`` sizes), and an accumulator wide enough for ``|2·popcount − K| <= K`` (DESIGN.md
    rule 6)."""
    bits = out_bits(node)
    if len(node.inputs) < 2:
        return  # verify_node's error, raised when the op runs
    x, weight = node.inputs[:2]
    if not x.bipolar:
        source = f" (set by node '{x.producer}')" if x.bits is not None else ""
        raise QuantizationError(
            f"{node.where()}: input '{x.name}'{source} is not ±1 codes; a binary layer reads "
            f"the output of a {_bipolar_producers()} (through pooling or flattening only)"
        )
    shape = tuple(int(d) for d in node_attr(node.proto, "weight_shape"))
    if len(shape) != rank or min(shape, default=0) < 1:
        raise ModelFormatError(f"{node.where()}: weight_shape {list(shape)} is not of rank {rank}")
    if rank == 4:
        window(node)
        groups(node, shape)
    packed = node.const(1, f"packed weight '{weight.name}'")
    try:
        unpack_bits(packed, shape)
    except QuantizationError as exc:
        raise ModelFormatError(f"{node.where()}: weight '{weight.name}': {exc}") from exc
    terms = int(np.prod(shape[1:]))
    if bits < xnor_acc_bits(terms):
        raise QuantizationError(
            f"{node.where()}: out_bits {bits} cannot hold accumulators up to ±{terms} "
            f"(needs {xnor_acc_bits(terms)})"
        )


def _bipolar_producers() -> str:
    from adderflow.sim.ops import OPS  # at call time: the op modules import this one

    return " or ".join(name for name, cls in OPS.items() if cls.bipolar_output)


def not_narrower(node: Node, why: str = "") -> None:
    """``out_bits`` is at least the input's width: a narrower one would hide a wider input
    (e.g. a 40-bit requantized output) from the next layer's operand check."""
    x = node.x
    bits = node_attr(node.proto, "out_bits")
    if x.bits is not None and bits < x.bits:
        raise QuantizationError(
            f"{node.where()}: out_bits {bits} is narrower than its input '{x.name}' "
            f"({x.bits} bits, set by node '{x.producer}'){why}"
        )


def code_width(producer: Node, consumer: Node) -> None:
    """A requantized tensor another node reads as codes is 2..16 bits (only the graph's
    output, the logits, may keep a wider requantized width). A layer reading it names the
    width as its own operand's; pools and flattens pass it on, so it is named here."""
    bits = node_attr(producer.proto, "out_bits")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise QuantizationError(
            f"{producer.where()}: out_bits {bits} is outside {MIN_BITS}..{MAX_BITS}, but "
            f"node '{consumer.label}' reads its output as codes (only the graph's output may "
            "keep a wider requantized width)"
        )
