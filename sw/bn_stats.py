"""Batch-norm statistics recomputed for the current weights (adder networks need it).

An adder layer's outputs ``-Σ|x - w|`` sit far from zero with a small spread across
samples, and every step of the adaptive learning rate moves their mean by more than that
spread. The running averages batch norm keeps (momentum 0.1) then trail the weights by
about ten steps, and in eval mode a student that classifies its training batches
perfectly can sit at chance on the test set until the learning rate decays
(docs/results.md, "Small data: why students stalled"). Recomputing the statistics from
training data with the weights frozen, as SWA's ``update_bn`` does, removes that lag.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def trained_batch_norms(model: nn.Module) -> list[_BatchNorm]:
    """Batch norms with running statistics whose affine parameters are being trained: a
    frozen teacher's are left alone."""
    return [
        m
        for m in model.modules()
        if isinstance(m, _BatchNorm)
        and m.track_running_stats
        and any(p.requires_grad for p in m.parameters(recurse=False))
    ]


@torch.no_grad()
def recompute_batch_norm(
    network: nn.Module, x: np.ndarray, samples: int, batch_size: int = 256
) -> None:
    """Reset and re-estimate ``network``'s trained batch-norm statistics on the first
    ``samples`` rows of ``x``: the plain average of the statistics of near-equal batches of
    at most ``batch_size`` rows, not an exponential one. Every other module runs in eval
    mode, and the modes are restored afterwards."""
    norms = trained_batch_norms(network)
    if not norms or samples <= 0:
        return
    modes = {m: m.training for m in network.modules()}
    momenta = [m.momentum for m in norms]
    device = next(network.parameters()).device
    network.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
        m.train()
    try:
        rows = x[:samples]
        for batch in np.array_split(rows, -(-len(rows) // batch_size)):
            network(torch.from_numpy(np.ascontiguousarray(batch)).to(device))
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        for m, mode in modes.items():
            m.training = mode
