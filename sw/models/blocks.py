"""Layer factories shared by the zoo: one place decides what each ``kind`` builds."""

from __future__ import annotations

from torch import nn

from adderflow.errors import ConfigError
from adderflow.nn import AdderConv1d, AdderConv2d, AdderLinear
from adderflow.nn.binary import BinaryConv1d, BinaryConv2d

KINDS = ("cnn", "adder", "binary")
_CONVS = {
    (1, "cnn"): nn.Conv1d,
    (2, "cnn"): nn.Conv2d,
    (1, "adder"): AdderConv1d,
    (2, "adder"): AdderConv2d,
    (1, "binary"): BinaryConv1d,
    (2, "binary"): BinaryConv2d,
}


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"model kind '{kind}' is not one of {', '.join(KINDS)}")


def make_conv(
    kind: str,
    cin: int,
    cout: int,
    kernel: int,
    stride: int = 1,
    padding: int | None = None,
    groups: int = 1,
    dims: int = 2,
) -> nn.Module:
    """A hidden convolution of ``kind`` (no bias: batch norm follows every one)."""
    check_kind(kind)
    pad = kernel // 2 if padding is None else padding
    extra = {} if kind == "adder" else {"bias": False}  # adder layers have no bias at all
    return _CONVS[dims, kind](cin, cout, kernel, stride=stride, padding=pad, groups=groups, **extra)


def make_linear(kind: str, fin: int, fout: int) -> nn.Module:
    """A hidden dense layer of ``kind``; binary dense layers stay multiplications."""
    check_kind(kind)
    if kind == "adder":
        return AdderLinear(fin, fout)
    return nn.Linear(fin, fout, bias=False)


def scaled(channels: int, width: float, divisor: int = 1) -> int:
    """``channels · width`` rounded to a multiple of ``divisor`` (at least one)."""
    return max(divisor, int(round(channels * width / divisor)) * divisor)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
