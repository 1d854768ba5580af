"""Layers of multiplication-free networks: AdderNet layers and their adaptive LR."""

from adderflow.nn import adder_kernels
from adderflow.nn.adaptive_lr import AdaptiveAdderLR, adder_weights, scale_adder_gradients
from adderflow.nn.adder import (
    AdderArgumentError,
    AdderConv1d,
    AdderConv2d,
    AdderLinear,
    adder_conv1d,
    adder_conv2d,
    adder_linear,
)
from adderflow.nn.pnorm import PNormSchedule, progressive_p, set_adder_p

__all__ = [
    "AdaptiveAdderLR",
    "AdderArgumentError",
    "AdderConv1d",
    "AdderConv2d",
    "AdderLinear",
    "PNormSchedule",
    "adder_conv1d",
    "adder_conv2d",
    "adder_kernels",
    "adder_linear",
    "adder_weights",
    "progressive_p",
    "scale_adder_gradients",
    "set_adder_p",
]
