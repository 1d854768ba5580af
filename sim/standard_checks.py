"""Load-time checks of the standard ONNX ops that move codes between layers.

``executor.check_contract`` runs the adderflow ops' own checks (``sim.ops``); the standard
ops of the IR that rearrange code tensors without computing are checked here, by op name
(``CHECKS``), over the same model view. Each error names the node and what is wrong.

- ``Concat`` joins code tensors along the channel axis (axis 1 only): its operands are
  2..16-bit codes of one type (one width, all ±1 codes or none), so the result has that
  type and the next layer's width bound holds for every channel.
- ``Reshape`` reshapes each sample (the batch axis kept) by a constant int64 shape
  ``[0 or -1, d1, d2, ...]`` of explicit sizes ``>= 1`` holding the sample's element count,
  e.g. a 1-D network's ``[N, C, L]`` codes entering as 2-D ``[N, C, 1, L]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.sim.ops import checks
from adderflow.sim.view import Node, Tensor


def _type(t: Tensor) -> str:
    return "±1 codes" if t.bipolar else f"{t.bits}-bit codes"


def _named(t: Tensor) -> str:
    source = f", set by node '{t.producer}'" if t.producer else ""
    return f"'{t.name}' ({_type(t)}{source})"


def check_concat(node: Node) -> None:
    """Axis 1; every operand 2..16-bit codes of operand 0's type and of its shape but for
    the channels."""
    axis = node.attr("axis")
    if axis != 1:
        raise QuantizationError(
            f"{node.where()}: axis {axis}: only channel concatenation (axis 1) is in the IR"
        )
    for t in node.inputs:
        checks.code_bits(node, t)
    first = node.inputs[0]
    for t in node.inputs[1:]:
        if (t.bits, t.bipolar) != (first.bits, first.bipolar):
            raise QuantizationError(
                f"{node.where()}: operands {_named(first)} and {_named(t)} differ in type; a "
                "concatenation's operands share one (requantize them to one type)"
            )
        if (
            first.shape is not None
            and t.shape is not None
            and not _same_but_channels(first.shape, t.shape)
        ):
            raise QuantizationError(
                f"{node.where()}: operands '{first.name}' {list(first.shape)} and '{t.name}' "
                f"{list(t.shape)} differ in shape beyond the channels"
            )


def _same_but_channels(a: tuple, b: tuple) -> bool:
    if len(a) != len(b) or len(a) < 2:
        return False
    pairs = enumerate(zip(a, b, strict=True))
    return all(x is None or y is None or x == y for i, (x, y) in pairs if i != 1)


def check_reshape(node: Node) -> None:
    """A constant int64 shape ``[0 or -1, d1, ...]`` (the batch kept, each ``d >= 1``)
    holding the sample's element count; ``allowzero`` 0."""
    if len(node.inputs) != 2:
        raise ModelFormatError(f"{node.where()}: needs inputs (data, shape)")
    shape = node.const(1, f"shape '{node.inputs[1].name}'")
    if shape.dtype != np.int64 or shape.ndim != 1 or shape.size < 2:
        raise ModelFormatError(
            f"{node.where()}: shape '{node.inputs[1].name}' is not a 1-D int64 shape of "
            f"rank >= 2 (got {shape.dtype} {list(shape.shape)})"
        )
    if node.attr("allowzero", 0):
        raise QuantizationError(f"{node.where()}: allowzero=1 is not supported")
    dims = [int(d) for d in shape]
    if dims[0] not in (0, -1) or min(dims[1:]) < 1:
        raise QuantizationError(
            f"{node.where()}: shape {dims} must keep the batch (first size 0 or -1) and give "
            "every other size explicitly (>= 1)"
        )
    x = node.x
    if x.shape is None or any(d is None for d in x.shape[1:]):
        return  # no static sample shape to compare with
    sample = int(np.prod(x.shape[1:]))
    if int(np.prod(dims[1:])) != sample:
        raise QuantizationError(
            f"{node.where()}: shape {dims} does not hold the {sample} elements of a sample "
            f"of '{x.name}' {list(x.shape)}"
        )


CHECKS: dict[str, Callable[[Node], None]] = {"Concat": check_concat, "Reshape": check_reshape}
