"""Every zoo model by name, with the input shape of one sample."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from adderflow.errors import ConfigError
from adderflow.models import digits, resnet, small
from adderflow.models.ghostnet import ghostnet

# name: (constructor(kind, width, **options), input shape of one sample); the options are
# the constructors' keywords (num_classes and in_channels for every model; mnist1d also
# takes the signal length).
ZOO: dict[str, tuple[Callable[..., nn.Module], tuple[int, ...]]] = {
    "digits": (lambda k, w, **o: digits.digits_net(k, width=round(16 * w), **o), (1, 8, 8)),
    "fpga": (lambda k, w, **o: small.fpga_net(k, **o), (1, 8, 8)),
    "mnist1d": (lambda k, w, **o: small.mnist1d_net(k, w, **o), (1, 40)),
    "resnet8": (lambda k, w, **o: resnet.resnet8(k, w, **o), (3, 32, 32)),
    "resnet20": (lambda k, w, **o: resnet.resnet20(k, w, **o), (3, 32, 32)),
    "resnet32": (lambda k, w, **o: resnet.resnet32(k, w, **o), (3, 32, 32)),
    "resnet56": (lambda k, w, **o: resnet.resnet56(k, w, **o), (3, 32, 32)),
    "resnet18": (lambda k, w, **o: resnet.resnet18(k, w, **o), (3, 224, 224)),
    "resnet50": (lambda k, w, **o: resnet.resnet50(k, w, **o), (3, 224, 224)),
    "ghostnet": (lambda k, w, **o: ghostnet(k, w, **o), (3, 224, 224)),
    "binary_resnet18": (lambda k, w, **o: resnet.binary_resnet18(w, **o), (3, 224, 224)),
}


def build(name: str, kind: str = "cnn", width: float = 1.0, **options) -> nn.Module:
    """A zoo model by name (``options``: e.g. ``num_classes``, ``in_channels``); an unknown
    name lists them."""
    if name not in ZOO:
        raise ConfigError(f"unknown model '{name}'; the zoo has: {', '.join(ZOO)}")
    if name == "binary_resnet18" and kind != "binary":
        raise ConfigError("binary_resnet18 only exists as kind 'binary'")
    return ZOO[name][0](kind, width, **options)
