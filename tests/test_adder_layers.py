"""AdderNet layers, checked against independent definitions.

Forward: against direct Python loops with explicit zero padding (exact on integer-valued
float64). Backward: against the paper's formulas evaluated on the explicit ``N×O×K`` tensor
and against torch autograd of surrogate losses whose true gradients are AdderNet's
(ℓ2 for the filters, Huber for the inputs); plus a check that it is not the true gradient.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from adderflow.nn import (
    AdaptiveAdderLR,
    AdderConv2d,
    AdderLinear,
    adder_conv2d,
    adder_linear,
    adder_weights,
    scale_adder_gradients,
)

# --------------------------------------------------------------------------- references


def loop_adder_linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``y[n, o] = -sum_k |x[n, k] - w[o, k]|`` with explicit loops."""
    xs, ws = x.tolist(), w.tolist()
    out = [[-sum(abs(a - b) for a, b in zip(row, f, strict=True)) for f in ws] for row in xs]
    return torch.tensor(out, dtype=x.dtype).reshape(x.shape[0], w.shape[0])


def _geometry(x, w, stride, padding, dilation):
    (sh, sw), (ph, pw), (dh, dw) = (nn.modules.utils._pair(v) for v in (stride, padding, dilation))
    kh, kw = w.shape[2:]
    ho = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    return (sh, sw), (ph, pw), (dh, dw), ho, wo


def _taps(x, w, stride, padding, dilation):
    """Every (n, o, oh, ow, c, i, j, r, s) with (r, s) the input pixel; None where padded."""
    n_, c_, h_, w_ = x.shape
    o_, _, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw), ho, wo = _geometry(x, w, stride, padding, dilation)
    for n, o, oh, ow, c, i, j in itertools.product(
        range(n_), range(o_), range(ho), range(wo), range(c_), range(kh), range(kw)
    ):
        r, s = oh * sh - ph + i * dh, ow * sw - pw + j * dw
        inside = 0 <= r < h_ and 0 <= s < w_
        yield n, o, oh, ow, c, i, j, (r, s) if inside else None


def loop_adder_conv(x, w, stride=1, padding=0, dilation=1) -> torch.Tensor:
    """Direct loops; a padded pixel is 0 and contributes ``|0 - w|`` (contract rule 3)."""
    *_, ho, wo = _geometry(x, w, stride, padding, dilation)
    xs, ws = x.tolist(), w.tolist()
    out = [[[[0.0] * wo for _ in range(ho)] for _ in range(w.shape[0])] for _ in range(x.shape[0])]
    for n, o, oh, ow, c, i, j, pix in _taps(x, w, stride, padding, dilation):
        value = xs[n][c][pix[0]][pix[1]] if pix else 0.0
        out[n][o][oh][ow] -= abs(value - ws[o][c][i][j])
    return torch.tensor(out, dtype=x.dtype)


def loop_conv_grads(x, w, g, stride=1, padding=0, dilation=1):
    """AdderNet's conv gradients by loops: ``x - w`` for filters, HardTanh(w - x) for inputs."""
    xs, ws, gs = x.tolist(), w.tolist(), g.tolist()
    gx, gw = torch.zeros_like(x).tolist(), torch.zeros_like(w).tolist()
    for n, o, oh, ow, c, i, j, pix in _taps(x, w, stride, padding, dilation):
        value = xs[n][c][pix[0]][pix[1]] if pix else 0.0
        up = gs[n][o][oh][ow]
        gw[o][c][i][j] += up * (value - ws[o][c][i][j])
        if pix:  # padded pixels are constants: no input gradient flows to them
            gx[n][c][pix[0]][pix[1]] += up * min(1.0, max(-1.0, ws[o][c][i][j] - value))
    return torch.tensor(gx, dtype=x.dtype), torch.tensor(gw, dtype=w.dtype)


