"""AdderNet layers: forward against direct loops, backward against the paper's formulas."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn import functional as F

from adderflow.nn import AdaptiveAdderLR, AdderConv2d, AdderLinear, adder_conv2d, adder_linear


def loop_adder_conv(x, w, stride, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = torch.zeros(n, o, ho, wo, dtype=x.dtype)
    for b, oc, i, j in itertools.product(range(n), range(o), range(ho), range(wo)):
        patch = xp[b, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
        out[b, oc, i, j] = -(patch - w[oc]).abs().sum()
    return out


@pytest.mark.parametrize(
    "case",
    [(2, 3, 5, 4, 3, 1, 1), (1, 2, 7, 3, 3, 2, 1), (2, 4, 4, 5, 1, 1, 0), (1, 1, 6, 2, 5, 2, 2)],
)
def test_conv_forward_matches_direct_loop(case):
    n, c, h, o, k, stride, pad = case
    g = torch.Generator().manual_seed(sum(case))
    x = torch.randint(-8, 8, (n, c, h, h), generator=g).double()
    w = torch.randint(-8, 8, (o, c, k, k), generator=g).double()
    got = adder_conv2d(x, w, stride=stride, padding=pad)
    assert torch.equal(got, loop_adder_conv(x, w, stride, pad))  # exact on integers
    assert got.shape == F.conv2d(x, w, stride=stride, padding=pad).shape


def test_linear_forward_and_chunking_are_exact():
    g = torch.Generator().manual_seed(1)
    x, w = torch.randn(37, 11, generator=g).double(), torch.randn(5, 11, generator=g).double()
    want = -(x[:, None, :] - w[None]).abs().sum(-1)
    assert torch.allclose(adder_linear(x, w), want, rtol=0, atol=1e-12)
    assert torch.equal(adder_linear(x, w, chunk_elems=7), adder_linear(x, w))


def addernet_grads(x, w, g):
    """The paper's backward, from the explicit N×O×K tensor."""
    diff = x[:, None, :] - w[None]  # x - w
    grad_w = torch.einsum("no,nok->ok", g, diff)  # full-precision X - F
    grad_x = torch.einsum("no,nok->nk", g, (-diff).clamp(-1, 1))  # HardTanh(F - X)
    return grad_x, grad_w


def test_linear_backward_is_addernets_not_the_true_gradient():
    gen = torch.Generator().manual_seed(2)
    x = (3 * torch.randn(6, 9, generator=gen)).double().requires_grad_()
    w = (3 * torch.randn(4, 9, generator=gen)).double().requires_grad_()
    g = torch.randn(6, 4, generator=gen).double()
    gx, gw = torch.autograd.grad(adder_linear(x, w, chunk_elems=10), (x, w), g)
    want_x, want_w = addernet_grads(x.detach(), w.detach(), g)
    assert torch.allclose(gx, want_x, atol=1e-12) and torch.allclose(gw, want_w, atol=1e-12)
    true_x, true_w = torch.autograd.grad(-(x[:, None] - w[None]).abs().sum(-1), (x, w), g)
    assert not torch.allclose(gw, true_w) and not torch.allclose(gx, true_x)


@pytest.mark.parametrize("stride, pad", [(1, 1), (2, 0), (2, 1)])
def test_conv_backward_through_unfold(stride, pad):
    gen = torch.Generator().manual_seed(3 + stride + pad)
    x = torch.randn(2, 3, 6, 5, generator=gen).double().requires_grad_()
    w = torch.randn(4, 3, 3, 3, generator=gen).double().requires_grad_()
    y = adder_conv2d(x, w, stride=stride, padding=pad)
    g = torch.randn_like(y)
    gx, gw = torch.autograd.grad(y, (x, w), g)
    cols = F.unfold(x.detach(), 3, padding=pad, stride=stride).transpose(1, 2).reshape(-1, 27)
    g_rows = g.permute(0, 2, 3, 1).reshape(-1, 4)
    want_cols, want_w = addernet_grads(cols, w.detach().reshape(4, -1), g_rows)
    n_l = want_cols.reshape(2, -1, 27).transpose(1, 2)
    want_x = F.fold(n_l, (6, 5), 3, padding=pad, stride=stride)
    assert torch.allclose(gw, want_w.reshape(w.shape), atol=1e-10)
    assert torch.allclose(gx, want_x, atol=1e-10)


def test_adaptive_lr_sets_each_adder_gradient_norm():
    torch.manual_seed(4)
    model = torch.nn.Sequential(
        AdderConv2d(2, 3, 3, padding=1),
        torch.nn.BatchNorm2d(3),
        torch.nn.Flatten(),
        AdderLinear(3 * 16, 5),
        torch.nn.Linear(5, 2),
    )
    model(torch.randn(4, 2, 4, 4)).sum().backward()
    head_grad = model[4].weight.grad.clone()
    AdaptiveAdderLR(model, eta=0.2).step()
    for layer in (model[0], model[3]):
        want = 0.2 * layer.weight.numel() ** 0.5
        assert torch.isclose(layer.weight.grad.norm(), torch.tensor(want), rtol=1e-5)
    assert torch.equal(model[4].weight.grad, head_grad)  # multiplication layers untouched
