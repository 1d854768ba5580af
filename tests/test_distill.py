"""Distillation losses on hand-computed cases, gradient routing, schedules and resume."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from adderflow.config import DistillConfig, TrainConfig
from adderflow.data import DataSplits, load_dataset
from adderflow.distill import DistillModel, HintonKD, make_method, student_state
from adderflow.distill.dgrl import blockwise
from adderflow.distill.methods import Outputs
from adderflow.distill.ngd import inter_class, intra_class, norm_guide
from adderflow.distill.pkkd import gram, kernel_loss
from adderflow.models import digits_net
from adderflow.nn import AdderConv2d
from adderflow.train import fit, seed_everything

# ---- loss values by hand -------------------------------------------------------------


def test_hinton_kd_value():
    s = torch.tensor([[0.0, math.log(3.0)]])  # softmax(s / 1) = (1/4, 3/4)
    t = torch.tensor([[0.0, 0.0]])  # (1/2, 1/2)
    y = torch.tensor([1])
    ce = -math.log(0.75)
    kl = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    got = HintonKD(temperature=1.0, alpha=0.25)(s, t, y)
    assert got.item() == pytest.approx(0.75 * ce + 0.25 * kl, rel=1e-6)


def test_gram_kernels_by_hand():
    f = torch.tensor([[3.0, 4.0], [4.0, 3.0], [0.0, 5.0]])
    lin = gram(f, "linear")
    assert lin[0, 1].item() == pytest.approx(24 / 25) and lin[0, 0].item() == pytest.approx(1)
    # ℓ1 distances: d01 = 2, d02 = 4, d12 = 6; median of the off-diagonal = 4.
    lap = gram(f, "laplacian")
    assert lap[0, 1].item() == pytest.approx(math.exp(-2 / 4))
    assert lap[1, 2].item() == pytest.approx(math.exp(-6 / 4))
    # squared ℓ2: d01 = 2, d02 = 10, d12 = 20; median = 10.
    gau = gram(f, "gaussian")
    assert gau[0, 2].item() == pytest.approx(math.exp(-1.0))
    assert gau[0, 1].item() == pytest.approx(math.exp(-0.2))


def test_kernel_loss_is_zero_for_equal_features_and_positive_otherwise():
    f = torch.randn(6, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    assert kernel_loss(f, f, "gaussian").item() == pytest.approx(0, abs=1e-12)
    assert kernel_loss(f, f, "linear").item() == pytest.approx(0, abs=1e-12)
    assert kernel_loss(f, torch.flip(f, [0]) * 2 + 1, "gaussian").item() > 1e-4


def test_ngd_class_terms_by_hand():
    f = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0]])
    y = torch.tensor([0, 0, 1])
    # centres (1, 0) and (10, 0); squared distances to them 1, 1, 0 over D = 2.
    assert intra_class(f, y).item() == pytest.approx((2 / 3) / 2)
    # ‖c0 − c1‖² / D = 81 / 2 = 40.5: a hinge at margin 50 leaves 9.5, at 10 nothing.
    assert inter_class(f, y, margin=50.0).item() == pytest.approx(9.5)
    assert inter_class(f, y, margin=10.0).item() == 0.0
    assert inter_class(f[:2], y[:2], margin=50.0).item() == 0.0  # one class: no pairs


def test_norm_guide_and_blockwise_by_hand():
    s, t = torch.tensor([[3.0, 4.0]]), torch.tensor([[4.0, 3.0]])
    assert norm_guide(s, t).item() == pytest.approx(0.08)
    assert norm_guide(s, 10 * s).item() == pytest.approx(0.0, abs=1e-12)
    assert blockwise([s, s], [t, 2 * s]).item() == pytest.approx(0.08)
    with pytest.raises(ValueError, match="2 student blocks but 1 teacher"):
        blockwise([s, s], [t])


# ---- gradients reach the right parameters ---------------------------------------------


def _batch(n: int = 16):
    data = load_dataset("digits")
    return torch.from_numpy(data.train_x[:n]), torch.from_numpy(data.train_y[:n])


def _wrapper(method: str, teacher_kind: str, student_kind: str = "adder", **cfg):
    torch.manual_seed(0)
    x, _ = _batch()
    # A binary student has the dense head; its teacher must have the same blocks.
    head = "dense" if student_kind == "binary" else "gap"
    student = digits_net(student_kind, width=4, si=student_kind == "binary", head=head)
    teacher = digits_net(teacher_kind, width=4, head=head) if teacher_kind else None
    distill = DistillConfig(method=method, **cfg)
    model = DistillModel(student, teacher, make_method(distill, teacher, x[:4]))
    return model.train()


def _grads(module: nn.Module) -> list[torch.Tensor | None]:
    return [p.grad for p in module.parameters()]


@pytest.mark.parametrize("method, teacher_kind, student_kind", [
    ("kd", "cnn", "adder"), ("ngd", "adder", "adder"), ("dgrl", "cnn", "binary"),
    ("pkkd", "cnn", "adder"),
])  # fmt: skip
def test_a_frozen_teacher_gets_no_gradient(method, teacher_kind, student_kind):
    model = _wrapper(method, teacher_kind, student_kind, pkkd_stages=2, pkkd_warmup=0.0)
    x, y = _batch()
    model.loss(model(x), x, y).backward()
    assert all(g is None for g in _grads(model.teacher))
    assert all(g is not None for g in _grads(model.student))
    if method == "pkkd":  # the aligners learn from the kernel loss
        assert all(g is not None and g.abs().sum() > 0 for g in _grads(model.method))


def test_co_trained_teacher_learns_from_labels_only():
    model = _wrapper("pkkd", "cnn", pkkd_stages=1, pkkd_warmup=0.0)
    x, y = _batch()
    model.loss(model(x), x, y).backward()
    combined = [g.clone() for g in _grads(model.teacher)]
    model.zero_grad()
    model.teacher.train()
    F.cross_entropy(model.teacher(x), y).backward()
    for a, b in zip(combined, _grads(model.teacher), strict=True):
        torch.testing.assert_close(a, b)


def test_ngd_teacher_loss_reaches_the_teacher_through_its_features():
    from adderflow.distill import teacher_loss_fn

    torch.manual_seed(0)
    x, y = _batch()
    teacher = digits_net("adder", width=4).train()
    method = make_method(DistillConfig(method="ngd", ngd_centre=1.0, ngd_separate=0.0), None, x)
    loss = teacher_loss_fn(method, teacher)
    total = loss(teacher(x), x, y)
    plain = F.cross_entropy(teacher(x), y)
    assert total.item() > plain.item()  # the centralization term is there
    total.backward()
    assert all(p.grad is not None for p in teacher.parameters())


def test_ngd_walks_p_from_two_to_one_and_pkkd_ramps_in():
    model = _wrapper("ngd", "adder", ngd_p_span=1.0)
    adders = [m for m in model.student.modules() if isinstance(m, AdderConv2d)]
    model.set_progress(0, 5)
    assert {m.p for m in adders} == {2.0}
    model.set_progress(2, 5)
    assert {m.p for m in adders} == {1.5}
    model.set_progress(4, 5)
    assert {m.p for m in adders} == {1.0}
    half = _wrapper("ngd", "adder", ngd_p_span=0.5)
    adders = [m for m in half.student.modules() if isinstance(m, AdderConv2d)]
    half.set_progress(1, 9)  # progress 1/8 of the run: a quarter of the way to p = 1
    assert {m.p for m in adders} == {1.75}
    half.set_progress(4, 9)  # halfway: pure ℓ1 from here on
    assert {m.p for m in adders} == {1.0}
    pkkd = _wrapper("pkkd", "cnn", pkkd_warmup=0.5).method
    assert (pkkd.ramp(0.0), pkkd.ramp(0.25), pkkd.ramp(0.9)) == (0.0, 0.5, 1.0)


def test_ngd_student_can_start_as_its_l2_teacher():
    from adderflow.distill import start_from_teacher
    from adderflow.nn.pnorm import set_adder_p

    x, _ = _batch()
    torch.manual_seed(1)
    teacher = digits_net("adder", width=4).eval()
    set_adder_p(teacher, 2.0)
    model = _wrapper("ngd", "adder")
    model.set_progress(0, 5)  # p = 2: the student computes the teacher's distance
    assert not torch.equal(model.student.eval()(x), teacher(x))
    from_teacher = DistillConfig(method="ngd", ngd_init="teacher")
    assert start_from_teacher(from_teacher, model.student, teacher)
    assert torch.equal(model.student(x), teacher(x))
    scratch = DistillConfig(method="ngd")
    assert not start_from_teacher(scratch, model.student, teacher)
    with pytest.raises(ValueError, match="needs the trained"):
        start_from_teacher(from_teacher, model.student, None)


def test_student_loss_sees_only_detached_teacher_outputs():
    model = _wrapper("dgrl", "cnn", "binary")
    x, y = _batch()
    model(x)
    t = model._teacher_out.detached()
    assert not t.logits.requires_grad and not any(f.requires_grad for f in t.features)
    assert isinstance(t, Outputs)


# ---- resume with a teacher inside ----------------------------------------------------


class Interrupt(Exception):
    pass


def _fit_pkkd(path, stop_after: int, total: int):
    seed_everything(0)
    model = _wrapper("pkkd", "cnn", pkkd_stages=1)
    logged = []

    def log(message: str) -> None:
        logged.append(message)
        if len(logged) == stop_after and stop_after < total:
            raise Interrupt

    d = load_dataset("digits")
    small = DataSplits(d.train_x[:192], d.train_y[:192], d.test_x[:64], d.test_y[:64], 10, "d")
    fit(model, small, TrainConfig(epochs=total), loss_fn=model.loss, ckpt_path=path / "m.pt",
        name="s", batch_size=64, seed=0, log=log, on_epoch=model.set_progress)  # fmt: skip
    return model


def test_co_training_resumes_exactly(tmp_path):
    straight = _fit_pkkd(tmp_path / "a", 3, 3)
    with pytest.raises(Interrupt):
        _fit_pkkd(tmp_path / "b", 1, 3)
    resumed = _fit_pkkd(tmp_path / "b", 3, 3)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    student = student_state(straight.state_dict())
    assert set(student) == set(straight.student.state_dict())
    assert set(student_state(straight.state_dict(), "teacher")) == set(
        straight.teacher.state_dict()
    )


def test_unknown_method_and_bad_settings_are_refused():
    from adderflow.config import load_config
    from adderflow.errors import ConfigError

    with pytest.raises(ConfigError, match="distill.method 'fitnet'"):
        load_config(overrides=["distill.method=fitnet"])
    with pytest.raises(ConfigError, match="distill.pkkd_kernel 'poly'"):
        load_config(overrides=["distill.pkkd_kernel=poly"])
    with pytest.raises(ConfigError, match="ngd_p_start must lie in"):
        load_config(overrides=["distill.ngd_p_start=3"])
    with pytest.raises(ConfigError, match="distill.ngd_init 'cnn' is not one of"):
        load_config(overrides=["distill.ngd_init=cnn"])
