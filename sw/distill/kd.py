"""Distillation losses. Hinton KD is the baseline every later method must beat."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F


@dataclass
class HintonKD:
    """``(1-α)·CE(z_s, y) + α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T))`` (Hinton et al. 2015).

    The ``T²`` factor keeps the soft-target gradient on the same scale as the hard one
    when ``T`` changes.
    """

    temperature: float = 4.0
    alpha: float = 0.7

    def __call__(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        t = self.temperature
        hard = F.cross_entropy(student_logits, target)
        soft = F.kl_div(
            F.log_softmax(student_logits / t, dim=1),
            F.log_softmax(teacher_logits.detach() / t, dim=1),
            reduction="batchmean",
            log_target=True,
        )
        return (1.0 - self.alpha) * hard + self.alpha * t * t * soft


def teacher_logits(teacher: torch.nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        return teacher(x)