def addernet_grads(x, w, g):
    """The paper's backward on the explicit N×O×K tensor."""
    diff = x[:, None, :] - w[None]
    grad_w = torch.einsum("no,nok->ok", g, diff)  # full-precision X - F
    grad_x = torch.einsum("no,nok->nk", g, F.hardtanh(-diff))  # HardTanh(F - X)
    return grad_x, grad_w


def surrogate_grads(x, w, g):
    """Autograd of losses whose true gradients are AdderNet's.

    d/dw of ``-½(x - w)²`` is ``x - w``; d/dx of ``-huber(x - w)`` (delta 1) is
    ``clamp(w - x, -1, 1)``.
    """
    x, w = x.detach().requires_grad_(), w.detach().requires_grad_()
    l2 = -0.5 * ((x.detach()[:, None, :] - w[None]) ** 2).sum(-1)
    (grad_w,) = torch.autograd.grad(l2, w, g)
    xb, wb = torch.broadcast_tensors(x[:, None, :], w.detach()[None])
    huber = -F.huber_loss(xb, wb, reduction="none", delta=1.0).sum(-1)
    (grad_x,) = torch.autograd.grad(huber, x, g)
    return grad_x, grad_w


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ints(shape, gen, lo=-6, hi=7) -> torch.Tensor:
    return torch.randint(lo, hi, shape, generator=gen).double()


# ------------------------------------------------------------------------------ forward


@pytest.mark.parametrize("n, k, o", [(1, 1, 1), (5, 7, 3), (9, 13, 6)])
def test_linear_forward_matches_loop(n, k, o):
    gen = _gen(n * 100 + k * 10 + o)
    x, w = _ints((n, k), gen), _ints((o, k), gen)
    assert torch.equal(adder_linear(x, w), loop_adder_linear(x, w))
    x, w = torch.randn(n, k, generator=gen).double(), torch.randn(o, k, generator=gen).double()
    torch.testing.assert_close(adder_linear(x, w), loop_adder_linear(x, w), rtol=1e-13, atol=1e-13)


CONV_CASES = [
    # (n, c, h, w, o, kernel, stride, padding, dilation)
    *[(2, 3, 7, 5, 4, k, s, p, 1) for k, s, p in itertools.product((1, 3), (1, 2), (0, 1))],
    (1, 2, 9, 8, 3, 3, 1, 2, 2),
    (2, 2, 7, 6, 3, 3, 2, 1, 2),
    (1, 3, 6, 7, 2, (3, 1), (2, 1), (1, 0), 1),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv_forward_matches_loop(case):
    n, c, h, wd, o, kernel, stride, padding, dilation = case
    kh, kw = nn.modules.utils._pair(kernel)
    gen = _gen(CONV_CASES.index(case))
    geo = dict(stride=stride, padding=padding, dilation=dilation)
    x, w = _ints((n, c, h, wd), gen), _ints((o, c, kh, kw), gen)
    got = adder_conv2d(x, w, **geo)
    assert got.shape == F.conv2d(x, w, **geo).shape
    assert torch.equal(got, loop_adder_conv(x, w, **geo))  # exact on integer values
    x, w = (
        torch.randn(x.shape, generator=gen).double(),
        torch.randn(w.shape, generator=gen).double(),
    )
    torch.testing.assert_close(adder_conv2d(x, w, **geo), loop_adder_conv(x, w, **geo))


def test_padding_takes_part_as_zero():
    """A 1×1 image padded by 1 with a 3×3 all-ones filter: 8 padded taps cost |0 - 1| each."""
    x, w = torch.full((1, 1, 1, 1), 5.0, dtype=torch.float64), torch.ones(1, 1, 3, 3).double()
    assert adder_conv2d(x, w, padding=1).item() == -(8 * 1 + 4)


def test_float32_and_integer_dtypes():
    gen = _gen(7)
    x, w = torch.randn(6, 5, generator=gen), torch.randn(3, 5, generator=gen)
    y = adder_linear(x, w)
    assert y.dtype == torch.float32
    # float32 tolerance: the float32 result is as close as its rounding allows
    torch.testing.assert_close(y, adder_linear(x.double(), w.double()).float())
    xi, wi = (
        torch.randint(-9, 9, (4, 5), generator=gen),
        torch.randint(-9, 9, (2, 5), generator=gen),
    )
    assert torch.equal(adder_linear(xi, wi), loop_adder_linear(xi.double(), wi.double()).long())


def test_chunking_does_not_change_results():
    gen = _gen(8)
    x, w = torch.randn(37, 11, generator=gen).double(), torch.randn(5, 11, generator=gen).double()
    full = adder_linear(x, w)
    for chunk in (1, 7, 55, 56, 10**9):  # 1 row per chunk, exact multiples, one chunk
        assert torch.equal(adder_linear(x, w, chunk_elems=chunk), full)
    xc, wc = torch.randn(2, 3, 9, 7, generator=gen), torch.randn(4, 3, 3, 3, generator=gen)
    conv = adder_conv2d(xc, wc, stride=2, padding=1)
    assert torch.equal(adder_conv2d(xc, wc, stride=2, padding=1, chunk_elems=300), conv)


def test_chunked_backward_equals_unchunked():
    gen = _gen(9)
    x, w, g = _ints((23, 6), gen), _ints((4, 6), gen), _ints((23, 4), gen)

    def grads(chunk):
        xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
        return torch.autograd.grad(adder_linear(xr, wr, chunk_elems=chunk), (xr, wr), g)

    small, big = grads(5), grads(2**24)
    assert torch.equal(small[0], big[0]) and torch.equal(small[1], big[1])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="K=3"):
        adder_linear(torch.zeros(2, 3), torch.zeros(4, 5))
    with pytest.raises(ValueError, match="float64"):
        adder_linear(torch.zeros(2, 3), torch.zeros(4, 3).double())
    with pytest.raises(ValueError, match="chunk_elems"):
        adder_linear(torch.zeros(2, 3), torch.zeros(4, 3), chunk_elems=0)
    with pytest.raises(ValueError, match="Kernel size can.t be greater"):
        adder_conv2d(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError):
        adder_conv2d(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 3, 3))


