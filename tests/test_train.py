"""The trainer: exact resume, and a clear error when the loss goes non-finite."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from adderflow.config import TrainConfig
from adderflow.data import load_dataset
from adderflow.errors import AdderflowError
from adderflow.models import digits_net
from adderflow.train import fit, seed_everything


class Interrupt(Exception):
    pass


def _fit(tmp_path, stop_after: int, total: int, cfg_overrides=None):
    """Train for ``total`` epochs, interrupted (as by Ctrl-C) after ``stop_after``."""
    seed_everything(0)
    model = digits_net("adder", width=4)
    cfg = TrainConfig(epochs=total, **(cfg_overrides or {}))
    logged = []

    def log(message: str) -> None:
        logged.append(message)
        if len(logged) == stop_after and stop_after < total:
            raise Interrupt

    history = fit(
        model,
        load_dataset("digits"),
        cfg,
        loss_fn=lambda z, _x, y: F.cross_entropy(z, y),
        ckpt_path=tmp_path / "m.pt",
        name="t",
        batch_size=128,
        seed=0,
        log=log,
    )
    return model, history


def test_resume_reproduces_the_uninterrupted_loss_curve(tmp_path):
    straight, h1 = _fit(tmp_path / "a", 3, 3)
    with pytest.raises(Interrupt):
        _fit(tmp_path / "b", 1, 3)  # interrupted after one epoch
    resumed, h2 = _fit(tmp_path / "b", 3, 3)
    assert [r["epoch"] for r in h2.rows] == [1, 2, 3]
    assert [r["loss"] for r in h1.rows] == [r["loss"] for r in h2.rows]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    with pytest.raises(AdderflowError, match="loss became nan at epoch 1"):
        _fit(tmp_path, 1, 1, {"lr": float("nan")})
