"""The distillation methods as small composable objects, and the module the trainer fits.

A ``Method`` holds what a method learns besides the student (PKKD's aligners) and knows
its losses: ``student_loss`` (teacher outputs arrive detached, so a student term never
moves the teacher) and ``teacher_loss`` (labels and, for NGD, feature terms; used for
co-training and for pre-training a teacher). ``DistillModel`` bundles student, teacher and
method into one ``nn.Module``, so the ordinary trainer (``adderflow.train.fit``) trains,
checkpoints and resumes all of it exactly; its forward returns the student's logits.

Methods (teacher → student: loss):

* ``none``: no teacher → adder or binary: cross-entropy.
* ``kd``: pre-trained CNN → adder: Hinton KD.
* ``pkkd``: CNN co-trained (``pkkd_stages=1``) or pre-trained (2) → adder: KD plus kernel
  Gram losses per block, both ramped in.
* ``ngd``: ℓ2 adder pre-trained with class (de)centralization → ℓ1 adder with ``p`` 2→1:
  KD plus normalised penultimate features.
* ``dgrl``: pre-trained CNN → binary with SI units: KD plus block-wise normalised features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from adderflow.config import DistillConfig
from adderflow.distill.dgrl import blockwise
from adderflow.distill.features import FeatureTap, feature_blocks
from adderflow.distill.kd import HintonKD
from adderflow.distill.ngd import inter_class, intra_class, norm_guide
from adderflow.distill.pkkd import KernelAlign, kernel_loss, student_teacher_kernels
from adderflow.distill.table import METHODS
from adderflow.nn.pnorm import progressive_p, set_adder_p


@dataclass
class Outputs:
    logits: Tensor
    features: list[Tensor]

    def detached(self) -> Outputs:
        return Outputs(self.logits.detach(), [f.detach() for f in self.features])


class Method(nn.Module):
    needs_features = False
    co_train = False

    def __init__(self, cfg: DistillConfig) -> None:
        super().__init__()
        self.kd = HintonKD(cfg.temperature, cfg.alpha)

    def student_loss(self, s: Outputs, t: Outputs | None, y: Tensor, progress: float) -> Tensor:
        return self.kd(s.logits, t.logits, y)

    def teacher_loss(self, t: Outputs, y: Tensor) -> Tensor:
        return F.cross_entropy(t.logits, y)

    def on_progress(self, student: nn.Module, progress: float) -> None:
        """Called at the start of each epoch with the training fraction in [0, 1]."""


class Plain(Method):
    def student_loss(self, s, t, y, progress):
        return F.cross_entropy(s.logits, y)


class KD(Method):
    pass


class PKKD(Method):
    needs_features = True

    def __init__(self, cfg: DistillConfig, teacher_channels: list[int]) -> None:
        super().__init__(cfg)
        student_teacher_kernels(cfg.pkkd_kernel)  # refuse an unknown kernel now
        self.kernel, self.weight, self.warmup = cfg.pkkd_kernel, cfg.pkkd_weight, cfg.pkkd_warmup
        self.co_train = cfg.pkkd_stages == 1
        self.align = nn.ModuleList(KernelAlign(c) for c in teacher_channels)

    def ramp(self, progress: float) -> float:
        return 1.0 if self.warmup <= 0 else min(1.0, progress / self.warmup)

    def student_loss(self, s, t, y, progress):
        r = self.ramp(progress)
        kd = HintonKD(self.kd.temperature, self.kd.alpha * r)(s.logits, t.logits, y)
        pairs = zip(s.features, t.features, self.align, strict=True)
        kernel = sum(kernel_loss(fs, align(ft), self.kernel) for fs, ft, align in pairs)
        return kd + self.weight * r * kernel


class NGD(Method):
    needs_features = True

    def __init__(self, cfg: DistillConfig) -> None:
        super().__init__(cfg)
        self.centre, self.separate = cfg.ngd_centre, cfg.ngd_separate
        self.margin, self.guide, self.p_start = cfg.ngd_margin, cfg.ngd_guide, cfg.ngd_p_start
        self.p_span = cfg.ngd_p_span

    def teacher_loss(self, t, y):
        f = t.features[-1]
        return (
            F.cross_entropy(t.logits, y)
            + self.centre * intra_class(f, y)
            + self.separate * inter_class(f, y, self.margin)
        )

    def student_loss(self, s, t, y, progress):
        return self.kd(s.logits, t.logits, y) + self.guide * norm_guide(
            s.features[-1], t.features[-1]
        )

    def on_progress(self, student, progress):
        set_adder_p(student, progressive_p(min(1.0, progress / self.p_span), self.p_start, 1.0))


class DGRL(Method):
    needs_features = True

    def __init__(self, cfg: DistillConfig) -> None:
        super().__init__(cfg)
        self.blocks = cfg.dgrl_blocks

    def student_loss(self, s, t, y, progress):
        return self.kd(s.logits, t.logits, y) + self.blocks * blockwise(s.features, t.features)


# Each name of adderflow.distill.table.METHODS, by the class that implements it.
METHOD_CLASSES: dict[str, type[Method]] = {
    "none": Plain,
    "kd": KD,
    "pkkd": PKKD,
    "ngd": NGD,
    "dgrl": DGRL,
}


def feature_channels(model: nn.Module, sample: Tensor) -> list[int]:
    """Channels of each feature block's output, from one eval-mode forward pass."""
    tap = FeatureTap(feature_blocks(model))
    was = model.training
    model.eval()
    with torch.no_grad():
        model(sample)
    model.train(was)
    tap.remove()
    return [f.shape[1] for f in tap.features()]


