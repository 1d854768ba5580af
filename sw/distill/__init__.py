"""Distillation into adder and binary networks: Hinton KD, PKKD, NGD and DGRL.

Each method is a small object (``adderflow.distill.methods``) whose losses live in their
own modules (``kd``, ``pkkd``, ``ngd``, ``dgrl``); ``DistillModel`` lets the ordinary
trainer fit a student with its teacher and resume it exactly. The methods' names and the
networks they train (``adderflow.distill.table``) import without torch; everything else
loads torch on first use, so the config and the hardware commands never pay for it.
"""

from __future__ import annotations

import importlib
from typing import Any

from adderflow.distill.table import METHODS, method_roles

_LAZY = {
    "HintonKD": "kd",
    "teacher_logits": "kd",
    "DistillModel": "methods",
    "Method": "methods",
    "Outputs": "methods",
    "make_method": "methods",
    "start_from_teacher": "methods",
    "student_state": "methods",
    "teacher_loss_fn": "methods",
}

__all__ = ["METHODS", "method_roles", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'adderflow.distill' has no attribute {name!r}")
    return getattr(importlib.import_module(f"adderflow.distill.{_LAZY[name]}"), name)
