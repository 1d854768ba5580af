"""The adder kernels and layer options against the direct unfold + broadcast definition.

The reference builds the whole ``N·O·K`` difference tensor and lets autograd of explicit
surrogates produce each gradient variant, so it shares no code with the tiled kernels.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from adderflow.nn import (
    AdderConv1d,
    AdderConv2d,
    AdderLinear,
    PNormSchedule,
    adder_conv1d,
    adder_conv2d,
    adder_kernels,
    adder_linear,
    progressive_p,
    set_adder_p,
)

# --------------------------------------------------------------------------- reference


def ref_rows(x, w, grad_mode):
    """``-sum |x - w|`` on the explicit ``[N, O, K]`` tensor; its autograd is ``grad_mode``.

    The surrogate's value is the true distance; a straight-through term swaps in the
    gradient of ``-(x - w)^2 / 2`` (full), of Huber (hardtanh), or keeps abs's (sign).
    """
    diff = x[:, None, :] - w[None]
    true = -diff.abs()
    if grad_mode == "sign":
        return true.sum(-1)
    wd = w.detach()[None]
    xd = x.detach()[:, None, :]
    for_w = -0.5 * (xd - w[None]) ** 2  # d/dw = x - w
    if grad_mode == "full":
        for_x = -0.5 * (x[:, None, :] - wd) ** 2  # d/dx = w - x
    else:
        xb, wb = torch.broadcast_tensors(x[:, None, :], wd)
        for_x = -F.huber_loss(xb, wb, reduction="none", delta=1.0)  # d/dx = clamp(w - x)
    surrogate = for_w + for_x
    return (true.detach() + surrogate - surrogate.detach()).sum(-1)


def ref_conv(x, w, stride, padding, dilation, groups, grad_mode):
    n, o, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
    cols = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)
    rows = cols.transpose(1, 2).reshape(-1, cols.shape[1])
    outs = [
        ref_rows(r, f, grad_mode)
        for r, f in zip(rows.chunk(groups, 1), w.reshape(o, -1).chunk(groups, 0), strict=True)
    ]
    ho = (x.shape[2] + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    return torch.cat(outs, 1).reshape(n, ho, -1, o).permute(0, 3, 1, 2)


def _grads(fn, x, w, seed):
    x, w = x.clone().requires_grad_(), w.clone().requires_grad_()
    y = fn(x, w)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    return (y.detach(), *torch.autograd.grad(y, (x, w), g))


def _close(got, want, dtype):
    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {}
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, **tol)


# ----------------------------------------------------------------------- conv kernels

CASES = [
    # n, c, h, w, o, k, stride, padding, dilation, groups
    (2, 3, 7, 5, 4, 3, 1, 1, 1, 1),
    (3, 4, 9, 6, 6, 3, 2, 0, 1, 2),
    (1, 6, 8, 7, 3, 3, 2, 1, 2, 3),
    (2, 5, 5, 5, 5, 1, 1, 0, 1, 5),  # depthwise 1x1
    (2, 2, 11, 4, 7, (3, 1), 2, 1, 1, 1),
    (1, 4, 6, 6, 8, 2, 1, 0, 2, 4),
]


@pytest.mark.parametrize("grad_mode", ["hardtanh", "full", "sign"])
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_conv_matches_broadcast_reference(case, grad_mode, dtype):
    n, c, h, wd, o, k, stride, padding, dilation, groups = case
    gen = torch.Generator().manual_seed(hash(case) % 2**31)
    kh, kw = nn.modules.utils._pair(k)
    x = 1.5 * torch.randn(n, c, h, wd, generator=gen, dtype=dtype)
    w = torch.randn(o, c // groups, kh, kw, generator=gen, dtype=dtype)
    geo = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    ours = _grads(lambda a, b: adder_conv2d(a, b, chunk_elems=97, grad=grad_mode, **geo), x, w, 1)
    ref = _grads(lambda a, b: ref_conv(a, b, stride, padding, dilation, groups, grad_mode), x, w, 1)
    _close(ours, ref, dtype)


@pytest.mark.parametrize("chunk", [1, 5, 64, 10**9])
def test_tiles_cover_every_term_once(chunk):
    seen = torch.zeros(7, 5, 3, dtype=torch.int64)
    for rows, filters in adder_kernels.tiles(7, 5, 3, chunk):
        seen[rows, filters] += 1
        assert len(range(7)[rows]) * len(range(5)[filters]) * 3 <= max(chunk, 3)
    assert torch.equal(seen, torch.ones_like(seen))


def test_wide_layers_split_filters_and_agree():
    """One row's O·K terms above the budget: the filter axis is tiled too."""
    gen = torch.Generator().manual_seed(3)
    x, w = torch.randn(4, 9, generator=gen).double(), torch.randn(10, 9, generator=gen).double()
    g = torch.randn(4, 10, generator=gen).double()
    for mode in ("hardtanh", "sign"):
        whole = [
            f(x, w, g, mode, 10**9) for f in (adder_kernels.grad_input, adder_kernels.grad_weight)
        ]
        split = [
            f(x, w, g, mode, 20) for f in (adder_kernels.grad_input, adder_kernels.grad_weight)
        ]
        _close(split, whole, torch.float64)
    torch.testing.assert_close(
        adder_kernels.l1_distance(x, w, 20), torch.cdist(x, w, p=1), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("n, o, k, chunk", [(7, 5, 3, 1), (100, 3, 7, 50), (9, 40, 4, 20)])
def test_tile_shape_is_balanced_and_bounded(n, o, k, chunk):
    rows, filters = adder_kernels.tile_shape(n, o, k, chunk)
    assert rows * filters * k <= max(chunk, k)
    row_blocks = [len(range(n)[r : r + rows]) for r in range(0, n, rows)]
    filter_blocks = [len(range(o)[f : f + filters]) for f in range(0, o, filters)]
    assert max(row_blocks) - min(row_blocks) <= 1 or len(row_blocks) == 1
    assert max(filter_blocks) - min(filter_blocks) <= 1 or len(filter_blocks) == 1


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("chunk", [40, 162, 10**9])  # split filters, tiles, one tile
def test_hardtanh_input_gradient_on_one_and_several_threads(threads, chunk):
    """The tile loop under one and several intra-op threads (ops split tiles by rows)."""
    gen = torch.Generator().manual_seed(11)
    x = 2 * torch.randn(13, 9, generator=gen).double()
    w, g = torch.randn(6, 9, generator=gen).double(), torch.randn(13, 6, generator=gen).double()
    want = ((w[None] - x[:, None]).clamp(-1, 1) * g[..., None]).sum(1)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = adder_kernels.grad_input(x, w, g, "hardtanh", chunk)
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chunk", [20, 10**9])
def test_shared_sign_tile_gives_both_gradients(chunk):
    gen = torch.Generator().manual_seed(12)
    x, w = torch.randn(13, 9, generator=gen).double(), torch.randn(10, 9, generator=gen).double()
    g = torch.randn(13, 10, generator=gen).double()
    got = adder_kernels.sign_grads(x, w, g, chunk)
    want = (
        adder_kernels.grad_input(x, w, g, "sign", chunk),
        adder_kernels.grad_weight(x, w, g, "sign", chunk),
    )
    _close(got, want, torch.float64)
    signs = (w[None] - x[:, None]).sign() * g[..., None]  # [rows, filters, K]
    _close(got, (signs.sum(1), -signs.sum(0)), torch.float64)


PATCH_CASES = [
    # n, c, h, w, (kh, kw), stride, padding, dilation
    (2, 3, 7, 5, (3, 3), (1, 1), (1, 1), (1, 1)),
    (1, 4, 9, 8, (3, 2), (2, 1), (0, 2), (1, 2)),
    (3, 2, 6, 6, (1, 1), (2, 2), (0, 0), (1, 1)),
    (2, 5, 8, 9, (2, 3), (1, 3), (2, 1), (3, 1)),
]


@pytest.mark.parametrize("case", PATCH_CASES, ids=str)
@pytest.mark.parametrize("channels_last", [False, True])
def test_patch_rows_are_unfold_in_channels_last_order(case, channels_last):
    """Rows of ``patch_rows`` are ``F.unfold``'s with (kh, kw, C) columns, the shift taken
    off every tap (padding too), and the gradient is unfold's."""
    n, c, h, wd, kernel, stride, padding, dilation = case
    gen = torch.Generator().manual_seed(13)
    x = torch.randn(n, c, h, wd, generator=gen).double()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(4, c, *kernel, generator=gen).double()
    shift = adder_kernels.channel_center(w)
    assert all(bool((w[:, i] == shift[i]).any()) for i in range(c))  # a filter value
    geo = (stride, padding, dilation)
    cols = F.unfold(x, kernel, dilation=dilation, padding=padding, stride=stride).mT

    def in_row_order(t):
        return t.reshape(n, -1, c, *kernel).permute(0, 1, 3, 4, 2).reshape(-1, cols.shape[2])

    assert torch.equal(adder_kernels.patch_rows(x, kernel, geo), in_row_order(cols))
    want = in_row_order(cols - shift.repeat_interleave(math.prod(kernel)))  # padded: 0 - shift
    xr = x.clone().requires_grad_()
    rows = adder_kernels.patch_rows(xr, kernel, geo, shift)
    torch.testing.assert_close(rows, want, rtol=1e-12, atol=1e-12)
    g = torch.randn(rows.shape, generator=gen, dtype=rows.dtype)
    (got,) = torch.autograd.grad(rows, xr, g)
    xu = x.clone().requires_grad_()
    cols_u = F.unfold(xu, kernel, dilation=dilation, padding=padding, stride=stride)
    g_cols = g.reshape(n, -1, *kernel, c).permute(0, 4, 2, 3, 1).reshape(cols_u.shape)
    (ref,) = torch.autograd.grad(cols_u, xu, g_cols)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    assert got.is_contiguous(memory_format=torch.channels_last) == channels_last or c == 1
    frows = adder_kernels.filter_rows(w, shift)
    want_f = (w - shift[:, None, None]).permute(0, 2, 3, 1).reshape(4, -1)
    torch.testing.assert_close(frows, want_f, rtol=0, atol=0)


def test_centered_distance_skips_only_the_shift():
    gen = torch.Generator().manual_seed(14)
    x, w = torch.randn(30, 11, generator=gen).double(), torch.randn(6, 11, generator=gen).double()
    want = torch.cdist(x, w, p=1)
    for shift in (torch.zeros(11, dtype=x.dtype), w[2]):
        got = adder_kernels.l1_distance(x - shift, w - shift, 40, centered=True)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert adder_kernels.channel_center(torch.ones(2, 3, 1, 1, dtype=torch.int64)) is None


def test_forward_precision_with_a_common_offset():
    """The min identity is taken around a filter value per column: an offset costs nothing."""
    gen = torch.Generator().manual_seed(4)
    x = 1000.0 + torch.randn(64, 300, generator=gen)
    w = 1000.0 + torch.randn(8, 300, generator=gen)
    got = adder_kernels.l1_distance(x, w)
    want = (x.double()[:, None] - w.double()[None]).abs().sum(-1)
    assert ((got.double() - want) / want).abs().max() < 1e-4


def test_integer_values_stay_exact():
    gen = torch.Generator().manual_seed(5)
    x = torch.randint(-(2**20), 2**20, (3, 4, 6, 6), generator=gen).double()
    w = torch.randint(-(2**20), 2**20, (5, 4, 3, 3), generator=gen).double()
    want = -(F.unfold(x, 3).mT[:, :, None, :] - w.flatten(1)).abs().sum(-1)
    assert torch.equal(adder_conv2d(x, w).flatten(2).mT, want)


# ------------------------------------------------------------------------ layer options


def test_p2_is_negative_squared_l2_with_exact_gradient():
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(2, 4, 7, 6, generator=gen).double()
    w = torch.randn(6, 2, 3, 3, generator=gen).double()

    def direct(a, b):
        cols = F.unfold(a, 3, padding=1, stride=2).mT.reshape(-1, 2, 18)  # rows, groups, K
        return -((cols[:, :, None, :] - b.reshape(2, 3, 18)[None]) ** 2).sum(-1)

    def ours(a, b):
        return adder_conv2d(a, b, stride=2, padding=1, groups=2, p=2).permute(0, 2, 3, 1)

    got = _grads(lambda a, b: ours(a, b).reshape(-1, 2, 3), x, w, 7)
    _close(got, _grads(direct, x, w, 7), torch.float64)
    xl, wl = torch.randn(5, 3, generator=gen).double(), torch.randn(4, 3, generator=gen).double()
    lin = _grads(lambda a, b: adder_linear(a, b, p=2), xl, wl, 8)
    _close(lin, _grads(lambda a, b: -((a[:, None] - b[None]) ** 2).sum(-1), xl, wl, 8), xl.dtype)


def test_fractional_p_interpolates_outputs():
    gen = torch.Generator().manual_seed(9)
    x, w = torch.randn(2, 3, 6, 6, generator=gen), torch.randn(4, 3, 3, 3, generator=gen)
    l1, l2 = adder_conv2d(x, w, p=1), adder_conv2d(x, w, p=2)
    torch.testing.assert_close(adder_conv2d(x, w, p=1.25), 0.75 * l1 + 0.25 * l2)


def test_schedule_walks_p_from_l2_to_l1():
    assert [progressive_p(t) for t in (0.0, 0.5, 1.0, 2.0)] == [2.0, 1.5, 1.0, 1.0]
    model = nn.Sequential(AdderConv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), AdderLinear(4, 2))
    schedule = PNormSchedule(model, total_steps=4)
    assert [layer.p for layer in (model[0], model[3])] == [2.0, 2.0]
    seen = [schedule.step() for _ in range(5)]
    assert seen == [1.75, 1.5, 1.25, 1.0, 1.0] and model[3].p == 1.0
    set_adder_p(model, 1.5)
    assert model[0].p == 1.5 and "p=1.5" in repr(model[0])


