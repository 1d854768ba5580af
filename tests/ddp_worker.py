"""Train a small adder network with ``adderflow.train.fit``; alone or under torchrun.

``python tests/ddp_worker.py OUT`` trains in one process; ``torchrun --nproc_per_node 2
tests/ddp_worker.py OUT`` trains the same global batches data-parallel. Rank 0 (or the
only process) saves the final weights and the history to ``OUT/final.pt``.

The network normalizes with GroupNorm, not batch norm: a per-sample normalization gives
every process the statistics the single process sees, so the two runs must agree. Batch
norm over a slice of the batch would not (and SyncBatchNorm is CUDA-only).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from adderflow.config import TrainConfig
from adderflow.data import load_dataset
from adderflow.distributed import is_main
from adderflow.nn import AdderConv2d
from adderflow.train import fit, seed_everything

# 601 training digits in global batches of 64: 9 full batches and one of 25, which two
# processes split 13/12 (the uneven case the gradient weighting is for).
TRAIN_SAMPLES = 601
GLOBAL_BATCH = 64
EPOCHS = 2


def digits_subset():
    d = load_dataset("digits")
    n = TRAIN_SAMPLES
    return replace(
        d,
        train_x=d.train_x[:n],
        train_y=d.train_y[:n],
        test_x=d.test_x[:100],
        test_y=d.test_y[:100],
    )


def network() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.GroupNorm(2, 8),
        nn.ReLU(),
        AdderConv2d(8, 16, 3, stride=2, padding=1),
        nn.GroupNorm(4, 16),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


def train(out: Path) -> tuple[nn.Module, list[dict]]:
    seed_everything(0)
    model = network()
    cfg = TrainConfig(epochs=EPOCHS, lr=0.05, tensorboard=False, device="cpu")
    history = fit(
        model,
        digits_subset(),
        cfg,
        loss_fn=lambda z, _x, y: F.cross_entropy(z, y),
        ckpt_path=out / "ckpt.pt",
        name="ddp",
        batch_size=GLOBAL_BATCH,
        seed=0,
        log=lambda _m: None,
        augment="flip",  # drawn on the global batch: both runs flip the same samples
    )
    return model, history.rows


if __name__ == "__main__":
    out = Path(sys.argv[1])
    model, rows = train(out)
    if is_main():
        torch.save({"model": model.state_dict(), "history": rows}, out / "final.pt")