def make_method(cfg: DistillConfig, teacher: nn.Module | None, sample: Tensor) -> Method:
    if cfg.method not in METHOD_CLASSES:
        valid = ", ".join(METHODS)
        raise ValueError(f"unknown distillation method {cfg.method!r}; valid: {valid}")
    if cfg.method == "pkkd":
        return PKKD(cfg, feature_channels(teacher, sample))
    return METHOD_CLASSES[cfg.method](cfg)


def start_from_teacher(cfg: DistillConfig, student: nn.Module, teacher: nn.Module | None) -> bool:
    """NGD with ``ngd_init=teacher``: copy the ℓ2 teacher's weights into the ℓ1 student.

    Same architecture, so the state dicts match; at ``p = 2`` the student then starts as
    the teacher, and the ℓ2→ℓ1 schedule moves a trained network instead of a random one.
    Returns whether it copied.
    """
    if cfg.method != "ngd" or cfg.ngd_init != "teacher":
        return False
    if teacher is None:
        raise ValueError("distill.ngd_init=teacher needs the trained ℓ2 teacher")
    student.load_state_dict(teacher.state_dict())
    return True


class DistillModel(nn.Module):
    """Student + teacher + method as one module; ``forward`` returns the student's logits."""

    def __init__(self, student: nn.Module, teacher: nn.Module | None, method: Method) -> None:
        super().__init__()
        self.student, self.teacher, self.method = student, teacher, method
        self.progress = 0.0
        taps = method.needs_features
        self._s_tap = FeatureTap(feature_blocks(student)) if taps else None
        self._t_tap = FeatureTap(feature_blocks(teacher)) if taps and teacher else None
        if teacher is not None and not method.co_train:
            teacher.requires_grad_(False)
        self._student_out: Outputs | None = None
        self._teacher_out: Outputs | None = None

    def train(self, mode: bool = True) -> DistillModel:
        super().train(mode)
        if self.teacher is not None and not self.method.co_train:
            self.teacher.eval()  # a frozen teacher keeps its batch-norm statistics
        return self

    def trained_networks(self) -> list[nn.Module]:
        """The networks this wrapper trains: the student, and a co-trained teacher."""
        co_trained = self.teacher is not None and self.method.co_train
        return [self.student, self.teacher] if co_trained else [self.student]

    def _features(self, tap: FeatureTap | None) -> list[Tensor]:
        return tap.features() if tap is not None else []

    def forward(self, x: Tensor) -> Tensor:
        logits = self.student(x)
        if not self.training:
            return logits
        self._student_out = Outputs(logits, self._features(self._s_tap))
        if self.teacher is not None:
            with torch.set_grad_enabled(self.method.co_train):
                t_logits = self.teacher(x)
            self._teacher_out = Outputs(t_logits, self._features(self._t_tap))
        return logits

    def loss(self, logits: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """The training loss of the last forward pass (the trainer's ``loss_fn``)."""
        del logits, x  # the forward pass cached everything, features included
        s, t = self._student_out, self._teacher_out
        assert s is not None, "DistillModel.loss before a training forward pass"
        loss = self.method.student_loss(s, t.detached() if t else None, y, self.progress)
        if self.method.co_train and t is not None:
            loss = loss + self.method.teacher_loss(t, y)
        return loss

    def set_progress(self, epoch: int, epochs: int) -> None:
        self.progress = epoch / max(epochs - 1, 1)
        self.method.on_progress(self.student, self.progress)


def teacher_loss_fn(method: Method, teacher: nn.Module):
    """The trainer's ``loss_fn`` for pre-training ``teacher`` with ``method``'s teacher loss."""
    tap = FeatureTap(feature_blocks(teacher)) if method.needs_features else None

    def loss(logits: Tensor, _x: Tensor, y: Tensor) -> Tensor:
        return method.teacher_loss(Outputs(logits, tap.features() if tap else []), y)

    return loss


def student_state(state: dict[str, Tensor], part: str = "student") -> dict[str, Tensor]:
    """``part``'s (student or teacher) state dict from a ``DistillModel`` checkpoint.

    A plain model's checkpoint is returned as it is.
    """
    prefix = f"{part}."
    if not any(k.startswith(prefix) for k in state):
        return state
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