def test_empty_batch():
    x, w = torch.zeros(0, 4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
    y = adder_linear(x, w)
    assert y.shape == (0, 3)
    y.sum().backward()
    assert x.grad.shape == (0, 4) and torch.equal(w.grad, torch.zeros(3, 4))


# ----------------------------------------------------------------------------- backward


def test_linear_backward_is_addernets():
    gen = _gen(10)
    x = (3 * torch.randn(6, 9, generator=gen)).double().requires_grad_()
    w = (3 * torch.randn(4, 9, generator=gen)).double().requires_grad_()
    g = torch.randn(6, 4, generator=gen).double()
    gx, gw = torch.autograd.grad(adder_linear(x, w, chunk_elems=40), (x, w), g)
    assert gx.shape == x.shape and gw.shape == w.shape
    assert gx.dtype == gw.dtype == torch.float64
    for want_x, want_w in (addernet_grads(x.detach(), w.detach(), g), surrogate_grads(x, w, g)):
        torch.testing.assert_close(gx, want_x, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(gw, want_w, rtol=1e-12, atol=1e-12)
    assert gx.abs().max() <= g.abs().sum(1).max()  # HardTanh bounds each term by |g|


def test_linear_backward_is_not_the_true_gradient():
    """The custom Function is really in use: sign(x - w) gradients would look different."""
    gen = _gen(11)
    x = (3 * torch.randn(6, 9, generator=gen)).double().requires_grad_()
    w = (3 * torch.randn(4, 9, generator=gen)).double().requires_grad_()
    g = torch.randn(6, 4, generator=gen).double()
    gx, gw = torch.autograd.grad(adder_linear(x, w), (x, w), g)
    true_x, true_w = torch.autograd.grad(-(x[:, None] - w[None]).abs().sum(-1), (x, w), g)
    assert not torch.allclose(gw, true_w) and not torch.allclose(gx, true_x)


def test_only_requested_gradients():
    gen = _gen(12)
    x = torch.randn(5, 4, generator=gen).double()
    w = torch.randn(3, 4, generator=gen).double().requires_grad_()
    adder_linear(x, w).sum().backward()
    assert x.grad is None and w.grad is not None
    frozen = w.detach()
    xr = x.clone().requires_grad_()
    adder_linear(xr, frozen).sum().backward()
    assert xr.grad.shape == x.shape


def test_double_backward_is_refused():
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad(adder_linear(x, w).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        gx.sum().backward()


@pytest.mark.parametrize(
    "stride, padding, dilation", [(1, 1, 1), (2, 0, 1), (2, 1, 1), (1, 2, 2), (2, 1, 2)]
)
def test_conv_backward_matches_loops(stride, padding, dilation):
    gen = _gen(20 + 4 * stride + 2 * padding + dilation)
    x = (2 * torch.randn(2, 2, 7, 6, generator=gen)).double().requires_grad_()
    w = torch.randn(3, 2, 3, 3, generator=gen).double().requires_grad_()
    geo = dict(stride=stride, padding=padding, dilation=dilation)
    y = adder_conv2d(x, w, **geo)
    g = torch.randn(y.shape, generator=gen).double()
    gx, gw = torch.autograd.grad(y, (x, w), g)
    want_x, want_w = loop_conv_grads(x.detach(), w.detach(), g, **geo)
    assert gx.shape == x.shape and gw.shape == w.shape
    torch.testing.assert_close(gx, want_x, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gw, want_w, rtol=1e-12, atol=1e-12)


def test_conv_backward_through_unfold_and_fold():
    """Same gradients via the linear formulas on unfolded patches, folded back."""
    gen = _gen(30)
    x = torch.randn(2, 3, 6, 5, generator=gen).double().requires_grad_()
    w = torch.randn(4, 3, 3, 3, generator=gen).double().requires_grad_()
    y = adder_conv2d(x, w, stride=2, padding=1)
    g = torch.randn(y.shape, generator=gen).double()
    gx, gw = torch.autograd.grad(y, (x, w), g)
    cols = F.unfold(x.detach(), 3, padding=1, stride=2)  # [N, 27, L]
    rows = cols.transpose(1, 2).reshape(-1, 27)
    want_rows, want_w = addernet_grads(
        rows, w.detach().reshape(4, -1), g.flatten(2).mT.reshape(-1, 4)
    )
    want_x = F.fold(want_rows.reshape(2, -1, 27).mT, (6, 5), 3, padding=1, stride=2)
    torch.testing.assert_close(gw, want_w.reshape(w.shape), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gx, want_x, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------- adaptive LR


def _small_adder_net() -> nn.Sequential:
    return nn.Sequential(
        AdderConv2d(2, 3, 3, padding=1),
        nn.BatchNorm2d(3),
        nn.Flatten(),
        AdderLinear(3 * 16, 5),
        nn.BatchNorm1d(5),
        nn.Linear(5, 2),
    )


def test_adder_weights_finds_exactly_the_adder_layers():
    model = _small_adder_net()
    shared = model[0]
    model.append(nn.Sequential(shared))  # the same module twice: counted once
    assert [id(p) for p in adder_weights(model)] == [id(model[0].weight), id(model[3].weight)]


def test_scale_sets_norm_and_leaves_others_alone():
    torch.manual_seed(40)
    model = _small_adder_net()
    model(torch.randn(4, 2, 4, 4)).pow(2).sum().backward()
    others = {
        n: p.grad.clone() for n, p in model.named_parameters() if n not in ("0.weight", "3.weight")
    }
    AdaptiveAdderLR(model, eta=0.2).step()
    for layer in (model[0], model[3]):
        want = torch.tensor(0.2 * math.sqrt(layer.weight.numel()))
        torch.testing.assert_close(layer.weight.grad.norm(), want)
    for name, p in model.named_parameters():
        if name in others:
            assert torch.equal(p.grad, others[name]), name


def test_scale_keeps_direction_zero_and_missing_grads():
    a = nn.Parameter(torch.ones(4))
    a.grad = torch.tensor([3.0, -4.0, 0.0, 0.0])
    zero, none = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(2))
    zero.grad = torch.zeros(3)
    scale_adder_gradients([a, zero, none], eta=0.5)
    torch.testing.assert_close(a.grad, torch.tensor([3.0, -4.0, 0.0, 0.0]) / 5 * 0.5 * 2)
    assert torch.equal(zero.grad, torch.zeros(3)) and none.grad is None


def test_one_sgd_step_moves_each_adder_layer_by_lr_eta_sqrt_k():
    torch.manual_seed(41)
    model, lr, eta = _small_adder_net(), 0.1, 0.2
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    adaptive = AdaptiveAdderLR(model, eta=eta)
    before = [p.detach().clone() for p in adder_weights(model)]
    model(torch.randn(4, 2, 4, 4)).pow(2).sum().backward()
    adaptive.step()
    opt.step()
    for old, p in zip(before, adder_weights(model), strict=True):
        step = (p.detach() - old).norm()
        torch.testing.assert_close(step, torch.tensor(lr * eta * math.sqrt(p.numel())))


def test_works_with_adam():
    torch.manual_seed(42)
    model = _small_adder_net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.randn(4, 2, 4, 4)).pow(2).sum().backward()
    AdaptiveAdderLR(model).step()
    opt.step()
    after = list(model.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


# ------------------------------------------------------------------------------ modules


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3),
        dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=(3, 1), stride=(2, 1), padding=(1, 0)),
        dict(kernel_size=3, padding=2, dilation=2),
        dict(kernel_size=1, stride=2),
        dict(kernel_size=3, padding="same"),
        dict(kernel_size=3, padding="valid"),
    ],
    ids=str,
)
def test_conv_module_matches_conv2d_geometry(kwargs):
    torch.manual_seed(50)
    adder, conv = AdderConv2d(3, 5, **kwargs), nn.Conv2d(3, 5, bias=False, **kwargs)
    x = torch.randn(2, 3, 9, 8)
    assert adder(x).shape == conv(x).shape
    assert adder.weight.shape == conv.weight.shape
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "dilation"):
        assert getattr(adder, attr) == getattr(conv, attr), attr
    if not isinstance(conv.padding, str):
        assert adder.padding == conv.padding
    assert all(isinstance(getattr(adder, a), tuple) for a in ("kernel_size", "stride", "padding"))


