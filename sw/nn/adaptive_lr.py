"""AdderNet's adaptive learning rate, as a gradient rescale that works with any optimizer.

AdderNet's filter gradients have much smaller norms than a CNN's, and the norms differ
from layer to layer (Chen et al., CVPR 2020, Sec. 3.3), so the paper scales each adder
layer's step by ``alpha_l = eta * sqrt(k) / ||grad_l||_2`` with ``k`` the number of
elements of the layer's weight: every adder layer then moves by a gradient of norm
``eta * sqrt(k)``. Rescaling ``.grad`` in place between ``backward()`` and
``optimizer.step()`` gives that to SGD, Adam or any other torch optimizer, which keeps the
trainer free of a custom optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


def adder_weights(model: nn.Module) -> list[nn.Parameter]:
    """Weights of every module that declares ``is_adder`` (each parameter once)."""
    seen: dict[int, nn.Parameter] = {}
    for module in model.modules():
        if getattr(module, "is_adder", False):
            weight = _stored_weight(module)
            seen.setdefault(id(weight), weight)
    return list(seen.values())


def _stored_weight(module: nn.Module) -> nn.Parameter:
    """The trained parameter: under a parametrization (graph QAT's fake quantization)
    ``module.weight`` is computed from it on every access."""
    parametrizations = getattr(module, "parametrizations", None)
    if parametrizations is not None and "weight" in parametrizations:
        return parametrizations["weight"].original
    return module.weight


@torch.no_grad()
def scale_adder_gradients(params: Iterable[nn.Parameter], eta: float) -> None:
    """Rescale each ``p.grad`` in place to norm ``eta * sqrt(p.numel())``.

    Parameters without a gradient are skipped and an all-zero gradient stays zero (there is
    no direction to scale). The scale is computed on the gradient's device without a host
    synchronisation, so it costs nothing noticeable on a GPU.
    """
    for p in params:
        if p.grad is None:
            continue
        norm = torch.linalg.vector_norm(p.grad)
        target = eta * math.sqrt(p.numel())
        scale = torch.where(norm > 0, target / norm, torch.ones_like(norm))
        p.grad.mul_(scale)


class AdaptiveAdderLR:
    """AdderNet's per-layer adaptive learning rate for ``model``'s adder layers.

    Call ``step()`` after ``loss.backward()`` and before ``optimizer.step()``.
    """

    def __init__(self, model: nn.Module, eta: float = 0.2) -> None:
        self.params = adder_weights(model)
        self.eta = eta

    def step(self) -> None:
        scale_adder_gradients(self.params, self.eta)
