"""Chunked CPU (and fallback) kernels for the ℓ1 "adder" product on rows.

Every adder layer reduces to ``x [L, K]`` rows against ``w [O, K]`` filters: the forward
``d[l, o] = sum_k |x[l, k] - w[o, k]|`` and the two backward contractions over the
``L·O·K`` terms. There is no algebraic shortcut for those terms (each one is distinct), so
the speed comes from doing them in few, large vector passes with little around them:

- the terms are built one tile at a time, a tile of about ``chunk_elems`` elements (4 MiB
  of float32 by default). Each op on a tile costs ~5 us of Python and dispatch whatever
  its size, so tiles are large and every operand is split into per-tile views up front
  (``_Tiles``); a tile that spills L2 costs little, as the passes run at about the speed
  of their vector instructions, not of the cache. 2**20 measured best on ResNet-20's
  stages (2**21 the same within noise, 2**19 10-30% slower, 2**22 ~25% slower);
- each tile costs two passes: one op that writes it (``minimum`` for the forward, a
  tensor-bounded ``clamp`` for the input gradient, see the identities below) and one
  reduction (``sum``; ``bmm`` for the input gradient, a batched ``[1, O] @ [O, K]``,
  which beats ``mul`` + ``sum`` because it never writes the product). Tiles are
  row-major, ``[rows, O, K]``, and both ops split them between threads by rows, so each
  thread reads back what it wrote (see ``_grad_input_hardtanh`` for why that matters);
- ``torch.cdist(p=1)`` fuses the forward into one pass, but its per-pair loop is scalar
  (~0.8 ns a term against ~0.15 for the two passes here), and its backward is the true
  ``sign`` gradient;
- wherever the ``L·O·K`` terms are linear in ``x`` and ``w`` (the ``full`` gradients and
  the hardtanh filter gradient) the contraction is two matrix products, no tile at all;
  the "sign" mode gets both gradients from one ``sign(w - x)`` tile (``sign_grads``).

Those identities trade a pass for a cancellation; each function says why it stays small.
float64 on integer values stays exact (``adderflow.quant.integer_model`` relies on it).

Convolutions come here as rows of patches (``patch_rows``): im2col with channels
innermost, so building the rows and scattering their gradient back are copies along
contiguous channels rather than ``F.unfold``'s transposes, and with both sides shifted by
a filter value per channel on the way, which the ℓ1 forward would otherwise do itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

GRADS = ("hardtanh", "full", "sign")
DEFAULT_CHUNK_ELEMS = 2**20


def tile_shape(n: int, o: int, k: int, chunk_elems: int) -> tuple[int, int]:
    """(rows, filters) of a ``[rows, filters, K]`` tile of at most ~``chunk_elems`` terms.

    Filters are split only when one row's ``O·K`` terms alone exceed the budget, so the
    memory bound holds for wide layers too (ResNet-18's 256·2304 terms per row). Both axes
    are split into near-equal blocks, so no tile is a small leftover.
    """
    per_block = max(1, chunk_elems // max(k, 1))
    o_block = -(-o // -(-o // per_block)) if o > per_block else max(o, 1)
    per_rows = max(1, chunk_elems // max(o_block * k, 1))
    rows = -(-n // -(-n // per_rows)) if n > per_rows else max(n, 1)
    return rows, o_block


def tiles(n: int, o: int, k: int, chunk_elems: int) -> Iterator[tuple[slice, slice]]:
    """(row, filter) slices of the tiles of ``tile_shape``, row blocks outermost."""
    rows, o_block = tile_shape(n, o, k, chunk_elems)
    for r in range(0, n, rows):
        for f in range(0, o, o_block):
            yield slice(r, r + rows), slice(f, f + o_block)


class _Tiles:
    """The tile loop's operands, split up front so each tile runs only its two ops.

    ``split(t, dim)`` cuts a per-row tensor into the row blocks (one C++ call for all of
    them), ``filters(t, dim)`` a per-filter one into the filter blocks; ``buffer(r, f)``
    is the ``[r, f, K]`` scratch view. Per tile this leaves a dictionary lookup and the two
    ops; slicing every operand per tile took ~10 view calls a tile (with 2**16-element
    tiles, dropping them took a ResNet-20 stage-3 step from 81 to 58 ms on one thread).
    """

    def __init__(self, like: Tensor, n: int, o: int, chunk_elems: int) -> None:
        self.k = like.shape[-1]
        self.rows, self.o_block = tile_shape(n, o, self.k, chunk_elems)
        self.whole_filters = self.o_block >= o
        self._buf = like.new_empty(self.rows * self.o_block * self.k)
        self._views: dict[tuple[int, int], Tensor] = {}

    def split(self, t: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
        return t.split(self.rows, dim)

    def filters(self, t: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
        return t.split(self.o_block, dim)

    def buffer(self, r: int, f: int) -> Tensor:
        view = self._views.get((r, f))
        if view is None:
            view = self._views[r, f] = self._buf[: r * f * self.k].view(r, f, self.k)
        return view


def _center(w: Tensor, dim: int) -> Tensor:
    """Along ``dim``, the value nearest the mean: one of the values (so integer inputs stay
    integers) near their middle, at a seventh of the cost of a median."""
    nearest = (w - w.mean(dim, keepdim=True)).abs_().argmin(dim, keepdim=True)
    return w.gather(dim, nearest).squeeze(dim)


def l1_distance(
    x: Tensor, w: Tensor, chunk_elems: int = DEFAULT_CHUNK_ELEMS, *, centered: bool = False
) -> Tensor:
    """``d[l, o] = sum_k |x[l, k] - w[o, k]|`` (non-negative), in ``x``'s dtype.

    ``centered``: the caller already shifted both sides by a filter value per column (as
    ``patch_rows`` and ``filter_rows`` do with ``channel_center``), so skip that copy.
    """
    (n, k), o = x.shape, w.shape[0]
    if not x.is_floating_point():  # integer codes: no rounding to worry about, keep it plain
        return _l1_distance_direct(x, w, chunk_elems)
    if n == 0 or o == 0 or k == 0:
        return x.new_zeros(n, o)
    # |a - b| = a + b - 2 min(a, b) costs one tile pass fewer than sub + abs. Both sides are
    # first shifted by one filter value per column, so the terms that cancel are bounded by
    # |x - w| plus the filters' spread, not by |x| (and integer values stay exact).
    if centered:
        xs_all, ws_all = x, w
    else:
        center = _center(w, 0)
        xs_all, ws_all = x - center, w - center
    mins = x.new_empty(n, o)  # sum_k min(x, w), written tile by tile by the reduction
    t = _Tiles(x, n, o, chunk_elems)
    if t.whole_filters:
        for xs, out in zip(t.split(xs_all.unsqueeze(1)), t.split(mins), strict=True):
            tile = t.buffer(xs.shape[0], o)
            torch.minimum(xs, ws_all, out=tile)
            torch.sum(tile, -1, out=out)
    else:
        w_blocks = t.filters(ws_all)
        for xs, out in zip(t.split(xs_all.unsqueeze(1)), t.split(mins), strict=True):
            for ws, block in zip(w_blocks, t.filters(out, 1), strict=True):
                tile = t.buffer(xs.shape[0], ws.shape[0])
                torch.minimum(xs, ws, out=tile)
                block.copy_(tile.sum(-1))
    out = xs_all.sum(1, keepdim=True) + ws_all.sum(1)
    return out.sub_(mins, alpha=2)


def _l1_distance_direct(x: Tensor, w: Tensor, chunk_elems: int) -> Tensor:
    (n, k), o = x.shape, w.shape[0]
    out = x.new_zeros(n, o)
    if n == 0 or o == 0 or k == 0:
        return out
    t = _Tiles(x, n, o, chunk_elems)
    for xs, out_rows in zip(t.split(x.unsqueeze(1)), t.split(out), strict=True):
        for ws, block in zip(t.filters(w), t.filters(out_rows, 1), strict=True):
            tile = t.buffer(xs.shape[0], ws.shape[0])
            torch.sub(xs, ws, out=tile)
            tile.abs_()
            block.copy_(tile.sum(-1))
    return out


def grad_input(
    x: Tensor, w: Tensor, grad: Tensor, mode: str, chunk_elems: int = DEFAULT_CHUNK_ELEMS
) -> Tensor:
    """``sum_o g[l, o] · phi(w[o, k] - x[l, k])``, ``phi`` = clamp(-1, 1), identity or sign."""
    if mode == "full":
        return grad @ w - grad.sum(1, keepdim=True) * x
    if mode == "hardtanh":
        return _grad_input_hardtanh(x, w, grad, chunk_elems)
    (n, k), o = x.shape, w.shape[0]
    out = torch.zeros_like(x)
    if n == 0 or o == 0 or k == 0:
        return out
    t = _Tiles(x, n, o, chunk_elems)
    w_blocks = t.filters(w)
    operands = zip(
        t.split(x.unsqueeze(1)), t.split(grad.unsqueeze(1)), t.split(out.unsqueeze(1)),
        strict=True,
    )  # fmt: skip
    for xs, gs, acc in operands:
        for ws, g in zip(w_blocks, t.filters(gs, 2), strict=True):
            tile = t.buffer(xs.shape[0], ws.shape[0])
            torch.sub(ws, xs, out=tile)
            tile.sign_()
            acc.baddbmm_(g, tile)
    return out


def _grad_input_hardtanh(x: Tensor, w: Tensor, grad: Tensor, chunk_elems: int) -> Tensor:
    """``clamp(w - x, -1, 1) = w - clamp(x, w - 1, w + 1)``: one tile pass fewer.

    The ``g @ w`` part is a matrix product; the clamped terms are bounded by ``|w| + 1``
    whatever ``x`` is, so the subtraction costs little precision.

    The tile is row-major, ``[rows, O, K]``, so that the clamp that writes it and the bmm
    that reads it (batched over rows) split it between threads the same way: each thread
    reads back what it wrote. A filter-major tile clamps 15% faster on one thread, but its
    bmm then reads half of it from the other core's cache, and on the 2-vCPU benchmark VM
    that made each clamp after a bmm 5x slower (fwd+bwd 2.5x) for seconds to minutes at a
    time (as if the host had put the two vCPUs on different L3 caches).
    """
    (n, k), o = x.shape, w.shape[0]
    out = grad @ w
    if n == 0 or o == 0 or k == 0:
        return out
    t = _Tiles(x, n, o, chunk_elems)
    lows, highs = t.filters(w - 1.0), t.filters(w + 1.0)
    operands = zip(
        t.split(x.unsqueeze(1)), t.split(grad.unsqueeze(1)), t.split(out.unsqueeze(1)),
        strict=True,
    )  # fmt: skip
    if t.whole_filters:
        (low,), (high,) = lows, highs
        for xs, gs, acc in operands:
            tile = t.buffer(xs.shape[0], o)
            torch.clamp(xs, low, high, out=tile)
            acc.baddbmm_(gs, tile, alpha=-1)
        return out
    for xs, gs, acc in operands:
        for low, high, g in zip(lows, highs, t.filters(gs, 2), strict=True):
            tile = t.buffer(xs.shape[0], low.shape[0])
            torch.clamp(xs, low, high, out=tile)
            acc.baddbmm_(g, tile, alpha=-1)
    return out


def grad_weight(
    x: Tensor, w: Tensor, grad: Tensor, mode: str, chunk_elems: int = DEFAULT_CHUNK_ELEMS
) -> Tensor:
    """``sum_l g[l, o] · psi(x[l, k] - w[o, k])``, ``psi`` = identity, or sign for "sign"."""
    if mode != "sign":
        return grad.t() @ x - grad.sum(0)[:, None] * w
    (n, k), o = x.shape, w.shape[0]
    out = torch.zeros_like(w)
    if n == 0 or o == 0 or k == 0:
        return out
    t = _Tiles(x, n, o, chunk_elems)
    w_blocks, acc_blocks = t.filters(w.unsqueeze(1)), t.filters(out.unsqueeze(1))
    for xs, gs in zip(t.split(x), t.split(grad), strict=True):
        g_blocks = t.filters(gs.t().unsqueeze(1))
        for ws, g, acc in zip(w_blocks, g_blocks, acc_blocks, strict=True):
            # Filter-major tile, so the reduction over rows is one bmm per filter.
            tile = t.buffer(ws.shape[0], xs.shape[0])
            torch.sub(xs, ws, out=tile)
            tile.sign_()
            acc.baddbmm_(g, tile)
    return out


def sign_grads(
    x: Tensor, w: Tensor, grad: Tensor, chunk_elems: int = DEFAULT_CHUNK_ELEMS
) -> tuple[Tensor, Tensor]:
    """``grad_input`` and ``grad_weight`` for "sign" from one ``sign(w - x)`` tile each.

    ``sign(x - w) = -sign(w - x)``, so the tile the input gradient reduces over filters is
    the filter gradient's too, reduced over rows (a bmm over its transposed view): two tile
    passes fewer than the two functions apart.
    """
    (n, k), o = x.shape, w.shape[0]
    gx, gw = torch.zeros_like(x), torch.zeros_like(w)
    if n == 0 or o == 0 or k == 0:
        return gx, gw
    t = _Tiles(x, n, o, chunk_elems)
    w_blocks, gw_blocks = t.filters(w), t.filters(gw.unsqueeze(1))
    operands = zip(t.split(x.unsqueeze(1)), t.split(grad), t.split(gx.unsqueeze(1)), strict=True)
    for xs, gs, gx_acc in operands:
        for ws, g, gw_acc in zip(w_blocks, t.filters(gs, 1), gw_blocks, strict=True):
            tile = t.buffer(xs.shape[0], ws.shape[0])
            torch.sub(ws, xs, out=tile)
            tile.sign_()
            gx_acc.baddbmm_(g.unsqueeze(1), tile)
            gw_acc.baddbmm_(g.t().unsqueeze(1), tile.transpose(0, 1), alpha=-1)
    return gx, gw


# ------------------------------------------------------------------- convolution patches


def channel_center(w: Tensor) -> Tensor | None:
    """Per input channel of ``[O, C, kh, kw]`` filters, one of its filter values near their
    middle: the shift ``patch_rows`` and ``filter_rows`` apply (``None`` for integers)."""
    if not w.is_floating_point() or w.numel() == 0:
        return None
    return _center(w.detach().transpose(0, 1).reshape(w.shape[1], -1), 1)


def filter_rows(w: Tensor, shift: Tensor | None = None) -> Tensor:
    """``[O, C, kh, kw]`` filters as ``[O, kh·kw·C]`` rows, in ``patch_rows``' column order,
    minus ``shift[c]`` if given."""
    rows = w.permute(0, 2, 3, 1)
    return (rows if shift is None else rows - shift).reshape(w.shape[0], -1)


def patch_rows(
    x: Tensor, kernel: tuple[int, int], geo: tuple, shift: Tensor | None = None
) -> Tensor:
    """im2col of ``x [N, C, H, W]`` as ``[N·Hout·Wout, kh·kw·C]`` rows, channels innermost.

    ``geo`` is ``(stride, padding, dilation)``, each a pair. ``F.unfold`` orders a patch
    channel-major, so its rows are a transpose away, a strided copy, and so is col2im's
    input in the backward (3.1 and 4.8 ms of a 48 ms ResNet-20 stage-3 step on one
    thread; 0.2 and 0.5 ms here). With channels innermost the copy into rows and the
    backward's scatter-add both run along contiguous channels. The order of a row's
    columns does not matter to the kernels as long as the filters use the same one
    (``filter_rows``).

    ``shift`` (per channel, not differentiated) is subtracted on the way, padding included
    (a padded pixel becomes ``-shift``): the kernels only see differences ``x - w``, so
    shifting both sides changes nothing but saves ``l1_distance`` its own centering copy.
    """
    return _PatchRows.apply(x, kernel, geo, shift)


class _PatchRows(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, x: Tensor, kernel: tuple[int, int], geo: tuple, shift: Tensor | None
    ) -> Tensor:
        (n, c, h, wd), (kh, kw) = x.shape, kernel
        (sh, sw), (ph, pw), (dh, dw) = geo
        ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        if shift is None:
            padded = x.new_zeros(n, h + 2 * ph, wd + 2 * pw, c)
            padded[:, ph : ph + h, pw : pw + wd] = x.permute(0, 2, 3, 1)
        else:
            padded = x.new_empty(n, h + 2 * ph, wd + 2 * pw, c)
            if ph or pw:
                padded.copy_(shift.neg())
            torch.sub(x.permute(0, 2, 3, 1), shift, out=padded[:, ph : ph + h, pw : pw + wd])
        s_n, s_h, s_w, s_c = padded.stride()
        windows = padded.as_strided(
            (n, ho, wo, kh, kw, c), (s_n, sh * s_h, sw * s_w, dh * s_h, dw * s_w, s_c)
        )
        ctx.geometry = (x.shape, kernel, geo, (ho, wo))
        ctx.channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
        return windows.reshape(n * ho * wo, kh * kw * c)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        (n, c, h, wd), (kh, kw), geo, (ho, wo) = ctx.geometry
        (sh, sw), (ph, pw), (dh, dw) = geo
        taps = grad.reshape(n, ho, wo, kh, kw, c)
        padded = grad.new_zeros(n, h + 2 * ph, wd + 2 * pw, c)
        for i in range(kh):
            rows = slice(i * dh, i * dh + (ho - 1) * sh + 1, sh)
            # One kernel row's taps tap-major first: each add below then runs along whole
            # output rows (wo·C contiguous) instead of C-long pieces 'kh·kw·C' apart.
            row_taps = taps[:, :, :, i].permute(3, 0, 1, 2, 4).contiguous()
            for j in range(kw):
                cols = slice(j * dw, j * dw + (wo - 1) * sw + 1, sw)
                padded[:, rows, cols] += row_taps[j]
        gx = padded[:, ph : ph + h, pw : pw + wd].permute(0, 3, 1, 2)
        fmt = torch.channels_last if ctx.channels_last else torch.contiguous_format
        return gx.contiguous(memory_format=fmt), None, None, None
