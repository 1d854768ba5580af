"""A quantized network as plain integer data: what the exporter writes and every backend runs.

Torch-free on purpose: the quantizer fills it from a trained model, the QONNX builder turns
it into the IR, and the quantized PyTorch model rebuilds its arithmetic from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adderflow.errors import QuantizationError
from adderflow.fixed import BipolarType, FixedType, RequantParams, Threshold, avg_pool_shift

LAYER_KINDS = ("adder", "mul", "xnor")


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
    """Pooling without padding: the IR's max pool (``mode="max"``) or average pool
    (``"avg"``: kernel = stride, power-of-two area, ``round_half_even(sum / area)``)."""

    name: str
    kernel: tuple[int, int]
    strides: tuple[int, int]
    mode: str = "max"

    def __post_init__(self) -> None:
        if self.mode not in POOL_MODES:
            raise QuantizationError(
                f"layer '{self.name}': pool mode '{self.mode}' is not one of {POOL_MODES}"
            )
        if self.mode == "avg":
            avg_pool_shift(self.kernel, self.strides, f"layer '{self.name}'")


@dataclass(frozen=True)
class FlattenLayer:
    name: str


Layer = ComputeLayer | PoolLayer | FlattenLayer


@dataclass(frozen=True)
class QuantizedNetwork:
    """Input quantizer, then layers in order. Outputs are the last layer's codes."""

    input_type: FixedType
    input_shape: tuple[int, ...]  # (C, H, W) of one sample
    layers: tuple[Layer, ...]

    @property
    def output_type(self) -> FixedType:
        compute = [layer for layer in self.layers if isinstance(layer, ComputeLayer)]
        return compute[-1].out_type