def test_modules_register_one_weight_and_no_bias():
    conv, lin = AdderConv2d(2, 4, 3, stride=2, padding=1, dilation=1), AdderLinear(6, 3)
    assert [(n, p.shape) for n, p in conv.named_parameters()] == [("weight", (4, 2, 3, 3))]
    assert [(n, p.shape) for n, p in lin.named_parameters()] == [("weight", (3, 6))]
    assert conv.is_adder and lin.is_adder and AdderConv2d.is_adder and AdderLinear.is_adder
    assert "dilation=(1, 1)" in repr(conv) and "stride=(2, 2)" in repr(conv)
    assert lin(torch.randn(5, 6)).shape == (5, 3)
    with pytest.raises(ValueError):
        AdderConv2d(2, 4, 2, padding="same")  # even kernel: asymmetric pads


def test_init_is_kaiming_normal():
    torch.manual_seed(51)
    conv, lin = AdderConv2d(64, 64, 3), AdderLinear(256, 256)
    for weight, fan_in in ((conv.weight, 64 * 9), (lin.weight, 256)):
        assert abs(weight.std().item() / math.sqrt(2 / fan_in) - 1) < 0.05
        assert abs(weight.mean().item()) < 0.01


def test_tiny_training_loop_decreases_loss():
    torch.manual_seed(52)
    x, labels = torch.randn(32, 2, 6, 6), torch.randint(0, 3, (32,))
    model = nn.Sequential(
        AdderConv2d(2, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(24, 3),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    adaptive = AdaptiveAdderLR(model, eta=0.2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        adaptive.step()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
