"""Every zoo model by name, with the input shape of one sample."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from adderflow.errors import ConfigError
from adderflow.models import digits, resnet, small
from adderflow.models.ghostnet import ghostnet

# name: (constructor(kind, width), input shape of one sample)
ZOO: dict[str, tuple[Callable[[str, float], nn.Module], tuple[int, ...]]] = {
    "digits": (lambda k, w: digits.digits_net(k, width=round(16 * w)), (1, 8, 8)),
    "fpga": (lambda k, w: small.fpga_net(k), (1, 8, 8)),
    "mnist1d": (lambda k, w: small.mnist1d_net(k, w), (1, 40)),
    "resnet20": (lambda k, w: resnet.resnet20(k, w), (3, 32, 32)),
    "resnet32": (lambda k, w: resnet.resnet32(k, w), (3, 32, 32)),
    "resnet56": (lambda k, w: resnet.resnet56(k, w), (3, 32, 32)),
    "resnet18": (lambda k, w: resnet.resnet18(k, w), (3, 224, 224)),
    "resnet50": (lambda k, w: resnet.resnet50(k, w), (3, 224, 224)),
    "ghostnet": (lambda k, w: ghostnet(k, w), (3, 224, 224)),
    "binary_resnet18": (lambda k, w: resnet.binary_resnet18(w), (3, 224, 224)),
}


def build(name: str, kind: str = "cnn", width: float = 1.0) -> nn.Module:
    """A zoo model by name; an unknown name lists the known ones."""
    if name not in ZOO:
        raise ConfigError(f"unknown model '{name}'; the zoo has: {', '.join(ZOO)}")
    if name == "binary_resnet18" and kind != "binary":
        raise ConfigError("binary_resnet18 only exists as kind 'binary'")
    return ZOO[name][0](kind, width)
