"""Arithmetic operation counts of a PyTorch model, by forward hooks on one sample.

Convention (AdderNet, Chen et al. 2020): a multiplication layer's multiply-accumulate is
one multiplication plus one addition; an adder layer's ``|x - w|`` accumulate is two
additions (the subtraction and the accumulation; the absolute value is a sign flip).
(The papers quote 41.17 M MACs for CIFAR ResNet-20; counted layer by layer it is 40.81 M
with 1x1 projection shortcuts — see docs/cost-model.md.)
Batch norm, ReLU and pooling are not arithmetic counted here: BN folds into the
requantization, which the cost model (``adderflow.sim.cost``) counts on the IR.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from adderflow.nn import AdderConv2d, AdderLinear


@dataclass
class OpCount:
    add: int = 0
    mul: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"add": self.add, "mul": self.mul}


def _terms(module: nn.Module, output: torch.Tensor) -> int:
    """Multiply-accumulate (or abs-diff-accumulate) terms of one layer for one sample."""
    # weight[0] holds one output's terms: C_in/groups * kh * kw, or in_features.
    return module.weight[0].numel() * output[0].numel()


@torch.no_grad()
def count_ops(model: nn.Module, input_shape: tuple[int, ...]) -> OpCount:
    counts = OpCount()
    hooks = []

    def hook(module, _inputs, output):
        terms = _terms(module, output)
        if isinstance(module, (AdderConv2d, AdderLinear)):
            counts.add += 2 * terms
        else:
            counts.mul += terms
            counts.add += terms

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear, AdderConv2d, AdderLinear)):
            hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, *input_shape))
    finally:
        for handle in hooks:
            handle.remove()
        model.train(was_training)
    return counts
