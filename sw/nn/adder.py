"""AdderNet layers (Chen et al., CVPR 2020): outputs are negative ℓ1 distances.

``y[n, o] = -sum_k |x[n, k] - w[o, k]|``. The default backward is AdderNet's, not the
true gradient (Chen et al., Sec. 3.2):

- filters get the full-precision ``x - w``, because the true gradient ``sign(x - w)`` is
  a sign-SGD step that trains badly;
- inputs get ``HardTanh(w - x)``, clipped to ``[-1, 1]`` so the magnitude of the
  un-normalised difference cannot blow up through a deep stack of adder layers.

``grad="full"`` drops the clip (both gradients full precision) and ``grad="sign"`` is the
exact gradient, both for ablations. ``p=2`` swaps the ℓ1 distance for the squared ℓ2 one,
``-sum_k (x - w)^2``, with its exact gradient (it is a matrix product in disguise, so
autograd handles it); ``1 < p < 2`` interpolates the two outputs linearly,
``(2 - p)·ℓ1 + (p - 1)·ℓ2``, which is what ``PNormSchedule`` walks from ℓ2 to ℓ1.

On CPU float tensors the compiled kernel of ``adderflow.nn.adder_cpu`` runs the layers (a
direct convolution: patches read in place, no patch matrix); elsewhere, or where it cannot
be built, convolutions unfold patches into rows and run the row kernels of
``adderflow.nn.adder_kernels`` (or ``adder_triton`` for CUDA tensors), which never hold
more than one tile of the ``N·O·K`` terms; those rows are built channels-innermost and
centered (``adder_kernels.patch_rows``), which spares two transposing copies. See
docs/adder-kernels.md.
Everything is computed in the input dtype, so float64 on integer values is exact
(``adderflow.quant.integer_model`` relies on that).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from types import ModuleType

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F
from torch.nn.modules.utils import _pair, _single

from adderflow.nn import adder_cpu, adder_kernels
from adderflow.nn.adder_kernels import DEFAULT_CHUNK_ELEMS, GRADS

IntOr2 = int | tuple[int, int]

__all__ = [
    "DEFAULT_CHUNK_ELEMS",
    "GRADS",
    "AdderArgumentError",
    "AdderConv1d",
    "AdderConv2d",
    "AdderLinear",
    "adder_conv1d",
    "adder_conv2d",
    "adder_linear",
    "conv_output_size",
]


class AdderArgumentError(ValueError, RuntimeError):
    """Bad adder-layer arguments.

    A ``RuntimeError`` because that is what ``F.conv2d`` raises for the same mistakes (the
    messages are its messages), and a ``ValueError`` because this module always raised one.
    """


# ------------------------------------------------------------------------ the row kernel


def _kernels_for(x: Tensor) -> ModuleType:
    """Triton for CUDA tensors it supports, the compiled CPU kernels (``adder_cpu``) for
    CPU float tensors, the chunked torch kernels otherwise.

    ``ADDERFLOW_ADDER_BACKEND=torch|cpp|triton`` forces one (``triton`` on CPU needs
    ``TRITON_INTERPRET=1``, which is how the tests run it; ``cpp`` raises where the
    compiled kernel cannot be built, where ``auto`` warns once and falls back to torch).
    """
    choice = os.environ.get("ADDERFLOW_ADDER_BACKEND", "auto")
    if choice == "triton" or (choice == "auto" and x.is_cuda):
        try:
            from adderflow.nn import adder_triton
        except ImportError:
            if choice == "triton":
                raise
            return adder_kernels
        if x.dtype in adder_triton.DTYPES:
            return adder_triton
    if choice in ("auto", "cpp") and not x.is_cuda and x.dtype in adder_cpu.DTYPES:
        if choice == "cpp" or adder_cpu.load() is not None:
            return adder_cpu
    return adder_kernels


def _kernel_args(kern: ModuleType, chunk_elems: int) -> dict:
    return {"chunk_elems": chunk_elems} if kern is adder_kernels else {}


class _AdderRowsFn(torch.autograd.Function):
    """``-sum_k |x - w|`` on rows with AdderNet's (or an ablation's) backward."""

    @staticmethod
    def forward(
        ctx, x: Tensor, w: Tensor, grad_mode: str, chunk_elems: int, centered: bool
    ) -> Tensor:
        ctx.save_for_backward(x, w)
        ctx.grad_mode, ctx.chunk_elems = grad_mode, chunk_elems
        kern = _kernels_for(x)
        extra = _kernel_args(kern, chunk_elems)
        ctx.kern = kern  # the backward runs on the forward's backend, whatever changed since
        if centered and kern is adder_kernels:  # both sides already shifted: patch_rows
            extra["centered"] = True
        return kern.l1_distance(x, w, **extra).neg_()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None, None]:
        x, w = ctx.saved_tensors
        # The kernels' phi(w - x) and psi(x - w) already stand for d(-|x - w|)/dx and /dw.
        grad = grad.to(x.dtype)
        kern = ctx.kern
        extra = _kernel_args(kern, ctx.chunk_elems)
        gx = gw = None
        if ctx.grad_mode == "sign" and kern is adder_kernels and all(ctx.needs_input_grad[:2]):
            return (*adder_kernels.sign_grads(x, w, grad, **extra), None, None, None)
        if ctx.needs_input_grad[0]:
            gx = kern.grad_input(x, w, grad, ctx.grad_mode, **extra)
        if ctx.needs_input_grad[1]:
            gw = kern.grad_weight(x, w, grad, ctx.grad_mode, **extra)
        return gx, gw, None, None, None


def _sq_l2_rows(x: Tensor, w: Tensor) -> Tensor:
    """``sum_k (x - w)^2`` as ``|x|^2 - 2 x·w + |w|^2``: a matmul, exact autograd gradient."""
    return (x * x).sum(1, keepdim=True) - 2 * (x @ w.t()) + (w * w).sum(1)


def _check_p_grad(p: float, grad: str) -> None:
    if not 1.0 <= p <= 2.0:
        raise AdderArgumentError(f"adder layer: p must lie in [1, 2], got {p}")
    if grad not in GRADS:
        raise AdderArgumentError(f"adder layer: grad must be one of {GRADS}, got {grad!r}")


def _mix(p: float, neg_l1: Callable[[], Tensor], l2: Callable[[], Tensor]) -> Tensor:
    """Negative distance for ``p``: ℓ1, squared ℓ2, or their linear interpolation."""
    if p == 1.0:
        return neg_l1()  # alone, so the common case pays for no scaling pass
    if p == 2.0:
        return -l2()
    return (2.0 - p) * neg_l1() - (p - 1.0) * l2()


# --------------------------------------------------------------------------- functional


def _check_linear_args(x: Tensor, w: Tensor, chunk_elems: int) -> None:
    if x.dim() != 2 or w.dim() != 2:
        raise AdderArgumentError(
            f"adder_linear wants x [N, K] and w [O, K], got {x.shape}, {w.shape}"
        )
    if x.shape[1] != w.shape[1]:
        raise AdderArgumentError(f"adder_linear: x has K={x.shape[1]} but w has K={w.shape[1]}")
    if x.dtype != w.dtype:
        raise AdderArgumentError(
            f"adder_linear: x is {x.dtype} but w is {w.dtype}; they are subtracted"
        )
    _check_device(x, w)
    if chunk_elems < 1:
        raise AdderArgumentError(f"adder_linear: chunk_elems must be positive, got {chunk_elems}")


def _check_device(x: Tensor, w: Tensor) -> None:
    if x.device != w.device:
        raise AdderArgumentError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{x.device} and {w.device}!"
        )


def adder_linear(
    x: Tensor,
    w: Tensor,
    chunk_elems: int = DEFAULT_CHUNK_ELEMS,
    *,
    p: float = 1.0,
    grad: str = "hardtanh",
) -> Tensor:
    """Dense adder layer ``[N, K] × [O, K] → [N, O]``, ``-sum_k |x - w|``, AdderNet backward.

    ``chunk_elems`` bounds the elements of any ``N·O·K``-shaped temporary; the result does
    not depend on it. ``p`` and ``grad`` are described in the module docstring.
    """
    _check_linear_args(x, w, chunk_elems)
    _check_p_grad(p, grad)
    return _mix(
        p, lambda: _AdderRowsFn.apply(x, w, grad, chunk_elems, False), lambda: _sq_l2_rows(x, w)
    )


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length along one axis, the same formula as ``nn.Conv2d``."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _scalar_name(t: Tensor) -> str:
    return t.new_empty(0).type().rsplit(".", 1)[-1].removesuffix("Tensor")


def _check_conv_args(x: Tensor, w: Tensor, groups: int, geo: tuple, nd: int) -> None:
    """``F.conv2d``'s checks, with its messages (``nd`` = 1 formats them as conv1d's)."""
    stride, padding, dilation = geo
    if x.dim() != 4 or w.dim() != 4:
        shape = list(x.shape[:2]) + list(x.shape[4 - nd :]) if x.dim() == 4 else list(x.shape)
        raise AdderArgumentError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to conv{nd}d, "
            f"but got input of size: {shape}"
        )
    _check_device(x, w)
    if x.dtype != w.dtype:
        raise AdderArgumentError(
            f"expected scalar type {_scalar_name(x)} but found {_scalar_name(w)}"
        )
    if min(stride) < 1:
        raise AdderArgumentError("non-positive stride is not supported")
    if groups < 1:
        raise AdderArgumentError("non-positive groups is not supported")
    _check_conv_channels(x, w, groups, nd)
    _check_conv_extent(x, w, padding, dilation, nd)


def _check_conv_channels(x: Tensor, w: Tensor, groups: int, nd: int) -> None:
    wshape = list(w.shape[:2]) + list(w.shape[4 - nd :])
    xshape = list(x.shape[:2]) + list(x.shape[4 - nd :])
    if w.shape[0] % groups:
        raise AdderArgumentError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at "
            f"dimension 0, but got weight of size [{wshape}] instead"
        )
    if x.shape[1] != w.shape[1] * groups:
        raise AdderArgumentError(
            f"Given groups={groups}, weight of size {wshape}, expected input{xshape} to "
            f"have {w.shape[1] * groups} channels, but got {x.shape[1]} channels instead"
        )


def _check_conv_extent(x: Tensor, w: Tensor, padding: tuple, dilation: tuple, nd: int) -> None:
    axes = range(2 - nd, 2)
    padded = [x.shape[2 + a] + 2 * padding[a] for a in axes]
    extent = [dilation[a] * (w.shape[2 + a] - 1) + 1 for a in axes]
    if any(e > s for e, s in zip(extent, padded, strict=True)):
        raise AdderArgumentError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, extent))}). "
            "Kernel size can't be greater than actual input size"
        )


def _l1_conv_rows(x: Tensor, w: Tensor, groups: int, geo: tuple, grad: str, chunk: int) -> Tensor:
    """Negative ℓ1 distances of every patch to every filter, ``[N·Hout·Wout, O]``."""
    kern = _kernels_for(x)
    if kern in (adder_kernels, adder_cpu):  # channels-innermost patches: patch_rows
        kernel, outs = tuple(w.shape[2:]), []
        for xg, wg in zip(x.chunk(groups, 1), w.chunk(groups, 0), strict=True):
            # the torch kernel's min identity wants both sides centered (adder_kernels)
            shift = adder_kernels.channel_center(wg) if kern is adder_kernels else None
            rows = adder_kernels.patch_rows(xg, kernel, geo, shift)
            filters = adder_kernels.filter_rows(wg, shift)
            outs.append(_AdderRowsFn.apply(rows, filters, grad, chunk, shift is not None))
        return outs[0] if groups == 1 else torch.cat(outs, dim=1)
    stride, padding, dilation = geo
    n, o, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
    cols = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)
    rows = cols.transpose(1, 2).reshape(n * cols.shape[2], -1)
    if groups == 1:
        return _AdderRowsFn.apply(rows, w.reshape(o, -1), grad, chunk, False)
    # unfold orders a patch channel-major, so a group's taps are a contiguous column slice.
    rows_g, w_g = rows.chunk(groups, dim=1), w.reshape(o, -1).chunk(groups, dim=0)
    outs = [
        _AdderRowsFn.apply(r.contiguous(), f, grad, chunk, False)
        for r, f in zip(rows_g, w_g, strict=True)
    ]
    return torch.cat(outs, dim=1)


def _sq_l2_conv(x: Tensor, w: Tensor, groups: int, geo: tuple) -> Tensor:
    """``sum (x - w)^2`` per output, via convolutions (padded pixels are 0, as for ℓ1)."""
    stride, padding, dilation = geo
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    energy = F.conv2d(x * x, torch.ones_like(w), **kw)
    cross = F.conv2d(x, w, **kw)
    return energy - 2 * cross + (w * w).sum((1, 2, 3))[:, None, None]


def adder_conv2d(
    x: Tensor,
    w: Tensor,
    stride: IntOr2 = 1,
    padding: IntOr2 = 0,
    dilation: IntOr2 = 1,
    chunk_elems: int = DEFAULT_CHUNK_ELEMS,
    *,
    groups: int = 1,
    p: float = 1.0,
    grad: str = "hardtanh",
) -> Tensor:
    """Adder convolution ``[N, C, H, W] × [O, C/groups, kh, kw] → [N, O, Hout, Wout]``.

    Geometry and checks follow ``F.conv2d`` (a 3-D input is one unbatched image). Zero
    padding is the contract's: a padded pixel is 0 and takes part, contributing ``|0 - w|``
    (DESIGN.md, numeric contract 3).
    """
    return _adder_conv(x, w, (stride, padding, dilation), chunk_elems, groups, p, grad, nd=2)


def adder_conv1d(
    x: Tensor,
    w: Tensor,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] = 0,
    dilation: int | tuple[int] = 1,
    chunk_elems: int = DEFAULT_CHUNK_ELEMS,
    *,
    groups: int = 1,
    p: float = 1.0,
    grad: str = "hardtanh",
) -> Tensor:
    """Adder convolution ``[N, C, L] × [O, C/groups, k] → [N, O, Lout]``, as ``F.conv1d``."""
    if x.dim() not in (2, 3) or w.dim() != 3:
        raise AdderArgumentError(
            "Expected 2D (unbatched) or 3D (batched) input to conv1d, "
            f"but got input of size: {list(x.shape)}"
        )
    geo = ((1, _single(stride)[0]), (0, _single(padding)[0]), (1, _single(dilation)[0]))
    y = _adder_conv(x.unsqueeze(-2), w.unsqueeze(-2), geo, chunk_elems, groups, p, grad, nd=1)
    return y.squeeze(-2)


def _adder_conv(
    x: Tensor, w: Tensor, geo: tuple, chunk_elems: int, groups: int, p: float, grad: str, nd: int
) -> Tensor:
    geo = tuple(_pair(v) for v in geo)
    if x.dim() == 3 and w.dim() == 4:  # unbatched, as nn.Conv2d accepts
        return _adder_conv(x[None], w, geo, chunk_elems, groups, p, grad, nd)[0]
    _check_conv_args(x, w, groups, geo, nd)
    _check_p_grad(p, grad)
    if chunk_elems < 1:
        raise AdderArgumentError(f"adder_conv: chunk_elems must be positive, got {chunk_elems}")
    n, o = x.shape[0], w.shape[0]
    ho, wo = (
        conv_output_size(x.shape[2 + a], w.shape[2 + a], geo[0][a], geo[1][a], geo[2][a])
        for a in (0, 1)
    )

    def neg_l1() -> Tensor:
        if grad != "full" and _kernels_for(x) is adder_cpu:  # no patch matrix, output as is
            outs = [
                adder_cpu.conv(xg, wg, geo, grad)
                for xg, wg in zip(x.chunk(groups, 1), w.chunk(groups, 0), strict=True)
            ]
            return outs[0] if groups == 1 else torch.cat(outs, dim=1)
        rows = _l1_conv_rows(x, w, groups, geo, grad, chunk_elems)
        return rows.reshape(n, ho, wo, o).permute(0, 3, 1, 2).contiguous()

    return _mix(p, neg_l1, lambda: _sq_l2_conv(x, w, groups, geo))


# ------------------------------------------------------------------------------ modules


class _AdderOptions:
    """``p`` and ``grad`` as plain attributes, settable between steps (``PNormSchedule``)."""

    p: float
    grad: str

    def _options_repr(self) -> str:
        extra = "" if self.p == 1.0 else f", p={self.p}"
        return extra + ("" if self.grad == "hardtanh" else f", grad={self.grad!r}")


class AdderLinear(_AdderOptions, nn.Module):
    """Dense adder layer. No bias: batch norm follows every adder layer (AdderNet)."""

    is_adder = True

    def __init__(
        self, in_features: int, out_features: int, *, p: float = 1.0, grad: str = "hardtanh"
    ) -> None:
        super().__init__()
        _check_p_grad(p, grad)
        self.in_features, self.out_features = in_features, out_features
        self.p, self.grad = p, grad
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        # Kaiming normal (fan-in, std sqrt(2/in)), like AdderConv2d: the reference code's
        # normal init; the batch norm that follows absorbs the output scale.
        nn.init.kaiming_normal_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return adder_linear(x, self.weight, p=self.p, grad=self.grad)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}" + (
            self._options_repr()
        )


def _resolve_padding(
    padding: IntOr2 | str, kernel: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[int, ...]:
    """``nn.Conv2d``'s ``'valid'``/``'same'`` as explicit symmetric pads (odd spans only)."""
    if not isinstance(padding, str):
        return tuple(padding) if isinstance(padding, tuple) else (padding,) * len(kernel)
    if padding == "valid":
        return (0,) * len(kernel)
    spans = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
    if padding == "same" and all(s % 2 == 0 for s in spans):
        return tuple(s // 2 for s in spans)
    raise ValueError(f"adder conv: padding={padding!r} needs symmetric pads; give integers")


class _AdderConvNd(_AdderOptions, nn.Module):
    """Shared construction of ``AdderConv1d``/``AdderConv2d`` (``nn.Conv*d``'s checks)."""

    is_adder = True
    _tuple = staticmethod(_pair)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...],
        padding: int | tuple[int, ...] | str,
        dilation: int | tuple[int, ...],
        groups: int,
        p: float,
        grad: str,
    ) -> None:
        super().__init__()
        if not isinstance(groups, int) or groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        _check_p_grad(p, grad)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = self._tuple(kernel_size), self._tuple(stride)
        self.dilation = self._tuple(dilation)
        self.padding = _resolve_padding(padding, self.kernel_size, self.dilation)
        if isinstance(padding, str) and padding == "same" and set(self.stride) != {1}:
            raise ValueError("padding='same' is not supported for strided convolutions")
        self.p, self.grad = p, grad
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = nn.Parameter(torch.empty(shape))
        # AdderNet's reference code draws filters from a normal distribution; kaiming's
        # fan-in std keeps the first steps comparable with the CNN twin.
        fan_in = in_channels // groups * math.prod(self.kernel_size)
        nn.init.normal_(self.weight, std=math.sqrt(2.0 / fan_in))

    def extra_repr(self) -> str:
        groups = "" if self.groups == 1 else f", groups={self.groups}"
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}"
            + groups
            + self._options_repr()
        )


