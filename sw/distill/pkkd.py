"""PKKD: kernel-based progressive distillation from a co-trained CNN to an adder network.

Design (PKKD, Xu et al. 2020, has no public code; methods.md says what is fixed):

* **Common space = a kernel's.** An adder layer's response is a negative ℓ1 distance, a
  CNN's a cross-correlation; their raw feature values live on different scales and
  distributions, so we compare each block's features through kernel (Gram) matrices over
  the batch, ``G[i, j] = k(f_i, f_j)``: two feature maps agree when they relate samples
  alike, whatever their units. The default ``mixed`` kernels follow the paper's reading
  of the two layer types: a Laplacian kernel ``exp(-‖a-b‖₁/σ)`` on the adder student's
  features (its own ℓ1 geometry), a Gaussian ``exp(-‖a-b‖²/σ)`` on the CNN teacher's.
  Bandwidths are the batch median distance (detached). ``gaussian`` and ``linear``
  (cosine Gram) use one kernel for both: the ablation in docs/results.md.
* **A learnable 1×1 linear map** on the teacher's (detached) features aligns them before
  the kernel; it learns from the distillation loss only, never moves the teacher.
* **Progressive.** In one-stage mode the CNN teacher trains at the same time, on the
  labels alone; the student learns from its current state. Because an early teacher is
  noise, the distillation weights ramp linearly from 0 to their value over the first
  ``warmup`` fraction of training. Two-stage mode distils from a pre-trained teacher
  (the ramp still applies).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from adderflow.distill.table import PKKD_KERNELS


def _median(d: Tensor) -> Tensor:
    off = d[~torch.eye(len(d), dtype=torch.bool, device=d.device)]
    return off.median().detach().clamp_min(1e-8)


def gram(features: Tensor, kernel: str) -> Tensor:
    """``[B, B]`` kernel matrix of a batch of features (flattened per sample)."""
    f = features.flatten(1)
    if kernel == "linear":
        f = F.normalize(f, dim=1)
        return f @ f.t()
    if kernel == "laplacian":
        d = torch.cdist(f, f, p=1)
    elif kernel == "gaussian":
        d = torch.cdist(f, f, p=2).square()
    else:
        raise ValueError(f"unknown kernel {kernel!r}")
    return torch.exp(-d / _median(d))


def student_teacher_kernels(kernel: str) -> tuple[str, str]:
    if kernel not in PKKD_KERNELS:
        raise ValueError(f"PKKD kernel must be one of {', '.join(PKKD_KERNELS)}, got {kernel!r}")
    return ("laplacian", "gaussian") if kernel == "mixed" else (kernel, kernel)


class KernelAlign(nn.Module):
    """A learnable 1×1 linear map of teacher features (identity at the start)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.eye(channels))

    def forward(self, f: Tensor) -> Tensor:
        # Channel axis 1 for [B, C, ...] maps and [B, C] vectors alike.
        moved = f.movedim(1, -1) @ self.weight.t()
        return moved.movedim(-1, 1)


def kernel_loss(student: Tensor, teacher: Tensor, kernel: str) -> Tensor:
    """Mean squared difference of the two kernel matrices."""
    ks, kt = student_teacher_kernels(kernel)
    return (gram(student, ks) - gram(teacher, kt)).square().mean()
