"""Arithmetic operation counts of a PyTorch model, by forward hooks on one sample.

Convention (AdderNet, Chen et al. 2020): a multiplication layer's multiply-accumulate is
one multiplication plus one addition; an adder layer's ``|x - w|`` accumulate is two
additions (the subtraction and the accumulation; the absolute value is a sign flip).
A binary layer (``BinaryConv1d/2d``, DESIGN.md rule 6) is one XNOR and one popcount input
per term; with full-precision inputs (``binary_input=False``) a ±1 weight turns each term
into one addition or subtraction. Its per-channel scale ``alpha`` folds into the batch norm
like a bias, so it is not counted.
(The papers quote 41.17 M MACs for CIFAR ResNet-20; counted layer by layer it is 40.81 M
with 1x1 projection shortcuts — see docs/cost-model.md.)
Batch norm, ReLU and pooling are not arithmetic counted here: BN folds into the
requantization, which the cost model (``adderflow.sim.cost``) counts on the IR.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from adderflow.nn import AdderConv1d, AdderConv2d, AdderLinear
from adderflow.nn.binary import BinaryConv1d, BinaryConv2d

ADDER_LAYERS = (AdderConv1d, AdderConv2d, AdderLinear)


@dataclass
class OpCount:
    add: int = 0
    mul: int = 0
    xnor: int = 0
    popcount: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"add": self.add, "mul": self.mul, "xnor": self.xnor, "popcount": self.popcount}


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
        if isinstance(module, ADDER_LAYERS):
            counts.add += 2 * terms
        elif isinstance(module, (BinaryConv1d, BinaryConv2d)) and module.binary_input:
            counts.xnor += terms
            counts.popcount += terms
        elif isinstance(module, (BinaryConv1d, BinaryConv2d)):
            counts.add += terms
        else:
            counts.mul += terms
            counts.add += terms

    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear, *ADDER_LAYERS)):
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