def test_conv1d_matches_conv2d_on_a_row():
    gen = torch.Generator().manual_seed(10)
    x, w = (
        torch.randn(3, 4, 17, generator=gen).double(),
        torch.randn(6, 2, 5, generator=gen).double(),
    )
    geo = dict(stride=2, padding=2, dilation=2, groups=2)
    got = _grads(lambda a, b: adder_conv1d(a, b, **geo), x, w, 11)
    want = _grads(
        lambda a, b: adder_conv2d(
            a[:, :, None], b[:, :, None], stride=(1, 2), padding=(0, 2), dilation=(1, 2),
            groups=2,
        )[:, :, 0],
        x, w, 11,
    )  # fmt: skip
    _close(got, want, torch.float64)
    layer, conv = (
        AdderConv1d(4, 6, 5, padding="same", groups=2),
        nn.Conv1d(4, 6, 5, padding="same", groups=2),
    )
    assert (
        layer(x.float()).shape == conv(x.float()).shape and layer.weight.shape == conv.weight.shape
    )
    assert layer(x.float()[0]).shape == (6, 17)  # unbatched, like nn.Conv1d


def test_grouped_module_matches_conv2d_geometry():
    adder = AdderConv2d(6, 9, 3, stride=2, padding=1, groups=3, grad="sign")
    conv = nn.Conv2d(6, 9, 3, stride=2, padding=1, groups=3, bias=False)
    x = torch.randn(2, 6, 9, 8)
    assert adder.weight.shape == conv.weight.shape and adder(x).shape == conv(x).shape
    assert adder(x[0]).shape == conv(x[0]).shape
    assert "groups=3" in repr(adder) and "grad='sign'" in repr(adder)


