"""AdderNet layers (Chen et al., CVPR 2020): outputs are negative ℓ1 distances.

``y[n, o] = -sum_k |x[n, k] - w[o, k]|``. The backward is AdderNet's, not the true
gradient: the filter gradient is the full-precision ``x - w`` (the sign gradient trains
badly) and the input gradient is ``HardTanh(w - x)`` (clipped so it cannot explode through
deep stacks). Forward and input gradient are computed in batch chunks so no
``N·O·K`` tensor is ever materialised whole.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.modules.utils import _pair


def _chunk_rows(n: int, per_row: int, chunk_elems: int) -> int:
    return max(1, min(n, chunk_elems // max(per_row, 1)))


class _AdderLinearFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, chunk_elems: int) -> Tensor:
        ctx.save_for_backward(x, w)
        ctx.chunk_elems = chunk_elems
        rows = _chunk_rows(x.shape[0], w.numel(), chunk_elems)
        parts = [
            -(x[i : i + rows, None, :] - w[None]).abs().sum(-1) for i in range(0, x.shape[0], rows)
        ]
        return torch.cat(parts) if parts else x.new_zeros(0, w.shape[0])

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, w = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[1]:
            # sum_n g[n,o] (x[n,k] - w[o,k]) without the 3-D tensor
            grad_w = grad.t() @ x - grad.sum(0)[:, None] * w
        if ctx.needs_input_grad[0]:
            rows = _chunk_rows(x.shape[0], w.numel(), ctx.chunk_elems)
            grad_x = torch.cat(
                [
                    (
                        grad[i : i + rows, :, None]
                        * (w[None] - x[i : i + rows, None, :]).clamp(-1, 1)
                    ).sum(1)
                    for i in range(0, x.shape[0], rows)
                ]
            )
        return grad_x, grad_w, None


def adder_linear(x: Tensor, w: Tensor, chunk_elems: int = 2**24) -> Tensor:
    """``[N, K] × [O, K] → [N, O]``, ``-sum_k |x - w|`` with the AdderNet backward."""
    return _AdderLinearFn.apply(x, w, chunk_elems)


def adder_conv2d(x: Tensor, w: Tensor, stride=1, padding=0, dilation=1) -> Tensor:
    """Adder convolution: unfold (zero padding takes part), then ``adder_linear``."""
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    cols = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    flat = cols.transpose(1, 2).reshape(n * ho * wo, -1)
    y = adder_linear(flat, w.reshape(o, -1))
    return y.reshape(n, ho, wo, o).permute(0, 3, 1, 2)


class AdderLinear(nn.Module):
    """Dense adder layer; no bias because batch norm follows every adder layer."""

    is_adder = True

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_normal_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return adder_linear(x, self.weight)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class AdderConv2d(nn.Module):
    """2-D adder convolution with ``nn.Conv2d``'s geometry attributes."""

    is_adder = True

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride, self.padding, self.dilation = _pair(stride), _pair(padding), _pair(dilation)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        # AdderNet's reference code draws filters from a normal distribution.
        nn.init.normal_(
            self.weight, std=math.sqrt(2.0 / (in_channels * math.prod(self.kernel_size)))
        )

    def forward(self, x: Tensor) -> Tensor:
        return adder_conv2d(x, self.weight, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )
