"""A small, resumable trainer: SGD + cosine schedule, AdderNet adaptive LR, atomic checkpoints.

Each epoch ends with an atomic checkpoint holding everything needed to continue. Batches
are shuffled by a generator seeded with ``seed + epoch``, so a resumed run sees the same
batches as an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from adderflow.checkpoint import atomic_write_text, load_checkpoint, save_checkpoint
from adderflow.config import TrainConfig
from adderflow.data import make_loader
from adderflow.errors import AdderflowError
from adderflow.nn import adder_weights, scale_adder_gradients

LossFn = Callable[[Tensor, Tensor, Tensor], Tensor]  # (logits, x, y) -> loss


@dataclass
class History:
    rows: list[dict[str, float]] = field(default_factory=list)

    def to_csv(self) -> str:
        if not self.rows:
            return ""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(self.rows[0]))
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    model.eval()
    outs = [model(torch.from_numpy(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    return torch.cat(outs).argmax(1).numpy()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict(model, x) == y).mean())


def _make_optimizer(model: nn.Module, cfg: TrainConfig, epochs: int):
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    return opt, sched


def _train_epoch(
    model: nn.Module, loader, opt, loss_fn: LossFn, cfg: TrainConfig, name: str, epoch: int
) -> tuple[float, float]:
    model.train()
    adders = adder_weights(model)
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(loader, desc=f"{name} epoch {epoch}", leave=False, disable=None, file=sys.stderr)
    for step, (x, y) in enumerate(bar):
        logits = model(x)
        loss = loss_fn(logits, x, y)
        if not math.isfinite(loss.item()):
            raise AdderflowError(
                f"{name}: loss became {loss.item()} at epoch {epoch}, step {step}; "
                "lower the learning rate or eta"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        scale_adder_gradients(adders, cfg.eta)
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        total_loss += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        bar.set_postfix(loss=f"{total_loss / seen:.4f}")
    return total_loss / seen, correct / seen


def fit(
    model: nn.Module,
    data,
    cfg: TrainConfig,
    *,
    loss_fn: LossFn,
    ckpt_path: Path,
    name: str,
    batch_size: int,
    seed: int,
    log: Callable[[str], None] = print,
    on_epoch: Callable[[int, int], None] | None = None,
) -> History:
    """Train ``model`` for ``cfg.epochs``, resuming from ``ckpt_path`` when it exists.

    ``on_epoch(epoch, epochs)`` runs before each epoch (0-based), resumed ones included:
    schedules that live outside the optimizer (a distillation ramp, NGD's ``p``) hang there.
    """
    opt, sched = _make_optimizer(model, cfg, cfg.epochs)
    history, start = History(), 0
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        history.rows = list(state["history"])
        start = int(state["epoch"]) + 1
        if start < cfg.epochs:
            log(f"[{name}] resuming from {ckpt_path.name} at epoch {start + 1}/{cfg.epochs}")
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        if on_epoch is not None:
            on_epoch(epoch, cfg.epochs)
        loader = make_loader(
            data.train_x, data.train_y, batch_size, shuffle=True, seed=seed + epoch
        )
        loss, train_acc = _train_epoch(model, loader, opt, loss_fn, cfg, name, epoch + 1)
        sched.step()
        test_acc = accuracy(model, data.test_x, data.test_y)
        row = {"epoch": epoch + 1, "loss": loss, "train_acc": train_acc, "test_acc": test_acc}
        history.rows.append(row)
        save_checkpoint(
            ckpt_path,
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "rng": torch.get_rng_state(),
                "epoch": epoch,
                "history": history.rows,
            },
        )
        atomic_write_text(ckpt_path.with_suffix(".csv"), history.to_csv())
        # Logged only once saved: an epoch the log reports is an epoch a resume keeps.
        log(
            f"[{name}] epoch {epoch + 1}/{cfg.epochs}  loss {loss:.4f}  "
            f"train_acc {train_acc:.4f}  test_acc {test_acc:.4f}  "
            f"({time.perf_counter() - t0:.1f}s)"
        )
    return history


def load_trained(model: nn.Module, ckpt_path: Path) -> nn.Module:
    model.load_state_dict(load_checkpoint(ckpt_path)["model"])
    return model.eval()
