"""Small networks as a flat list of blocks that the quantizer and exporter can walk.

``kind`` picks the hidden layers: ``cnn`` (multiplications), ``adder`` (ℓ1 distances) or
``binary``. The first convolution and the classifier stay multiplication layers, and
every hidden layer is followed by batch norm (adder networks without it stall at chance).
"""

from __future__ import annotations

from torch import Tensor, nn

from adderflow.errors import ConfigError
from adderflow.models.blocks import check_kind, make_conv, make_linear
from adderflow.nn.binary import SqueezeInteraction


def activation(kind: str):
    """ReLU, except before binary layers: a sign of ReLU outputs is +1 almost everywhere, so
    binary networks keep the sign of the batch-normed value (hardtanh, Bi-Real style)."""
    return nn.functional.hardtanh if kind == "binary" else nn.functional.relu


class ConvBlock(nn.Module):
    """conv → batch norm → ReLU (hardtanh in binary networks) → optional max pool."""

    def __init__(self, conv: nn.Module, pool: int = 0, kind: str = "cnn") -> None:
        super().__init__()
        self.conv = conv
        self.bn = nn.BatchNorm2d(conv.out_channels)
        self.pool = pool
        self.act = activation(kind)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.bn(self.conv(x)))
        return nn.functional.max_pool2d(x, self.pool) if self.pool else x


class DenseBlock(nn.Module):
    """linear → batch norm → ReLU, or a bare linear layer for the classifier."""

    def __init__(self, fc: nn.Module, hidden: bool = True, kind: str = "cnn") -> None:
        super().__init__()
        self.fc = fc
        self.bn = nn.BatchNorm1d(fc.out_features) if hidden else None
        self.relu = hidden
        self.act = activation(kind)

    def forward(self, x: Tensor) -> Tensor:
        x = self.fc(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x) if self.relu else x


class Flatten(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1)


class BlockNet(nn.Module):
    """A sequence of blocks; ``kind`` records what its hidden layers are."""

    def __init__(self, blocks: list[nn.Module], kind: str) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*blocks)
        self.kind = kind

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)

    def feature_blocks(self) -> list[nn.Module]:
        """Conv blocks and hidden dense blocks: the outputs distillation matches."""
        return [
            b
            for b in self.blocks
            if isinstance(b, ConvBlock) or (isinstance(b, DenseBlock) and b.bn is not None)
        ]


def default_head(kind: str, image: tuple[int, int]) -> str:
    """``gap``, unless the network is binary (binary export has no global pooling yet) or
    the pooled frame's area is not a power of two (the IR's average pool divides by shifting; a
    28×28 MNIST image pools 14×14): then ``dense``."""
    area = (image[0] // 2) * (image[1] // 2)
    return "dense" if kind == "binary" or area & (area - 1) else "gap"


def digits_net(
    kind: str,
    width: int = 16,
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int | tuple[int, int] = 8,
    si: bool = False,
    head: str = "auto",
) -> BlockNet:
    """The main job's network for 8×8 digits.

    ``head="auto"`` is ``default_head(kind, image)``; a binary student's teacher needs
    ``head="dense"`` too, so that block-wise distillation pairs the same blocks.
    ``head="dense"``: ``stem conv(1→w) → adder conv(w→w) → pool → adder conv(w→2w) → pool →
    adder linear(2w·(h/4)·(w/4)→4w) → linear(→classes)``.
    ``head="gap"``: ``stem conv(1→w) → adder conv(w→2w) → pool → adder conv(2w→2w) →
    global average pool → linear(2w→classes)``.
    ``image_size`` is the side of a square image or its ``(height, width)``.
    """
    check_kind(kind)
    height, wide = (image_size, image_size) if isinstance(image_size, int) else image_size
    if height % 4 or wide % 4:
        raise ConfigError(
            f"digits_net needs image height and width divisible by 4 (two 2×2 poolings), "
            f"got {height}×{wide}: resize the images, e.g. to {height // 4 * 4 or 4}×"
            f"{wide // 4 * 4 or 4}"
        )
    if head == "auto":
        head = default_head(kind, (height, wide))
    if head not in ("gap", "dense"):
        raise ConfigError(f"digits_net head '{head}' is not auto, gap or dense")

    def hidden_conv(cin: int, cout: int) -> nn.Module:
        if si and kind == "binary":  # DGRL's Squeeze-and-Interaction unit
            return SqueezeInteraction(cin, cout, 3, 1)
        return make_conv(kind, cin, cout, 3)

    stem = ConvBlock(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), kind=kind)
    if head == "gap":
        blocks = [
            stem,
            ConvBlock(hidden_conv(width, 2 * width), pool=2, kind=kind),
            ConvBlock(hidden_conv(2 * width, 2 * width), kind=kind),
            nn.AdaptiveAvgPool2d(1),
            Flatten(),
            DenseBlock(nn.Linear(2 * width, num_classes), hidden=False),
        ]
        return BlockNet(blocks, kind)
    flat = 2 * width * (height // 4) * (wide // 4)
    blocks = [
        stem,
        ConvBlock(hidden_conv(width, width), pool=2, kind=kind),
        ConvBlock(hidden_conv(width, 2 * width), pool=2, kind=kind),
        Flatten(),
        DenseBlock(make_linear(kind, flat, 4 * width), kind=kind),
        DenseBlock(nn.Linear(4 * width, num_classes), hidden=False),
    ]
    return BlockNet(blocks, kind)
