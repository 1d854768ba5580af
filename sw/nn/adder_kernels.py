"""Chunked CPU (and fallback) kernels for the ℓ1 "adder" product on rows.

Every adder layer reduces to ``x [L, K]`` rows against ``w [O, K]`` filters: the forward
``d[l, o] = sum_k |x[l, k] - w[o, k]|`` and the two backward contractions over the
``L·O·K`` terms. There is no algebraic shortcut for those terms (each one is distinct), so
the speed comes from doing them in few, large, cache-resident vector passes:

- the terms are built one ``[rows, O, K]`` tile at a time, a tile of about ``chunk_elems``
  elements (2 MiB of float32 by default, which stays in L2 cache). Small tiles pay
  Python overhead per op, big ones spill to memory: 2**19 measured best on ResNet shapes;
- each tile costs two passes: one op that writes it (``minimum`` for the forward, a
  tensor-bounded ``clamp`` for the input gradient, see the identities below) and one
  reduction. ``torch.cdist(p=1)`` fuses the forward into one pass but its per-pair inner
  loop runs ~1.5x slower on CPU, and its backward is the true ``sign`` gradient;
- the input gradient reduces over ``O`` with ``bmm`` (a batched ``[1, O] @ [O, K]``),
  which beats ``mul`` + ``sum(1)`` by ~25% because it never writes the product;
- wherever the ``L·O·K`` terms are linear in ``x`` and ``w`` (the ``full`` gradients and
  the hardtanh filter gradient) the contraction is two matrix products, no tile at all.

Those identities trade a pass for a cancellation; each function says why it stays small.
float64 on integer values stays exact (``adderflow.quant.integer_model`` relies on it).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

GRADS = ("hardtanh", "full", "sign")
DEFAULT_CHUNK_ELEMS = 2**19


def tiles(n: int, o: int, k: int, chunk_elems: int) -> Iterator[tuple[slice, slice]]:
    """(row, filter) slices so that each ``[rows, filters, K]`` tile has ~``chunk_elems``.

    Filters are split only when one row's ``O·K`` terms alone exceed the budget, so the
    memory bound holds for wide layers too (ResNet-18's 256·2304 terms per row).
    """
    o_block = o if o * k <= chunk_elems else max(1, chunk_elems // max(k, 1))
    rows = max(1, chunk_elems // max(o_block * k, 1))
    for r in range(0, n, rows):
        for f in range(0, o, o_block):
            yield slice(r, r + rows), slice(f, f + o_block)


def _tile_buffer(x: Tensor, n: int, o: int, k: int, chunk_elems: int) -> Tensor:
    first = next(tiles(n, o, k, chunk_elems), None)
    if first is None:
        return x.new_empty(0)
    rows, filters = first
    return x.new_empty(len(range(n)[rows]) * len(range(o)[filters]) * k)


def l1_distance(x: Tensor, w: Tensor, chunk_elems: int = DEFAULT_CHUNK_ELEMS) -> Tensor:
    """``d[l, o] = sum_k |x[l, k] - w[o, k]|`` (non-negative), in ``x``'s dtype."""
    (n, k), o = x.shape, w.shape[0]
    if not x.is_floating_point():  # integer codes: no rounding to worry about, keep it plain
        return _l1_distance_direct(x, w, chunk_elems)
    # |a - b| = a + b - 2 min(a, b) costs one tile pass fewer than sub + abs. Both sides are
    # first shifted by one filter value per column, so the terms that cancel are bounded by
    # |x - w| plus the filters' spread, not by |x| (and integer values stay exact).
    center = w.median(0).values if o else w.new_zeros(k)
    xs_all, ws_all = x - center, w - center
    out = xs_all.sum(1, keepdim=True) + ws_all.sum(1)
    buf = _tile_buffer(x, n, o, k, chunk_elems)
    for rows, filters in tiles(n, o, k, chunk_elems):
        xs, ws = xs_all[rows], ws_all[filters]
        tile = buf[: xs.shape[0] * ws.shape[0] * k].view(xs.shape[0], ws.shape[0], k)
        torch.minimum(xs[:, None, :], ws[None], out=tile)
        out[rows, filters] -= 2 * tile.sum(-1)
    return out


def _l1_distance_direct(x: Tensor, w: Tensor, chunk_elems: int) -> Tensor:
    (n, k), o = x.shape, w.shape[0]
    out = x.new_empty(n, o)
    buf = _tile_buffer(x, n, o, k, chunk_elems)
    for rows, filters in tiles(n, o, k, chunk_elems):
        xs, ws = x[rows], w[filters]
        tile = buf[: xs.shape[0] * ws.shape[0] * k].view(xs.shape[0], ws.shape[0], k)
        torch.sub(xs[:, None, :], ws[None], out=tile)
        tile.abs_()
        out[rows, filters] = tile.sum(-1)
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
    buf = _tile_buffer(x, n, o, k, chunk_elems)
    for rows, filters in tiles(n, o, k, chunk_elems):
        xs, ws = x[rows], w[filters]
        tile = buf[: xs.shape[0] * ws.shape[0] * k].view(xs.shape[0], ws.shape[0], k)
        torch.sub(ws[None], xs[:, None, :], out=tile)
        tile.sign_()
        out[rows] += torch.bmm(grad[rows, filters].unsqueeze(1), tile).squeeze(1)
    return out


def _grad_input_hardtanh(x: Tensor, w: Tensor, grad: Tensor, chunk_elems: int) -> Tensor:
    """``clamp(w - x, -1, 1) = w - clamp(x, w - 1, w + 1)``: one tile pass fewer.

    The ``g @ w`` part is a matrix product; the clamped terms are bounded by ``|w| + 1``
    whatever ``x`` is, so the subtraction costs little precision.
    """
    (n, k), o = x.shape, w.shape[0]
    out = grad @ w
    low, high = w - 1.0, w + 1.0
    buf = _tile_buffer(x, n, o, k, chunk_elems)
    for rows, filters in tiles(n, o, k, chunk_elems):
        xs, nf = x[rows], len(range(o)[filters])
        tile = buf[: xs.shape[0] * nf * k].view(xs.shape[0], nf, k)
        torch.clamp(xs[:, None, :], low[filters], high[filters], out=tile)
        out[rows].unsqueeze(1).baddbmm_(grad[rows, filters].unsqueeze(1), tile, alpha=-1)
    return out


def grad_weight(
    x: Tensor, w: Tensor, grad: Tensor, mode: str, chunk_elems: int = DEFAULT_CHUNK_ELEMS
) -> Tensor:
    """``sum_l g[l, o] · psi(x[l, k] - w[o, k])``, ``psi`` = identity, or sign for "sign"."""
    if mode != "sign":
        return grad.t() @ x - grad.sum(0)[:, None] * w
    (n, k), o = x.shape, w.shape[0]
    out = torch.zeros_like(w)
    buf = _tile_buffer(x, n, o, k, chunk_elems)
    for rows, filters in tiles(n, o, k, chunk_elems):
        xs, ws = x[rows], w[filters]
        # Filter-major tile, so the reduction over rows is one bmm per filter.
        tile = buf[: xs.shape[0] * ws.shape[0] * k].view(ws.shape[0], xs.shape[0], k)
        torch.sub(xs[None], ws[:, None, :], out=tile)
        tile.sign_()
        out[filters] += torch.bmm(grad[rows, filters].t().unsqueeze(1), tile).squeeze(1)
    return out
