"""The model zoo: every network in three kinds, ``cnn``, ``adder`` and ``binary``.

``kind`` picks what the hidden convolutions and dense layers compute (multiplications,
ℓ1 distances, or sign × sign); the first convolution and the classifier stay
multiplication layers in every kind, as in the AdderNet and binary-network literature.
``width`` scales every hidden channel count. ``build(name, kind, width)`` makes any of them
by name; ``ZOO`` lists the names with their input shapes.
"""

from adderflow.models.blocks import KINDS, count_params, make_conv, make_linear
from adderflow.models.digits import BlockNet, ConvBlock, DenseBlock, Flatten, digits_net
from adderflow.models.ghostnet import ghostnet
from adderflow.models.resnet import (
    binary_resnet18,
    resnet18,
    resnet20,
    resnet32,
    resnet50,
    resnet56,
)
from adderflow.models.small import fpga_net, mnist1d_net
from adderflow.models.zoo import ZOO, build

__all__ = [
    "KINDS",
    "ZOO",
    "BlockNet",
    "ConvBlock",
    "DenseBlock",
    "Flatten",
    "binary_resnet18",
    "build",
    "count_params",
    "digits_net",
    "fpga_net",
    "ghostnet",
    "make_conv",
    "make_linear",
    "mnist1d_net",
    "resnet18",
    "resnet20",
    "resnet32",
    "resnet50",
    "resnet56",
]
