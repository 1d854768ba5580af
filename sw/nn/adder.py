"""AdderNet layers (Chen et al., CVPR 2020): outputs are negative ℓ1 distances.

``y[n, o] = -sum_k |x[n, k] - w[o, k]|``. The backward is AdderNet's, not the true
gradient (Chen et al., Sec. 3.2):

- filters get the full-precision ``x - w``, because the true gradient ``sign(x - w)`` is
  a sign-SGD step that trains badly;
- inputs get ``HardTanh(w - x)``, clipped to ``[-1, 1]`` so the magnitude of the
  un-normalised difference cannot blow up through a deep stack of adder layers.

Nothing here ever holds the full ``N·O·K`` tensor: the forward uses ``torch.cdist`` (a
fused ℓ1 distance, no ``N·O·K`` temporary and ~5x faster on CPU than broadcasting), the
filter gradient reduces to two matrix products, and only the input gradient needs a 3-D
temporary, built one batch chunk of at most about ``chunk_elems`` elements at a time.
Everything is computed in the input dtype, so float64 on integer values is exact (the
quantized torch model relies on that, see ``adderflow.quant.integer_model``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F
from torch.nn.modules.utils import _pair

IntOr2 = int | tuple[int, int]

DEFAULT_CHUNK_ELEMS = 2**24


def _row_chunks(n: int, per_row: int, chunk_elems: int) -> list[slice]:
    """Row slices of a batch of ``n`` so each chunk spans at most ~``chunk_elems`` elements."""
    rows = max(1, chunk_elems // max(per_row, 1))
    return [slice(i, i + rows) for i in range(0, n, rows)]


def _check_linear_args(x: Tensor, w: Tensor, chunk_elems: int) -> None:
    if x.dim() != 2 or w.dim() != 2:
        raise ValueError(f"adder_linear wants x [N, K] and w [O, K], got {x.shape}, {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"adder_linear: x has K={x.shape[1]} but w has K={w.shape[1]}")
    if x.dtype != w.dtype:
        raise ValueError(f"adder_linear: x is {x.dtype} but w is {w.dtype}; they are subtracted")
    if chunk_elems < 1:
        raise ValueError(f"adder_linear: chunk_elems must be positive, got {chunk_elems}")


def _forward(x: Tensor, w: Tensor, chunk_elems: int) -> Tensor:
    """``-sum_k |x - w|``; chunked so one ``cdist`` call never spans more than a chunk."""
    out = x.new_empty(x.shape[0], w.shape[0])
    for rows in _row_chunks(x.shape[0], w.numel(), chunk_elems):
        if x.is_floating_point():
            out[rows] = torch.cdist(x[rows], w, p=1.0)
        else:  # cdist is float-only; integer codes take the broadcast path
            out[rows] = (x[rows, None, :] - w[None]).abs_().sum(-1)
    return out.neg_()


def _grad_input(x: Tensor, w: Tensor, grad: Tensor, chunk_elems: int) -> Tensor:
    """``sum_o g[n,o] · HardTanh(w[o,k] - x[n,k])``, one ``[rows, O, K]`` temporary at a time."""
    out = torch.empty_like(x)
    for rows in _row_chunks(x.shape[0], w.numel(), chunk_elems):
        diff = w[None] - x[rows, None, :]
        diff.clamp_(-1.0, 1.0)
        out[rows] = torch.bmm(grad[rows, None, :], diff).squeeze(1)
    return out


def _grad_weight(x: Tensor, w: Tensor, grad: Tensor) -> Tensor:
    """``sum_n g[n,o] · (x[n,k] - w[o,k]) = g^T x - (sum_n g[n,o]) w[o,k]``: no 3-D tensor."""
    return grad.t() @ x - grad.sum(0)[:, None] * w


class _AdderLinearFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, chunk_elems: int) -> Tensor:
        ctx.save_for_backward(x, w)
        ctx.chunk_elems = chunk_elems
        return _forward(x, w, chunk_elems)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        x, w = ctx.saved_tensors
        grad = grad.to(x.dtype)
        grad_x = _grad_input(x, w, grad, ctx.chunk_elems) if ctx.needs_input_grad[0] else None
        grad_w = _grad_weight(x, w, grad) if ctx.needs_input_grad[1] else None
        return grad_x, grad_w, None


def adder_linear(x: Tensor, w: Tensor, chunk_elems: int = DEFAULT_CHUNK_ELEMS) -> Tensor:
    """Dense adder layer ``[N, K] × [O, K] → [N, O]``, ``-sum_k |x - w|``, AdderNet backward.

    ``chunk_elems`` bounds the elements of any ``N·O·K``-shaped temporary (rows of the batch
    are processed in chunks); the result does not depend on it.
    """
    _check_linear_args(x, w, chunk_elems)
    return _AdderLinearFn.apply(x, w, chunk_elems)


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length along one axis, the same formula as ``nn.Conv2d``."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def adder_conv2d(
    x: Tensor,
    w: Tensor,
    stride: IntOr2 = 1,
    padding: IntOr2 = 0,
    dilation: IntOr2 = 1,
    chunk_elems: int = DEFAULT_CHUNK_ELEMS,
) -> Tensor:
    """Adder convolution ``[N, C, H, W] × [O, C, kh, kw] → [N, O, Hout, Wout]``.

    The patches come from ``F.unfold``, whose zero padding is the contract's: a padded
    pixel is 0 and takes part, contributing ``|0 - w|`` (DESIGN.md, numeric contract 3).
    """
    if x.dim() != 4 or w.dim() != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(f"adder_conv2d wants x [N,C,H,W], w [O,C,kh,kw]: {x.shape}, {w.shape}")
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    n, o, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
    ho, wo = (
        conv_output_size(x.shape[2 + a], w.shape[2 + a], stride[a], padding[a], dilation[a])
        for a in (0, 1)
    )
    if ho < 1 or wo < 1:
        raise ValueError(f"adder_conv2d: input {tuple(x.shape)} too small for kernel {(kh, kw)}")
    cols = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)
    rows = cols.transpose(1, 2).reshape(n * ho * wo, -1)
    y = adder_linear(rows, w.reshape(o, -1), chunk_elems)
    return y.reshape(n, ho, wo, o).permute(0, 3, 1, 2).contiguous()


class AdderLinear(nn.Module):
    """Dense adder layer. No bias: batch norm follows every adder layer (AdderNet)."""

    is_adder = True

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        # Kaiming normal (fan-in, std sqrt(2/in)), like AdderConv2d: the reference code's
        # normal init; the batch norm that follows absorbs the output scale.
        nn.init.kaiming_normal_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return adder_linear(x, self.weight)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def _resolve_padding(padding: IntOr2 | str, kernel: tuple[int, int], dilation: tuple[int, int]):
    """``nn.Conv2d``'s ``'valid'``/``'same'`` as explicit symmetric pads (odd spans only)."""
    if not isinstance(padding, str):
        return _pair(padding)
    if padding == "valid":
        return (0, 0)
    spans = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
    if padding == "same" and all(s % 2 == 0 for s in spans):
        return (spans[0] // 2, spans[1] // 2)
    raise ValueError(f"AdderConv2d: padding={padding!r} needs symmetric pads; give integers")


class AdderConv2d(nn.Module):
    """2-D adder convolution with ``nn.Conv2d``'s geometry attributes (all tuples).

    No bias and no groups: batch norm follows every adder layer (AdderNet), and the
    hardware path only implements dense adder convolutions.
    """

    is_adder = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOr2,
        stride: IntOr2 = 1,
        padding: IntOr2 | str = 0,
        dilation: IntOr2 = 1,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.dilation = _pair(dilation)
        self.padding = _resolve_padding(padding, self.kernel_size, self.dilation)
        if isinstance(padding, str) and padding == "same" and self.stride != (1, 1):
            raise ValueError("AdderConv2d: padding='same' needs stride 1, as in nn.Conv2d")
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        # AdderNet's reference code draws filters from a normal distribution; kaiming's
        # fan-in std keeps the first steps comparable with the CNN twin.
        fan_in = in_channels * math.prod(self.kernel_size)
        nn.init.normal_(self.weight, std=math.sqrt(2.0 / fan_in))

    def forward(self, x: Tensor) -> Tensor:
        return adder_conv2d(x, self.weight, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}"
        )
