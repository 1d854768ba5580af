"""AdderNet's adaptive learning rate, as a gradient rescale that works with any optimizer.

Adder-layer gradients are much smaller than a CNN's, so AdderNet scales each adder layer's
step by ``alpha_l = eta * sqrt(k) / ||grad_l||_2`` (``k`` = elements of the layer's
weight). Rescaling ``.grad`` in place between ``backward()`` and ``step()`` does that for
SGD, Adam or any other torch optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


def adder_weights(model: nn.Module) -> list[nn.Parameter]:
    return [m.weight for m in model.modules() if getattr(m, "is_adder", False)]


@torch.no_grad()
def scale_adder_gradients(params: Iterable[nn.Parameter], eta: float) -> None:
    for p in params:
        if p.grad is None:
            continue
        norm = p.grad.norm()
        if norm > 0:
            p.grad.mul_(eta * math.sqrt(p.numel()) / norm)


class AdaptiveAdderLR:
    """Call ``step()`` after ``loss.backward()`` and before ``optimizer.step()``."""

    def __init__(self, model: nn.Module, eta: float = 0.2) -> None:
        self.params = adder_weights(model)
        self.eta = eta

    def step(self) -> None:
        scale_adder_gradients(self.params, self.eta)
