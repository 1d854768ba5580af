"""NGD: norm-guided distillation from an ℓ2 adder teacher to an ℓ1 adder student.

Design (NGD, TIP 2023, has no public code; methods.md says what is fixed):

* **Teacher**: the same architecture with squared-ℓ2 adder layers (``p = 2``), trained on
  the labels plus two terms on its penultimate features ``f`` (the last hidden block):
  intra-class centralization ``mean ‖f_i − c_{y_i}‖² / D`` pulls samples to their batch
  class centre ``c_k``; inter-class decentralization ``mean_{k≠l} relu(m − ‖c_k − c_l‖²/D)``
  pushes centres at least ``m`` apart (a hinge, so it stops once classes are separated
  instead of inflating the features). Features are divided by their dimension ``D`` so
  the weights do not depend on the width.
* **Student**: ℓ1 adder layers trained from ``p = 2`` to ``p = 1`` (the progressive ℓ2→ℓ1
  gradient; between the two the adder layers blend both distances, see
  ``adderflow.nn.pnorm``); ``p`` reaches exactly 1 at the last epoch, so the deployed
  network is a pure ℓ1 ANN. Loss: Hinton KD on the teacher's logits plus the mean squared
  difference of the L2-normalised penultimate features (the "norm guide": the student
  copies where the teacher puts each sample relative to the others, not its scale).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F


def class_centres(f: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Centres of the classes present in the batch, and those classes."""
    classes = torch.unique(y)
    centres = torch.stack([f[y == k].mean(0) for k in classes])
    return centres, classes


def intra_class(f: Tensor, y: Tensor) -> Tensor:
    """Mean squared distance of each sample to its class centre, per feature dimension."""
    f = f.flatten(1)
    centres, classes = class_centres(f, y)
    index = torch.searchsorted(classes, y)
    return (f - centres[index]).square().sum(1).mean() / f.shape[1]


def inter_class(f: Tensor, y: Tensor, margin: float) -> Tensor:
    """Hinge on the squared distances between class centres (per dimension)."""
    f = f.flatten(1)
    centres, _ = class_centres(f, y)
    if len(centres) < 2:
        return f.new_zeros(())
    d = torch.cdist(centres, centres).square() / f.shape[1]
    off = ~torch.eye(len(centres), dtype=torch.bool, device=f.device)
    return F.relu(margin - d[off]).mean()


def norm_guide(student: Tensor, teacher: Tensor) -> Tensor:
    """Squared distance of the L2-normalised features, summed over dims, batch mean."""
    s = F.normalize(student.flatten(1), dim=1)
    t = F.normalize(teacher.flatten(1), dim=1)
    return (s - t).square().sum(1).mean()
