"""A student that stopped learning, told in the log rather than discovered in the report.

An adder student on a small image set can sit at one test accuracy (chance, or a fixed
share of the classes) for tens of epochs while its teacher reached 1.0 within ten. The
sign is a flat test accuracy: a learning network's accuracy moves from epoch to epoch, a
stalled one repeats the same value. ``stall_note`` says so when the last ``EPOCHS`` epochs
moved by at most ``FLAT`` and the student is well below its teacher (or, without a
teacher, at chance).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

EPOCHS = 10  # flat epochs in a row that make a stall
FLAT = 0.01  # test accuracy range over those epochs
GAP = 0.1  # how far below the teacher a stalled student sits


def chance(labels: np.ndarray) -> float:
    """A constant guess's accuracy: the share of the most common test class."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    return float(counts.max() / max(len(labels), 1)) if len(labels) else 0.0


def stall_note(
    accuracies: Sequence[float], chance_level: float, teacher: float | None
) -> str | None:
    """One log line if the student stalled, else None. ``teacher``: its test accuracy."""
    if len(accuracies) < EPOCHS:
        return None
    last = accuracies[-EPOCHS:]
    if max(last) - min(last) > FLAT:
        return None
    now = last[-1]
    if teacher is not None and now <= teacher - GAP:
        against = f"while the teacher reached {teacher:.4f}"
    elif teacher is None and now <= chance_level + FLAT:
        against = "with no teacher to learn from"
    else:
        return None
    first = len(accuracies) - EPOCHS + 1
    return (
        f"stalled: test accuracy {now:.4f} (chance {chance_level:.4f}) in every epoch "
        f"{first}-{len(accuracies)} {against}; consider another student.lr or "
        "distill.method (docs/distillation.md)"
    )


class StallWatch:
    """Checks a training history (the per-epoch CSV ``fit`` writes) before each epoch and
    after training; logs the stall once, the first time it is seen."""

    def __init__(self, history: Path, chance_level: float, teacher: float | None, log) -> None:
        self.history, self.chance, self.teacher, self.log = history, chance_level, teacher, log
        self.note: str | None = None

    def __call__(self, _epoch: int = 0, _epochs: int = 0) -> None:
        if self.note is not None or not self.history.is_file():
            return
        with open(self.history, newline="") as handle:
            accuracies = [float(row["test_acc"]) for row in csv.DictReader(handle)]
        self.note = stall_note(accuracies, self.chance, self.teacher)
        if self.note is not None:
            self.log(f"[student] {self.note}")
