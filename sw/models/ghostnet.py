"""GhostNet (Han et al., CVPR 2020) with hidden layers of any kind, width 0.25 to 1.0.

A Ghost module makes half its output channels with a 1×1 "primary" convolution and the
other half from those with a cheap depthwise 3×3 "ghost" convolution. The stage table,
squeeze-excite placement and head follow the paper's Table 1 (and the official code's
channel rounding to multiples of 4). Primary, ghost and depthwise convolutions take the
model's kind; squeeze-excite gates, the stem and the classifier stay multiplications.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from adderflow.models.blocks import check_kind, make_conv

# kernel, expansion channels, output channels, squeeze-excite ratio, stride
STAGES = [
    [(3, 16, 16, 0.0, 1)],
    [(3, 48, 24, 0.0, 2)],
    [(3, 72, 24, 0.0, 1)],
    [(5, 72, 40, 0.25, 2)],
    [(5, 120, 40, 0.25, 1)],
    [(3, 240, 80, 0.0, 2)],
    [(3, 200, 80, 0.0, 1), (3, 184, 80, 0.0, 1), (3, 184, 80, 0.0, 1),
     (3, 480, 112, 0.25, 1), (3, 672, 112, 0.25, 1)],
    [(5, 672, 160, 0.25, 2)],
    [(5, 960, 160, 0.0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0.0, 1),
     (5, 960, 160, 0.25, 1)],
]  # fmt: skip


def divisible(value: float, divisor: int = 4) -> int:
    """The official code's rounding: nearest multiple, never below 90% of ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__()
        hidden = divisible(channels * ratio)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.expand = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        gate = self.expand(nn.functional.relu(self.reduce(x.mean(dim=(2, 3), keepdim=True))))
        return x * nn.functional.hardsigmoid(gate)


class GhostModule(nn.Module):
    def __init__(self, kind: str, cin: int, cout: int, relu: bool = True) -> None:
        super().__init__()
        self.cout = cout
        init = -(-cout // 2)
        self.primary = nn.Sequential(make_conv(kind, cin, init, 1), nn.BatchNorm2d(init))
        self.cheap = nn.Sequential(
            make_conv(kind, init, init, 3, groups=init), nn.BatchNorm2d(init)
        )
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        a = self.primary(x)
        a = nn.functional.relu(a) if self.relu else a
        b = self.cheap(a)
        b = nn.functional.relu(b) if self.relu else b
        return torch.cat([a, b], dim=1)[:, : self.cout]


class GhostBottleneck(nn.Module):
    def __init__(
        self, kind: str, cin: int, mid: int, cout: int, kernel: int, stride: int, se: float
    ) -> None:
        super().__init__()
        self.expand = GhostModule(kind, cin, mid)
        self.depthwise = (
            nn.Sequential(
                make_conv(kind, mid, mid, kernel, stride, groups=mid), nn.BatchNorm2d(mid)
            )
            if stride > 1
            else nn.Identity()
        )
        self.se = SqueezeExcite(mid, se) if se > 0 else nn.Identity()
        self.project = GhostModule(kind, mid, cout, relu=False)
        if cin == cout and stride == 1:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                make_conv(kind, cin, cin, kernel, stride, groups=cin),
                nn.BatchNorm2d(cin),
                make_conv(kind, cin, cout, 1),
                nn.BatchNorm2d(cout),
            )

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(self.se(self.depthwise(self.expand(x))))
        return y + self.shortcut(x)


class GhostNet(nn.Module):
    def __init__(
        self, kind: str, width: float, num_classes: int, dropout: float, in_channels: int = 3
    ) -> None:
        super().__init__()
        self.kind = kind
        c = divisible(16 * width)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()
        )
        blocks = []
        for stage in STAGES:
            for kernel, exp, out, se, stride in stage:
                cout, mid = divisible(out * width), divisible(exp * width)
                blocks.append(GhostBottleneck(kind, c, mid, cout, kernel, stride, se))
                c = cout
        last = divisible(960 * width)
        blocks.append(nn.Sequential(make_conv(kind, c, last, 1), nn.BatchNorm2d(last), nn.ReLU()))
        self.blocks = nn.Sequential(*blocks)
        # The head's 1×1 convolution has a bias and no batch norm in the paper's model.
        self.head = nn.Sequential(nn.Conv2d(last, 1280, 1), nn.ReLU(), nn.Dropout(dropout))
        self.fc = nn.Linear(1280, num_classes)

    def feature_blocks(self) -> list[nn.Module]:
        return list(self.blocks)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(x)).mean(dim=(2, 3), keepdim=True)
        return self.fc(self.head(x).flatten(1))


def ghostnet(
    kind: str = "cnn",
    width: float = 1.0,
    num_classes: int = 1000,
    dropout: float = 0.2,
    in_channels: int = 3,
) -> GhostNet:
    check_kind(kind)
    if not 0.25 <= width <= 1.0:
        raise ValueError(f"GhostNet width must be within 0.25..1.0, got {width}")
    return GhostNet(kind, width, num_classes, dropout, in_channels)
