"""DGRL: block-wise distillation from a float CNN into a binary CNN with SI shortcuts.

Design (DGRL, Ye et al. 2020, has no public code; methods.md says what is fixed): the
student's every block output is matched to the teacher's corresponding block (same
architecture and width, so shapes agree) by the mean squared difference of the
L2-normalised feature maps — binary blocks cannot reproduce float magnitudes, only their
pattern — summed over blocks, plus Hinton KD on the logits. The student's hidden
convolutions are Squeeze-and-Interaction units (``adderflow.nn.binary``); ``si=False``
builds plain binary convolutions for the ablation.
"""

from __future__ import annotations

from torch import Tensor

from adderflow.distill.ngd import norm_guide


def blockwise(student: list[Tensor], teacher: list[Tensor]) -> Tensor:
    """Sum over blocks of the normalised feature distance (teacher detached)."""
    if len(student) != len(teacher):
        raise ValueError(f"{len(student)} student blocks but {len(teacher)} teacher blocks")
    losses = [norm_guide(s, t.detach()) for s, t in zip(student, teacher, strict=True)]
    return sum(losses[1:], losses[0])
