"""Binary layers: sign activations and weights, trained with a clipped straight-through estimator.

``BinaryConv1d``/``BinaryConv2d`` compute ``conv(sign(x), alpha · sign(w))`` with
``alpha[o] = mean |w[o]|`` (XNOR-Net's per-output-channel scale, which keeps the output
scale of the full-precision filter). ``sign(0) = +1`` so every code is ±1, as an XNOR
gate needs. Zero padding stays 0 after binarisation: the padded taps do not vote, which
hardware does by masking them out of the popcount.

Gradients use the clipped straight-through estimator: ``d sign(x)/dx = 1`` for
``|x| <= 1`` and 0 beyond, so saturated inputs and weights stop drifting (BinaryConnect,
Courbariaux et al. 2016). The torch ops still multiply; the point of these layers is the
arithmetic they allow, as with the adder layers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def sign_ste(x: Tensor) -> Tensor:
    """±1 codes (``sign(0) = +1``) with the clipped straight-through gradient."""
    return _SignSTE.apply(x)


def binary_weight(w: Tensor) -> Tensor:
    """``alpha[o] · sign(w[o])`` with ``alpha[o] = mean |w[o]|``; the STE passes through sign.

    ``alpha`` keeps its own gradient, so filters are also pulled towards a useful scale.
    """
    alpha = w.abs().mean(dim=tuple(range(1, w.dim())), keepdim=True)
    return alpha * sign_ste(w)


class BinaryConv2d(nn.Conv2d):
    """``nn.Conv2d`` on binarised inputs and scaled binarised weights (no bias by default).

    ``binary_input=False`` keeps full-precision inputs (a binary-weight layer, e.g. for a
    network's first layer).
    """

    def __init__(self, *args, binary_input: bool = True, bias: bool = False, **kwargs) -> None:
        super().__init__(*args, bias=bias, **kwargs)
        self.binary_input = binary_input

    def forward(self, x: Tensor) -> Tensor:
        x = sign_ste(x) if self.binary_input else x
        return self._conv_forward(x, binary_weight(self.weight), self.bias)


class BinaryConv1d(nn.Conv1d):
    """``nn.Conv1d`` counterpart of ``BinaryConv2d``."""

    def __init__(self, *args, binary_input: bool = True, bias: bool = False, **kwargs) -> None:
        super().__init__(*args, bias=bias, **kwargs)
        self.binary_input = binary_input

    def forward(self, x: Tensor) -> Tensor:
        x = sign_ste(x) if self.binary_input else x
        return self._conv_forward(x, binary_weight(self.weight), self.bias)


_CONV = {1: (BinaryConv1d, nn.Conv1d, nn.BatchNorm1d, F.avg_pool1d),
         2: (BinaryConv2d, nn.Conv2d, nn.BatchNorm2d, F.avg_pool2d)}  # fmt: skip


class SqueezeInteraction(nn.Module):
    """Binary block whose full-precision shortcut is gated by squeeze channel attention.

    ``y = BN(binary_conv(x)) + a(x) ⊙ shortcut(x)`` with
    ``a(x) = sigmoid(FC_expand(ReLU(FC_reduce(global_avg_pool(x)))))``, one gate per sample
    and output channel.

    Design choice (after DGRL's squeeze-and-interaction): the attention gates the
    *shortcut*, not the binary branch. The binary branch is what loses information, and the
    full-precision shortcut is what can restore it; letting each sample choose, per channel,
    how much real-valued signal to add keeps the binary path the default (gate → 0 gives a
    plain binary layer) and costs only two small dense layers on pooled features, not a
    full-precision convolution. The squeeze reads the block's input, so the gate knows the
    statistics the binary branch threw away. When the shape changes, the shortcut is
    average pooling (for the stride) and a full-precision 1x1 convolution, as in Bi-Real.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        reduction: int = 4,
        dims: int = 2,
    ) -> None:
        super().__init__()
        if dims not in _CONV:
            raise ValueError(f"SqueezeInteraction: dims must be 1 or 2, got {dims}")
        binary, conv, norm, self._pool = _CONV[dims]
        self.stride = stride
        self.out_channels = out_channels
        self.binary = binary(in_channels, out_channels, kernel_size, stride, kernel_size // 2)
        self.norm = norm(out_channels)
        self.project = (
            conv(in_channels, out_channels, 1, bias=False)
            if in_channels != out_channels
            else nn.Identity()
        )
        # A floor on the width: one or two ReLU units die easily and take the gate with them.
        hidden = max(4, in_channels // reduction)
        self.reduce = nn.Linear(in_channels, hidden)
        self.expand = nn.Linear(hidden, out_channels)

    def attention(self, x: Tensor) -> Tensor:
        """Per-sample, per-output-channel gates in (0, 1), shaped to broadcast over ``y``."""
        squeezed = x.mean(dim=tuple(range(2, x.dim())))
        gate = torch.sigmoid(self.expand(F.relu(self.reduce(squeezed))))
        return gate.reshape(*gate.shape, *([1] * (x.dim() - 2)))

    def shortcut(self, x: Tensor) -> Tensor:
        if self.stride != 1:
            x = self._pool(x, self.stride, self.stride, ceil_mode=True)
        return self.project(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.binary(x)) + self.attention(x) * self.shortcut(x)