# ------------------------------------------------------------------------------ errors


def _conv2d_error(fn) -> tuple[type, str]:
    with pytest.raises(Exception) as info:
        fn()
    return info.type, str(info.value)


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs",
    [
        ((1, 2, 4, 4), (1, 3, 3, 3), {}),  # channel mismatch
        ((1, 4, 4, 4), (3, 2, 3, 3), {"groups": 2}),  # filters not divisible by groups
        ((1, 2, 2, 2), (1, 2, 3, 3), {}),  # kernel larger than the input
        ((1, 2, 2, 2), (1, 2, 3, 3), {"dilation": 2, "padding": 1}),  # dilated extent
        ((2, 4), (1, 2, 3, 3), {}),  # not an image
        ((1, 2, 4, 4), (1, 2, 3, 3), {"stride": 0}),
    ],
)
def test_errors_are_conv2ds(x_shape, w_shape, kwargs):
    x, w = torch.zeros(x_shape), torch.zeros(w_shape)
    want_type, want_msg = _conv2d_error(lambda: F.conv2d(x, w, **kwargs))
    got_type, got_msg = _conv2d_error(lambda: adder_conv2d(x, w, **kwargs))
    assert issubclass(got_type, want_type) and issubclass(got_type, ValueError)
    assert got_msg == want_msg


def test_dtype_errors_and_module_errors_are_conv2ds():
    x, w = torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 3, 3).double()
    assert _conv2d_error(lambda: adder_conv2d(x, w))[1] == _conv2d_error(lambda: F.conv2d(x, w))[1]
    conv1d_msg = _conv2d_error(lambda: F.conv1d(torch.zeros(1, 2, 2), torch.zeros(1, 2, 3)))[1]
    assert _conv2d_error(lambda: adder_conv1d(torch.zeros(1, 2, 2), torch.zeros(1, 2, 3)))[1] == (
        conv1d_msg
    )
    for args in ((3, 4, 3, 1, 0, 1, 2), (4, 3, 3, 1, 0, 1, 2), (4, 4, 3, 1, 0, 1, 0)):
        want = _conv2d_error(lambda a=args: nn.Conv2d(*a))
        assert _conv2d_error(lambda a=args: AdderConv2d(*a)) == want
    with pytest.raises(ValueError, match="p must lie"):
        AdderLinear(3, 2, p=3)
    with pytest.raises(ValueError, match="grad must be"):
        adder_linear(torch.zeros(2, 3), torch.zeros(4, 3), grad="ste")


# ------------------------------------------------------------------------------ triton

TRITON_CHECK = textwrap.dedent(
    """
    import torch
    from adderflow.nn import adder_kernels, adder_triton, adder_linear, adder_conv2d
    gen = torch.Generator().manual_seed(0)
    for n, o, k in [(1, 1, 1), (37, 5, 19), (20, 17, 33)]:
        x, w = torch.randn(n, k, generator=gen), torch.randn(o, k, generator=gen)
        g = torch.randn(n, o, generator=gen)
        torch.testing.assert_close(adder_triton.l1_distance(x, w), adder_kernels.l1_distance(x, w))
        for mode in ("hardtanh", "full", "sign"):
            for name in ("grad_input", "grad_weight"):
                got = getattr(adder_triton, name)(x, w, g, mode)
                want = getattr(adder_kernels, name)(x.double(), w.double(), g.double(), mode)
                torch.testing.assert_close(got, want.float(), rtol=1e-5, atol=1e-5)
    xh = torch.randn(9, 40, generator=gen).half()
    wh = torch.randn(3, 40, generator=gen).half()
    want = adder_kernels.l1_distance(xh.float(), wh.float()).half()
    torch.testing.assert_close(adder_triton.l1_distance(xh, wh), want)  # float32 accumulation
    # the layer dispatches to Triton when asked: same values and gradients as the CPU path
    x = torch.randn(2, 3, 6, 5, generator=gen, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, generator=gen, requires_grad=True)
    y = adder_conv2d(x, w, stride=2, padding=1)
    got = (y, *torch.autograd.grad(y.sum(), (x, w)))
    import os
    os.environ["ADDERFLOW_ADDER_BACKEND"] = "torch"
    y = adder_conv2d(x, w, stride=2, padding=1)
    want = (y, *torch.autograd.grad(y.sum(), (x, w)))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    print("triton ok")
    """
)


def test_triton_kernels_in_interpreter_mode():
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1", ADDERFLOW_ADDER_BACKEND="triton")
    done = subprocess.run(
        [sys.executable, "-c", TRITON_CHECK], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "triton ok" in done.stdout
