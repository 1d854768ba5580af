"""Distillation into adder and binary networks: Hinton KD, PKKD, NGD and DGRL.

Each method is a small object (``adderflow.distill.methods``) whose losses live in their
own modules (``kd``, ``pkkd``, ``ngd``, ``dgrl``); ``DistillModel`` lets the ordinary
trainer fit a student with its teacher and resume it exactly.
"""

from adderflow.distill.kd import HintonKD, teacher_logits
from adderflow.distill.methods import (
    METHODS,
    DistillModel,
    Method,
    Outputs,
    make_method,
    method_roles,
    start_from_teacher,
    student_state,
    teacher_loss_fn,
)

__all__ = [
    "METHODS",
    "DistillModel",
    "HintonKD",
    "Method",
    "Outputs",
    "make_method",
    "method_roles",
    "start_from_teacher",
    "student_state",
    "teacher_logits",
    "teacher_loss_fn",
]
