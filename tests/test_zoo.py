"""The model zoo: published parameter and multiply-accumulate counts, every kind runs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from adderflow.errors import ConfigError
from adderflow.models import ZOO, build, count_params
from adderflow.models.resnet import cifar_resnet
from adderflow.nn import AdderConv1d, AdderConv2d, AdderLinear
from adderflow.nn.binary import BinaryConv1d, BinaryConv2d
from adderflow.opcount import count_ops

# (model, parameters, multiply-accumulates) of the CNN kind at width 1. torchvision's
# ResNet-18/50 have exactly these parameter counts; ResNet-20 is He et al.'s 0.27 M with
# 1×1 projections; GhostNet 1.0× is the paper's 5.2 M parameters and 141 M FLOPs (MACs).
PUBLISHED = [
    ("resnet18", 11_689_512, 1.814e9),
    ("resnet50", 25_557_032, 4.089e9),
    ("resnet20", 272_474, 40.81e6),
    ("ghostnet", 5_182_508, 141.15e6),
]


@pytest.mark.parametrize("name, params, macs", PUBLISHED)
def test_published_counts(name, params, macs):
    model = build(name, "cnn")
    assert count_params(model) == params
    assert count_ops(model, ZOO[name][1]).mul == pytest.approx(macs, rel=1e-3)


def test_ghostnet_is_within_the_papers_figures():
    model = build("ghostnet", "cnn")
    assert abs(count_params(model) / 5.2e6 - 1) < 0.01
    assert abs(count_ops(model, (3, 224, 224)).mul / 141e6 - 1) < 0.01


def test_cifar_resnet_depths_scale_as_published():
    # He et al. Table 6 (zero-padding shortcuts): 0.27 M, 0.46 M, 0.85 M parameters.
    for depth, millions in ((20, 0.27), (32, 0.46), (56, 0.85)):
        model = cifar_resnet(depth, shortcut="zeropad")
        assert round(count_params(model) / 1e6, 2) == millions
    # Option A drops exactly the two 1×1 projections (and their batch norms).
    a, b = cifar_resnet(20, shortcut="zeropad"), cifar_resnet(20)
    assert count_params(b) - count_params(a) == 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    assert count_ops(a, (3, 32, 32)).mul == 40_551_040
    assert a(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_resnet8_is_three_stages_of_one_block():
    """He et al.'s CIFAR ResNet with n = 1: stem, 3 blocks of two 3x3 convolutions (1x1
    projections where the shape changes), global average pool, linear classifier."""
    model = build("resnet8", "adder", width=1.0)
    assert len(model.stages) == 3
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, AdderConv2d))]
    assert [m.kernel_size for m in convs].count((3, 3)) == 7  # stem + 3 x 2: 8 with the fc
    # Weights by hand: stem 3*16*9; blocks 2*16*16*9, 16*32*9 + 32*32*9 + 16*32,
    # 32*64*9 + 64*64*9 + 32*64; batch norms 2*(16*3 + 32*3 + 64*3); fc 64*10 + 10.
    weights = 432 + 4608 + 4608 + 9216 + 512 + 18432 + 36864 + 2048
    assert count_params(build("resnet8", "cnn")) == weights + 672 + 650
    quarter = build("resnet8", "adder", width=0.25, num_classes=10, in_channels=1)
    assert [b.conv2[0].out_channels for b in quarter.stages] == [4, 8, 16]
    assert quarter(torch.randn(2, 1, 8, 8)).shape == (2, 10)


HIDDEN = {
    "adder": (AdderConv1d, AdderConv2d, AdderLinear),
    "binary": (BinaryConv1d, BinaryConv2d),
}
SMALL_INPUT = {"resnet18": (3, 64, 64), "resnet50": (3, 64, 64), "ghostnet": (3, 64, 64)}


@pytest.mark.parametrize("name", [n for n in ZOO if n != "binary_resnet18"])
@pytest.mark.parametrize("kind", ["adder", "binary"])
def test_every_model_in_every_kind_trains_one_step(name, kind):
    """Hidden layers take the kind, first and last stay multiplications, gradients flow."""
    torch.manual_seed(0)
    width = 0.25 if name in ("resnet50", "ghostnet", "resnet18") else 1.0
    model = build(name, kind, width)
    layers = [
        m
        for m in model.modules()
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear, AdderConv1d, AdderConv2d, AdderLinear))
    ]
    hidden = [m for m in layers if isinstance(m, HIDDEN[kind])]
    assert hidden, f"{name} has no {kind} layer"
    assert not isinstance(layers[0], HIDDEN[kind]), "the first layer must stay a multiplication"
    assert not isinstance(layers[-1], HIDDEN[kind]), "the classifier must stay a multiplication"
    x = torch.randn(2, *SMALL_INPUT.get(name, ZOO[name][1]))
    out = model(x)
    assert out.shape[0] == 2 and torch.isfinite(out).all()
    out.square().mean().backward()
    assert all(p.grad is not None for m in hidden for p in m.parameters())


def test_binary_resnet18_uses_squeeze_interaction_units():
    from adderflow.nn.binary import SqueezeInteraction

    model = build("binary_resnet18", "binary", 0.25)
    units = [m for m in model.modules() if isinstance(m, SqueezeInteraction)]
    assert len(units) == 16  # two per basic block, eight blocks
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_bad_names_and_kinds_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown model 'resnet21'"):
        build("resnet21")
    with pytest.raises(ConfigError, match="model kind 'ternary'"):
        build("resnet20", "ternary")
    with pytest.raises(ConfigError, match="only exists as kind 'binary'"):
        build("binary_resnet18", "cnn")


def test_ops_count_is_the_public_op_counter():
    from adderflow import ops

    cnn = ops.count(build("resnet20", "cnn"), (3, 32, 32))
    assert cnn["params"] == 272_474 and cnn["mul"] == cnn["add"] == 40_813_184
    ann = ops.count(build("resnet20", "adder"), (3, 32, 32))
    # Adder layers: two additions a term; only the stem and the classifier multiply.
    stem_and_fc = 16 * 3 * 9 * 32 * 32 + 64 * 10
    assert ann["mul"] == stem_and_fc and ann["add"] == 2 * 40_813_184 - stem_and_fc
