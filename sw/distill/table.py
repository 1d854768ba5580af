"""The distillation methods' names and the networks each trains: the one table config, CLI
and ``adderflow.distill.methods`` read. Torch-free, so the config and the hardware side can
import it.

Per method: ``(teacher kind, student kind, teacher co-trained)``; a kind is ``cnn``,
``adder``, ``adder_l2`` (an adder network at p = 2) or ``binary``, and ``None`` means no
teacher.
"""

from __future__ import annotations

from typing import Protocol

ROLES: dict[str, tuple[str | None, str]] = {
    "none": (None, "adder"),
    "kd": ("cnn", "adder"),
    "pkkd": ("cnn", "adder"),
    "ngd": ("adder_l2", "adder"),
    "dgrl": ("cnn", "binary"),
}
METHODS = tuple(ROLES)
PKKD_KERNELS = ("mixed", "gaussian", "linear")  # adderflow.distill.pkkd's Gram kernels
NGD_INITS = ("scratch", "teacher")  # the ℓ1 student's start: random, or the ℓ2 teacher


class _Distill(Protocol):
    method: str
    student: str
    pkkd_stages: int


def method_roles(cfg: _Distill) -> tuple[str | None, str, bool]:
    """``(teacher kind, student kind, teacher co-trained)`` of the configured method."""
    teacher, student = ROLES[cfg.method]
    co_trained = cfg.method == "pkkd" and cfg.pkkd_stages == 1
    return teacher, student if cfg.student == "auto" else cfg.student, co_trained
