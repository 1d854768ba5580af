"""Triton kernels for the ℓ1 adder product on rows, used for CUDA tensors.

Same contract as ``adderflow.nn.adder_kernels`` (``x [L, K]`` rows, ``w [O, K]``
filters): the forward distance and both backward contractions, each fused into one kernel
so the ``L·O·K`` terms live only in registers. Tiles are 3-D ``[rows, filters, k]``
blocks reduced along one axis; accumulation is float32 whatever the input precision
(half inputs would lose the sum otherwise), and the result is cast back on store.

Importing this module imports ``triton``; ``adderflow.nn.adder`` only does so for CUDA
tensors. With ``TRITON_INTERPRET=1`` set before the import the kernels run on CPU
tensors, which is how CI checks them without a GPU.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

MODES = {"hardtanh": 0, "full": 1, "sign": 2}
DTYPES = (torch.float16, torch.bfloat16, torch.float32)
BLOCK = 16  # 16^3 float32 terms per tile: fits registers without spilling


@triton.jit
def _phi(d, MODE: tl.constexpr):
    if MODE == 0:
        d = tl.minimum(tl.maximum(d, -1.0), 1.0)
    elif MODE == 2:
        d = tl.where(d > 0, 1.0, tl.where(d < 0, -1.0, 0.0))
    return d


@triton.jit
def _load(ptr, r, c, n_r, n_c):
    """The ``[len(r), len(c)]`` tile of a row-major ``[n_r, n_c]`` matrix, zero outside."""
    mask = (r[:, None] < n_r) & (c[None, :] < n_c)
    return tl.load(ptr + r[:, None] * n_c + c[None, :], mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _store(ptr, r, c, n_r, n_c, value):
    mask = (r[:, None] < n_r) & (c[None, :] < n_c)
    tl.store(ptr + r[:, None] * n_c + c[None, :], value.to(ptr.dtype.element_ty), mask=mask)


@triton.jit
def _forward_kernel(x_ptr, w_ptr, out_ptr, n_rows, n_filters, n_k,
                    BL: tl.constexpr, BO: tl.constexpr, BK: tl.constexpr):  # fmt: skip
    rl = tl.program_id(0) * BL + tl.arange(0, BL)
    ro = tl.program_id(1) * BO + tl.arange(0, BO)
    acc = tl.zeros((BL, BO), dtype=tl.float32)
    for k0 in range(0, n_k, BK):
        rk = k0 + tl.arange(0, BK)
        x = _load(x_ptr, rl, rk, n_rows, n_k)
        w = _load(w_ptr, ro, rk, n_filters, n_k)
        acc += tl.sum(tl.abs(x[:, None, :] - w[None, :, :]), axis=2)
    _store(out_ptr, rl, ro, n_rows, n_filters, acc)


@triton.jit
def _grad_input_kernel(x_ptr, w_ptr, g_ptr, out_ptr, n_rows, n_filters, n_k,
                       MODE: tl.constexpr, BL: tl.constexpr, BO: tl.constexpr,
                       BK: tl.constexpr):  # fmt: skip
    rl = tl.program_id(0) * BL + tl.arange(0, BL)
    rk = tl.program_id(1) * BK + tl.arange(0, BK)
    x = _load(x_ptr, rl, rk, n_rows, n_k)
    acc = tl.zeros((BL, BK), dtype=tl.float32)
    for o0 in range(0, n_filters, BO):
        ro = o0 + tl.arange(0, BO)
        w = _load(w_ptr, ro, rk, n_filters, n_k)
        # Masked-off filters load g = 0, so their terms vanish whatever phi gives.
        g = _load(g_ptr, rl, ro, n_rows, n_filters)
        acc += tl.sum(g[:, :, None] * _phi(w[None, :, :] - x[:, None, :], MODE), axis=1)
    _store(out_ptr, rl, rk, n_rows, n_k, acc)


@triton.jit
def _grad_weight_kernel(x_ptr, w_ptr, g_ptr, out_ptr, n_rows, n_filters, n_k,
                        MODE: tl.constexpr, BL: tl.constexpr, BO: tl.constexpr,
                        BK: tl.constexpr):  # fmt: skip
    ro = tl.program_id(0) * BO + tl.arange(0, BO)
    rk = tl.program_id(1) * BK + tl.arange(0, BK)
    w = _load(w_ptr, ro, rk, n_filters, n_k)
    acc = tl.zeros((BO, BK), dtype=tl.float32)
    for l0 in range(0, n_rows, BL):
        rl = l0 + tl.arange(0, BL)
        x = _load(x_ptr, rl, rk, n_rows, n_k)
        g = _load(g_ptr, rl, ro, n_rows, n_filters)
        # psi is the identity for hardtanh/full: AdderNet's filter gradient is x - w.
        d = x[:, None, :] - w[None, :, :]
        if MODE == 2:
            d = _phi(d, 2)
        acc += tl.sum(g[:, :, None] * d, axis=0)
    _store(out_ptr, ro, rk, n_filters, n_k, acc)


def _prepare(*tensors: Tensor) -> list[Tensor]:
    for t in tensors:
        if t.dtype not in DTYPES:
            raise TypeError(f"adder_triton: {t.dtype} not supported; use one of {DTYPES}")
    return [t.contiguous() for t in tensors]


def l1_distance(x: Tensor, w: Tensor) -> Tensor:
    """``d[l, o] = sum_k |x[l, k] - w[o, k]|``, float32-accumulated."""
    x, w = _prepare(x, w)
    (n, k), o = x.shape, w.shape[0]
    out = x.new_empty(n, o)
    grid = (triton.cdiv(n, BLOCK), triton.cdiv(o, BLOCK))
    if out.numel():
        _forward_kernel[grid](x, w, out, n, o, k, BL=BLOCK, BO=BLOCK, BK=BLOCK)
    return out


def grad_input(x: Tensor, w: Tensor, grad: Tensor, mode: str) -> Tensor:
    """``sum_o g[l, o] · phi(w[o, k] - x[l, k])`` for AdderNet's three gradient modes."""
    x, w, grad = _prepare(x, w, grad)
    (n, k), o = x.shape, w.shape[0]
    out = torch.empty_like(x)
    grid = (triton.cdiv(n, BLOCK), triton.cdiv(k, BLOCK))
    if out.numel():
        _grad_input_kernel[grid](
            x, w, grad, out, n, o, k, MODE=MODES[mode], BL=BLOCK, BO=BLOCK, BK=BLOCK
        )
    return out


def grad_weight(x: Tensor, w: Tensor, grad: Tensor, mode: str) -> Tensor:
    """``sum_l g[l, o] · psi(x[l, k] - w[o, k])``, ``psi`` the identity or (for sign) sign."""
    x, w, grad = _prepare(x, w, grad)
    (n, k), o = x.shape, w.shape[0]
    out = torch.empty_like(w)
    grid = (triton.cdiv(o, BLOCK), triton.cdiv(k, BLOCK))
    if out.numel():
        _grad_weight_kernel[grid](
            x, w, grad, out, n, o, k, MODE=MODES[mode], BL=BLOCK, BO=BLOCK, BK=BLOCK
        )
    return out
