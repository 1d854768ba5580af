"""The swap utility: a user's model becomes an adder network in one call."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from adderflow.errors import ConfigError
from adderflow.nn import AdderConv1d, AdderConv2d, AdderLinear
from adderflow.nn.binary import BinaryConv2d
from adderflow.nn.swap import to_adder, to_binary


class UserNet(nn.Module):
    """Attribute names that say nothing about order; conv3 has no batch norm after it."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(32, 10)
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.a = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.norm_a = nn.BatchNorm2d(8)
        self.conv3 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.hidden = nn.Linear(8 * 4 * 4, 32)
        self.norm_h = nn.BatchNorm1d(32)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = torch.relu(self.norm_a(self.a(x)))
        x = torch.relu(self.conv3(x))
        x = torch.relu(self.norm_h(self.hidden(x.flatten(1))))
        return self.head(x)


def test_swaps_hidden_layers_keeps_first_and_last_and_inserts_bn():
    torch.manual_seed(0)
    model = UserNet()
    report = to_adder(model)
    assert report.kept == ("head", "stem")  # first and last *called*, not first defined
    assert report.swapped == ("a", "conv3", "hidden")
    assert report.inserted_bn == ("conv3",)
    assert isinstance(model.stem, nn.Conv2d) and isinstance(model.head, nn.Linear)
    assert isinstance(model.a, AdderConv2d) and isinstance(model.hidden, AdderLinear)
    assert isinstance(model.conv3[0], AdderConv2d) and isinstance(model.conv3[1], nn.BatchNorm2d)
    assert model.conv3[0].stride == (2, 2) and model.conv3[0].padding == (1, 1)
    out = model(torch.randn(2, 3, 8, 8))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert model.a.weight.grad is not None


def test_sequential_model_and_options():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    )
    report = to_adder(model, keep_first=False, keep_last=True)
    assert report.swapped == ("0", "3") and report.inserted_bn == ()
    assert isinstance(model[0], AdderConv2d)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)


def test_refuses_missing_bn_when_asked_and_names_the_layer():
    with pytest.raises(ConfigError, match="layer 'conv3' is not followed by batch norm"):
        to_adder(UserNet(), insert_bn=False)


def test_grouped_and_1d_convs_keep_their_geometry():
    model = nn.Sequential(
        nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3, stride=2, padding=2, dilation=2, groups=2),
        nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1),
    )  # fmt: skip
    x = torch.randn(2, 4, 9, 9)
    shape = model(x).shape
    report = to_adder(model)
    assert report.swapped == ("1",) and report.inserted_bn == ()
    twin = model[1]
    assert isinstance(twin, AdderConv2d) and twin.groups == 2
    assert (twin.stride, twin.padding, twin.dilation) == ((2, 2), (2, 2), (2, 2))
    assert model(x).shape == shape
    one_d = nn.Sequential(nn.Conv1d(1, 4, 5), nn.Conv1d(4, 4, 3), nn.Conv1d(4, 2, 1))
    report = to_adder(one_d)
    assert report.inserted_bn == ("1",)
    assert isinstance(one_d[1][0], AdderConv1d) and isinstance(one_d[1][1], nn.BatchNorm1d)
    assert one_d(torch.randn(2, 1, 20)).shape == (2, 2, 14)


def test_to_binary_swaps_convolutions_and_keeps_dense_layers():
    model = UserNet()
    x = torch.randn(2, 3, 8, 8)
    shape = model(x).shape
    report = to_binary(model)
    binaries = [m for m in model.modules() if isinstance(m, BinaryConv2d)]
    assert len(binaries) == len(report.swapped) > 0
    assert not any(isinstance(m, AdderLinear) for m in model.modules())
    assert "stem" in report.kept and "head" in report.kept
    assert model(x).shape == shape


def test_padding_modes_other_than_zeros_are_refused_by_name():
    model = nn.Sequential(
        nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"),
        nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1),
    )  # fmt: skip
    with pytest.raises(ConfigError, match="layer '1': padding mode 'reflect'"):
        to_adder(model)
