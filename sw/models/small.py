"""Small networks: MNIST-1D (1-D signals, 40 samples) and a tiny net for small FPGAs."""

from __future__ import annotations

from torch import Tensor, nn

from adderflow.models.blocks import check_kind, make_conv, make_linear, scaled
from adderflow.models.digits import BlockNet, digits_net
from adderflow.nn.binary import SqueezeInteraction


class Conv1dNet(nn.Module):
    """conv1d stem → hidden conv1d blocks (BN, ReLU, stride-2 down) → dense → classifier."""

    def __init__(
        self,
        kind: str,
        width: float,
        length: int,
        num_classes: int,
        si: bool = False,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        self.kind = kind
        c = scaled(32, width)
        act = nn.Hardtanh if kind == "binary" else nn.ReLU  # see models.digits.activation
        self.stem = nn.Sequential(
            nn.Conv1d(in_channels, c, 5, padding=2, bias=False), nn.BatchNorm1d(c), act()
        )
        blocks = []
        for _ in range(2):
            conv = (
                SqueezeInteraction(c, c, 3, stride=2, dims=1)
                if si and kind == "binary"
                else make_conv(kind, c, c, 3, stride=2, dims=1)
            )
            blocks.append(nn.Sequential(conv, nn.BatchNorm1d(c), act()))
            length = (length + 1) // 2
        self.blocks = nn.Sequential(*blocks)
        hidden = scaled(64, width)
        self.dense = nn.Sequential(
            make_linear(kind, c * length, hidden), nn.BatchNorm1d(hidden), act()
        )
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dense(self.blocks(self.stem(x)).flatten(1)))

    def feature_blocks(self) -> list[nn.Module]:
        return [self.stem, *self.blocks, self.dense]


def mnist1d_net(
    kind: str = "adder",
    width: float = 1.0,
    length: int = 40,
    num_classes: int = 10,
    si: bool = False,
    in_channels: int = 1,
) -> Conv1dNet:
    """For MNIST-1D (Greydanus 2020): signals of ``length`` samples, input ``[N, 1, length]``.

    ``width`` 1.0 is 32 channels; ``si`` makes a binary net's hidden convolutions
    Squeeze-and-Interaction units (DGRL).
    """
    check_kind(kind)
    return Conv1dNet(kind, width, length, num_classes, si, in_channels)


def fpga_net(kind: str = "adder", num_classes: int = 10, in_channels: int = 1) -> BlockNet:
    """The digits network at width 8: sized for a small FPGA (ECP5-25k) at full folding."""
    return digits_net(kind, 8, in_channels, num_classes, head="dense")
