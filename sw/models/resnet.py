"""ResNets: CIFAR ResNet-8/20/32/56, ImageNet ResNet-18/50, and the binary ResNet-18 of DGRL.

CIFAR ResNets follow He et al. (2016) §4.2 with AdderNet's choices: 3×3 stem of 16
channels, three stages of ``n`` basic blocks (16/32/64 channels), 1×1 projection shortcuts
of the block's kind where the shape changes (AdderNet's ``resnet20`` uses adder
projections), global average pooling and a multiplication classifier. ImageNet ResNets
follow torchvision's layout (7×7 stem, max pool, basic or bottleneck blocks, stride on the
3×3 convolution), written here so that the hidden layers can be of any kind.
"""

from __future__ import annotations

from torch import Tensor, nn

from adderflow.models.blocks import check_kind, make_conv, scaled
from adderflow.nn.binary import SqueezeInteraction


def _bn_conv(kind: str, cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(make_conv(kind, cin, cout, kernel, stride), nn.BatchNorm2d(cout))


class ZeroPadShortcut(nn.Module):
    """He et al.'s option A: subsample by the stride, pad the new channels with zeros."""

    def __init__(self, extra: int, stride: int) -> None:
        super().__init__()
        self.extra, self.stride = extra, stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(
        self, kind: str, cin: int, planes: int, stride: int = 1, shortcut: str = "projection"
    ) -> None:
        super().__init__()
        self.conv1 = _bn_conv(kind, cin, planes, 3, stride)
        self.conv2 = _bn_conv(kind, planes, planes, 3)
        if stride == 1 and cin == planes:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "zeropad":
            self.shortcut = ZeroPadShortcut(planes - cin, stride)
        else:
            self.shortcut = _bn_conv(kind, cin, planes, 1, stride)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(nn.functional.relu(self.conv1(x)))
        return nn.functional.relu(y + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, kind: str, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = _bn_conv(kind, cin, planes, 1)
        self.conv2 = _bn_conv(kind, planes, planes, 3, stride)
        self.conv3 = _bn_conv(kind, planes, out, 1)
        self.shortcut = (
            _bn_conv(kind, cin, out, 1, stride) if stride != 1 or cin != out else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        y = nn.functional.relu(self.conv1(x))
        y = self.conv3(nn.functional.relu(self.conv2(y)))
        return nn.functional.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    """Stem → stages of blocks → global average pool → linear classifier."""

    def __init__(
        self, stem: nn.Module, stages: nn.Sequential, features: int, num_classes: int, kind: str
    ) -> None:
        super().__init__()
        self.kind = kind
        self.stem = stem
        self.stages = stages
        self.fc = nn.Linear(features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stages(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))

    def feature_blocks(self) -> list[nn.Module]:
        return list(self.stages)


def _stages(kind, block, cin: int, widths, depths, strides, **options):
    layers = []
    for planes, depth, stride in zip(widths, depths, strides, strict=True):
        for i in range(depth):
            layers.append(block(kind, cin, planes, stride if i == 0 else 1, **options))
            cin = planes * block.expansion
    return nn.Sequential(*layers), cin


def cifar_resnet(
    depth: int,
    kind: str = "cnn",
    width: float = 1.0,
    num_classes: int = 10,
    shortcut: str = "projection",
    in_channels: int = 3,
) -> ResNet:
    """ResNet-``depth`` for 32×32 inputs, ``depth = 6n + 2``.

    ``shortcut="projection"`` (He et al.'s option B, AdderNet's code) uses 1×1
    convolutions where the shape changes; ``"zeropad"`` (option A, He et al.'s CIFAR
    table: 0.27 M / 0.46 M / 0.85 M parameters) adds no parameters.
    """
    check_kind(kind)
    if shortcut not in ("projection", "zeropad"):
        raise ValueError(f"shortcut must be 'projection' or 'zeropad', got {shortcut!r}")
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n + 2, got {depth}")
    n = (depth - 2) // 6
    c = scaled(16, width)
    stem = nn.Sequential(
        nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()
    )
    widths = [scaled(w, width) for w in (16, 32, 64)]
    stages, features = _stages(kind, BasicBlock, c, widths, [n] * 3, [1, 2, 2], shortcut=shortcut)
    return ResNet(stem, stages, features, num_classes, kind)


def resnet8(
    kind: str = "cnn", width: float = 1.0, num_classes: int = 10, in_channels: int = 3
) -> ResNet:
    """Three residual stages of one basic block each (16/32/64 channels times ``width``):
    the smallest CIFAR ResNet, small enough at reduced width to place on one ECP5-85k."""
    return cifar_resnet(8, kind, width, num_classes, in_channels=in_channels)


def resnet20(
    kind: str = "cnn", width: float = 1.0, num_classes: int = 10, in_channels: int = 3
) -> ResNet:
    return cifar_resnet(20, kind, width, num_classes, in_channels=in_channels)


def resnet32(
    kind: str = "cnn", width: float = 1.0, num_classes: int = 10, in_channels: int = 3
) -> ResNet:
    return cifar_resnet(32, kind, width, num_classes, in_channels=in_channels)


def resnet56(
    kind: str = "cnn", width: float = 1.0, num_classes: int = 10, in_channels: int = 3
) -> ResNet:
    return cifar_resnet(56, kind, width, num_classes, in_channels=in_channels)


def _imagenet_stem(c: int, in_channels: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, c, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(c),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
    )


def imagenet_resnet(
    block, depths, kind: str, width: float, num_classes: int, in_channels: int = 3
) -> ResNet:
    check_kind(kind)
    c = scaled(64, width)
    widths = [scaled(w, width) for w in (64, 128, 256, 512)]
    stages, features = _stages(kind, block, c, widths, depths, [1, 2, 2, 2])
    return ResNet(_imagenet_stem(c, in_channels), stages, features, num_classes, kind)


def resnet18(
    kind: str = "cnn", width: float = 1.0, num_classes: int = 1000, in_channels: int = 3
) -> ResNet:
    return imagenet_resnet(BasicBlock, [2, 2, 2, 2], kind, width, num_classes, in_channels)


def resnet50(
    kind: str = "cnn", width: float = 1.0, num_classes: int = 1000, in_channels: int = 3
) -> ResNet:
    return imagenet_resnet(Bottleneck, [3, 4, 6, 3], kind, width, num_classes, in_channels)


class SIBlock(nn.Module):
    """Two binary 3×3 convolutions, each a Squeeze-and-Interaction unit (DGRL's block)."""

    expansion = 1

    def __init__(self, kind: str, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        del kind  # always binary: the block exists for the binary network
        self.unit1 = SqueezeInteraction(cin, planes, 3, stride)
        self.unit2 = SqueezeInteraction(planes, planes, 3, 1)

    def forward(self, x: Tensor) -> Tensor:
        # Hardtanh keeps activations bounded around the sign's STE window (Bi-Real style).
        return self.unit2(nn.functional.hardtanh(self.unit1(x)))


def binary_resnet18(width: float = 1.0, num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-18 in the DGRL form: binary 3×3 convolutions, each with an SI shortcut.

    Stem, downsampling projections (inside the SI units) and classifier stay full
    precision, as in Bi-Real Net and DGRL.
    """
    c = scaled(64, width)
    widths = [scaled(w, width) for w in (64, 128, 256, 512)]
    stages, features = _stages("binary", SIBlock, c, widths, [2, 2, 2, 2], [1, 2, 2, 2])
    return ResNet(_imagenet_stem(c, in_channels), stages, features, num_classes, "binary")
