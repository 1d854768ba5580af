"""A quantized network as plain integer data: what the exporter writes and every backend runs.

Torch-free on purpose: the quantizer fills it from a trained model, the QONNX builder turns
it into the IR, and the quantized PyTorch model rebuilds its arithmetic from it.

The network is a graph in topological order. Each layer names its operands in ``inputs``:
layer names, or ``INPUT`` for the quantized network input. An empty ``inputs`` means the
layer before it (the network input for the first layer), so a network in a line needs no
names at all. Every layer's result is the tensor ``<name>_out`` of the IR; layers that
accumulate also expose ``<name>_acc``. The last layer's result is the network output.

Which IR nodes each layer becomes (an accumulating op writing ``<name>_acc``, then a
requantization writing ``<name>_out``; pools, concatenation, flatten and reshape writing
``<name>_out`` directly) is the QONNX builder's (``export/qonnx_builder.py``), and
docs/ir.md ("Graphs") tabulates it. A 1-D network enters the IR as a 2-D one of height 1
through a ``ReshapeLayer``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adderflow.errors import QuantizationError
from adderflow.fixed import (
    BIPOLAR,
    BipolarType,
    FixedType,
    RequantParams,
    Threshold,
    avg_pool_shift,
)

LAYER_KINDS = ("adder", "mul", "xnor")
INPUT = "input"  # the name ``inputs`` use for the quantized network input (``input_codes``)


@dataclass(frozen=True)
class ComputeLayer:
    """A conv or dense layer followed by its requantization (BN, bias and ReLU folded).

    ``weight`` is int64 ``[O, C, kh, kw]`` for a conv and ``[O, K]`` for a dense layer.
    An adder layer's input and weight share one type (they are subtracted).

    A binary layer (``kind="xnor"``, DESIGN.md rule 6) has ``BIPOLAR`` input and weight
    types and ±1 weight codes (the IR packs them as bits); its zero padding does not vote.
    A layer whose output feeds a binary layer ends in a ``Threshold`` (batch norm + sign)
    instead of a requantizer (``RequantParams``), and its ``out_type`` is ``BIPOLAR``.
    """

    name: str
    kind: str  # "adder" | "mul" | "xnor"
    weight: np.ndarray
    in_type: FixedType | BipolarType
    w_type: FixedType | BipolarType
    acc_bits: int
    requant: RequantParams | Threshold
    out_type: FixedType | BipolarType
    relu: bool
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    groups: int = 1  # a conv's weight is [O, C / groups, kh, kw]; C == groups is depthwise
    inputs: tuple[str, ...] = ()

    @property
    def is_conv(self) -> bool:
        return self.weight.ndim == 4

    @property
    def thresholded(self) -> bool:
        """Whether the output is ±1 codes from a ``Threshold`` (it feeds a binary layer)."""
        return isinstance(self.requant, Threshold)

    @property
    def terms(self) -> int:
        """``K``, the number of terms each output accumulates."""
        return int(np.prod(self.weight.shape[1:]))


POOL_MODES = ("max", "avg")


@dataclass(frozen=True)
class PoolLayer:
    """The IR's max pool (``mode="max"``; ``pads`` top, left, bottom, right: padded
    positions never win) or average pool (``"avg"``: kernel = stride, power-of-two area,
    no padding, ``round_half_even(sum / area)``)."""

    name: str
    kernel: tuple[int, int]
    strides: tuple[int, int]
    mode: str = "max"
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    inputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in POOL_MODES:
            raise QuantizationError(
                f"layer '{self.name}': pool mode '{self.mode}' is not one of {POOL_MODES}"
            )
        if self.mode == "avg":
            avg_pool_shift(self.kernel, self.strides, f"layer '{self.name}'")
            if any(self.pads):
                raise QuantizationError(f"layer '{self.name}': an average pool has no padding")


@dataclass(frozen=True)
class SumPoolLayer:
    """An average pool over an area that is not a power of two (DESIGN.md rule 10): the
    exact window sum (``acc_bits`` wide, no padding), then a rule-4 requantization."""

    name: str
    kernel: tuple[int, int]
    strides: tuple[int, int]
    acc_bits: int
    requant: RequantParams
    out_type: FixedType
    relu: bool = False
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddLayer:
    """A residual add (DESIGN.md rule 10): ``(a << shifts[0]) + (b << shifts[1])`` exactly
    (the finer operand's shift is 0), ``acc_bits`` wide, then a rule-4 requantization (ReLU
    folded into its lower clamp). ``inputs`` names both operands."""

    name: str
    inputs: tuple[str, str]
    shifts: tuple[int, int]
    acc_bits: int
    requant: RequantParams
    out_type: FixedType
    relu: bool = False


@dataclass(frozen=True)
class MulLayer:
    """``x · gate`` with the gate's codes (shape ``[C, 1, 1]``) broadcast over ``x``'s
    spatial axes (a squeeze-excite gate), ``acc_bits`` wide, then a rule-4 requantization.
    A real multiplication, counted as one. ``inputs`` is ``(x, gate)``."""

    name: str
    inputs: tuple[str, str]
    acc_bits: int
    requant: RequantParams
    out_type: FixedType
    relu: bool = False


@dataclass(frozen=True)
class ConcatLayer:
    """Channel concatenation (axis 1) of operands that share one type."""

    name: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class SignLayer:
    """±1 codes of a tensor that binary layers read and other layers read too (a layer
    whose only readers are binary layers folds the sign into its ``Threshold`` instead).

    Without ``threshold``: +1 where the operand's code is >= 0, else -1 (``sign(0) = +1``,
    a binary layer's sign). With it: the operand layer's batch norm + sign on its
    accumulator (``<operand>_acc``), ``+1 iff direction·acc >= threshold``: the sign of the
    value before its requantization rounds it (a small negative value can round to code 0,
    whose sign is +1)."""

    name: str
    inputs: tuple[str, ...] = ()
    threshold: Threshold | None = None


@dataclass(frozen=True)
class LutLayer:
    """A nonlinearity as a table lookup (a sigmoid gate): ``table[q - qmin]`` for the
    input's ``b``-bit codes ``q``, ``table`` int64 ``[2**b]`` computed at quantize time
    (``fixed.lookup_table``), its entries ``out_type`` codes (``fixed.table_lookup``)."""

    name: str
    table: np.ndarray
    out_type: FixedType
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlattenLayer:
    name: str
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReshapeLayer:
    """A reshape of one sample to ``shape`` (the batch axis is kept)."""

    name: str
    shape: tuple[int, ...]
    inputs: tuple[str, ...] = ()


Layer = (
    ComputeLayer
    | PoolLayer
    | SumPoolLayer
    | AddLayer
    | MulLayer
    | SignLayer
    | LutLayer
    | ConcatLayer
    | FlattenLayer
    | ReshapeLayer
)
# layers with an ``out_type``
REQUANTIZED = (ComputeLayer, SumPoolLayer, AddLayer, MulLayer, LutLayer)


@dataclass(frozen=True)
class QuantizedNetwork:
    """Input quantizer, then layers in topological order. Outputs are the last layer's."""

    input_type: FixedType
    input_shape: tuple[int, ...]  # (C, H, W) or (C, L) of one sample
    layers: tuple[Layer, ...]

    def __post_init__(self) -> None:
        seen = {INPUT}
        for index, layer in enumerate(self.layers):
            if layer.name in seen:
                raise QuantizationError(f"layer name '{layer.name}' is used twice")
            for source in self.sources(index):
                if source not in seen:
                    raise QuantizationError(
                        f"layer '{layer.name}' reads '{source}', which is not an earlier layer"
                    )
            seen.add(layer.name)

    def sources(self, index: int) -> tuple[str, ...]:
        """Names of layer ``index``'s operands (``INPUT`` for the network input)."""
        layer = self.layers[index]
        if layer.inputs:
            return tuple(layer.inputs)
        return (self.layers[index - 1].name,) if index else (INPUT,)

    def type_of(self, name: str) -> FixedType | BipolarType:
        """The code type of a layer's result (``INPUT``: the input quantizer's)."""
        if name == INPUT:
            return self.input_type
        index = next(i for i, layer in enumerate(self.layers) if layer.name == name)
        layer = self.layers[index]
        if isinstance(layer, REQUANTIZED):
            return layer.out_type
        if isinstance(layer, SignLayer):
            return BIPOLAR
        return self.type_of(self.sources(index)[0])

    @property
    def output_type(self) -> FixedType:
        return self.type_of(self.layers[-1].name)
