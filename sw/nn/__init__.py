"""Layers of multiplication-free networks: AdderNet layers and their adaptive LR, binary
layers, and ``to_adder`` / ``to_binary`` to convert a model of your own."""

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
from adderflow.nn.binary import BinaryConv1d, BinaryConv2d, SqueezeInteraction
from adderflow.nn.pnorm import PNormSchedule, progressive_p, set_adder_p
from adderflow.nn.swap import SwapReport, swap, to_adder, to_binary

__all__ = [
    "AdaptiveAdderLR",
    "AdderArgumentError",
    "AdderConv1d",
    "AdderConv2d",
    "AdderLinear",
    "BinaryConv1d",
    "BinaryConv2d",
    "PNormSchedule",
    "SqueezeInteraction",
    "SwapReport",
    "adder_conv1d",
    "adder_conv2d",
    "adder_kernels",
    "adder_linear",
    "adder_weights",
    "progressive_p",
    "scale_adder_gradients",
    "set_adder_p",
    "swap",
    "to_adder",
    "to_binary",
]