class AdderConv2d(_AdderConvNd):
    """2-D adder convolution with ``nn.Conv2d``'s geometry attributes (all tuples).

    No bias: batch norm follows every adder layer (AdderNet). ``groups`` works as in
    ``nn.Conv2d``; the hardware path only implements dense (``groups=1``) ones.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOr2,
        stride: IntOr2 = 1,
        padding: IntOr2 | str = 0,
        dilation: IntOr2 = 1,
        groups: int = 1,
        *,
        p: float = 1.0,
        grad: str = "hardtanh",
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, p, grad
        )

    def forward(self, x: Tensor) -> Tensor:
        return adder_conv2d(
            x, self.weight, self.stride, self.padding, self.dilation,
            groups=self.groups, p=self.p, grad=self.grad,
        )  # fmt: skip


class AdderConv1d(_AdderConvNd):
    """1-D adder convolution with ``nn.Conv1d``'s geometry attributes (1-tuples)."""

    _tuple = staticmethod(_single)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] | str = 0,
        dilation: int | tuple[int] = 1,
        groups: int = 1,
        *,
        p: float = 1.0,
        grad: str = "hardtanh",
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, p, grad
        )

    def forward(self, x: Tensor) -> Tensor:
        return adder_conv1d(
            x, self.weight, self.stride, self.padding, self.dilation,
            groups=self.groups, p=self.p, grad=self.grad,
        )  # fmt: skip
