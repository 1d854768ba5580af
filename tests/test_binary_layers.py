"""Binary layers: codes, scales, the clipped straight-through gradient, the gated block."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from adderflow.nn.binary import (
    BinaryConv1d,
    BinaryConv2d,
    SqueezeInteraction,
    binary_weight,
    sign_ste,
)


def test_sign_codes_are_plus_minus_one_and_gradient_is_clipped():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5], requires_grad=True)
    y = sign_ste(x)
    assert y.tolist() == [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0]
    (grad,) = torch.autograd.grad(y, x, torch.arange(1.0, 8.0))
    assert grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]


def test_weight_scale_is_mean_abs_per_output_channel():
    w = torch.tensor([[[[1.0, -3.0]]], [[[-0.5, -0.5]]]])
    assert binary_weight(w).flatten(1).tolist() == [[2.0, -2.0], [-0.5, -0.5]]


@pytest.mark.parametrize("binary_input", [True, False])
def test_conv2d_is_conv_of_codes(binary_input):
    torch.manual_seed(0)
    layer = BinaryConv2d(4, 6, 3, stride=2, padding=1, groups=2, binary_input=binary_input)
    x = torch.randn(2, 4, 7, 7)
    codes = torch.where(x >= 0, 1.0, -1.0) if binary_input else x
    alpha = layer.weight.abs().mean((1, 2, 3), keepdim=True)
    want = F.conv2d(codes, alpha * layer.weight.sign(), stride=2, padding=1, groups=2)
    torch.testing.assert_close(layer(x), want)
    assert layer.bias is None


def test_conv_input_gradient_passes_only_inside_the_clip():
    torch.manual_seed(1)
    layer = BinaryConv1d(3, 5, 3, padding=1)
    x = (2 * torch.randn(2, 3, 9)).requires_grad_()
    y = layer(x)
    (grad,) = torch.autograd.grad(y, x, torch.ones_like(y))
    codes = torch.where(x.detach() >= 0, 1.0, -1.0).requires_grad_()
    (through_codes,) = torch.autograd.grad(
        layer._conv_forward(codes, binary_weight(layer.weight), None), codes, torch.ones_like(y)
    )  # noqa: E501
    torch.testing.assert_close(grad, through_codes * (x.detach().abs() <= 1))
    assert (grad[x.detach().abs() > 1] == 0).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("dims, shape", [(2, (2, 8, 6, 6)), (1, (2, 8, 10))])
def test_squeeze_interaction_gates_the_shortcut(dims, shape):
    torch.manual_seed(2)
    block = SqueezeInteraction(8, 8, dims=dims).eval()
    x = torch.randn(shape)
    binary_only = block.norm(block.binary(x))
    gates = block.attention(x)
    assert gates.shape == (shape[0], 8, *([1] * dims))
    assert ((gates > 0) & (gates < 1)).all()
    torch.testing.assert_close(block(x), binary_only + gates * x)
    with torch.no_grad():
        block.expand.weight.zero_()
        block.expand.bias.fill_(-40.0)  # gate closed: a plain binary layer
    torch.testing.assert_close(block(x), binary_only)


def test_squeeze_interaction_downsamples_and_trains():
    torch.manual_seed(3)
    block = SqueezeInteraction(4, 8, stride=2)
    x, target = torch.randn(8, 4, 7, 7), torch.randint(0, 2, (8,))
    assert block(x).shape == nn.Conv2d(4, 8, 3, 2, 1)(x).shape
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    opt = torch.optim.Adam([*block.parameters(), *head.parameters()], lr=0.05)
    losses, squeeze_grads = [], []
    for _ in range(40):
        opt.zero_grad()
        loss = F.cross_entropy(head(block(x)), target)
        loss.backward()
        squeeze_grads.append(block.reduce.weight.grad.abs().sum().item())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert min(squeeze_grads) > 0  # the squeeze path keeps training
