"""Layers of multiplication-free networks: AdderNet layers and their adaptive LR."""

from adderflow.nn.adaptive_lr import AdaptiveAdderLR, adder_weights, scale_adder_gradients
from adderflow.nn.adder import AdderConv2d, AdderLinear, adder_conv2d, adder_linear

__all__ = [
    "AdaptiveAdderLR",
    "AdderConv2d",
    "AdderLinear",
    "adder_conv2d",
    "adder_linear",
    "adder_weights",
    "scale_adder_gradients",
]
