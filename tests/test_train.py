"""The trainer: exact resume, non-finite stops naming the layer, schedules, logs, AMP."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.nn import functional as F

from adderflow.config import TrainConfig, dump_config, load_config
from adderflow.data import DataSplits, load_dataset
from adderflow.errors import AdderflowError, ConfigError
from adderflow.models import digits_net
from adderflow.run_paths import tensorboard_of
from adderflow.train import (
    AUGMENT_PAD,
    Precision,
    _train_epoch,
    augment_batch,
    default_milestones,
    find_nonfinite,
    fit,
    full_precision_adders,
    make_scheduler,
    precision_for,
    resolve_device,
    seed_everything,
)


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


# --- non-finite values name the layer -------------------------------------------------


def test_nan_names_the_first_bad_parameter(tmp_path):
    # lr = nan: the first step turns every weight into nan; the second step's loss is nan
    # and the first parameter in module order is named.
    with pytest.raises(AdderflowError, match=r"parameter 'blocks\.0\.conv\.weight' of layer"):
        _fit(tmp_path, 1, 1, {"lr": float("nan")})


class Log(nn.Module):
    def forward(self, x):
        return torch.log(x)  # nan for negative inputs


class SqrtOfZero(nn.Module):
    """Adds sqrt(0·w) = 0: a finite output whose gradient w.r.t. w is 0·inf = nan."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x + torch.sqrt(self.w * 0.0)


def _fit_net(tmp_path, net, **overrides):
    data = _tiny_data()
    cfg = TrainConfig(**{"epochs": 1, "tensorboard": False, **overrides})
    return fit(
        net,
        data,
        cfg,
        loss_fn=lambda z, _x, y: F.cross_entropy(z, y),
        ckpt_path=tmp_path / "m.pt",
        name="t",
        batch_size=32,
        seed=0,
        log=lambda _m: None,
    )


def _tiny_data(n: int = 64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1, 4, 4)).astype(np.float32)
    y = rng.integers(0, 3, n).astype(np.int64)
    return DataSplits(x, y, x[:16], y[:16], 3, "tiny")


def test_nan_output_names_the_layer(tmp_path):
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), Log(), nn.Linear(8, 3))
    with pytest.raises(AdderflowError) as err:
        _fit_net(tmp_path, net)
    message = str(err.value)
    assert "loss became nan at epoch 1, step 0" in message
    assert "first non-finite: output of layer '2' (Log)" in message
    assert not (tmp_path / "m.pt").exists()  # nothing half-trained was saved


def test_nonfinite_gradient_names_the_parameter(tmp_path):
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3), SqrtOfZero())
    with pytest.raises(AdderflowError) as err:
        _fit_net(tmp_path, net)
    message = str(err.value)
    assert "gradients became non-finite at epoch 1, step 0" in message
    assert "gradient of parameter '2.w' of layer '2' (SqrtOfZero)" in message
    assert torch.equal(net[2].w.detach(), torch.ones(1))  # the bad step was not taken


def test_find_nonfinite_reports_the_input_first():
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x = torch.zeros(2, 1, 4, 4)
    assert find_nonfinite(net, x) is None
    x[1, 0, 0, 0] = float("inf")
    assert find_nonfinite(net, x) == "the input batch"


# --- schedules, clipping, logs ------------------------------------------------------------


def _lrs(cfg: TrainConfig, epochs: int) -> list[float]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = make_scheduler(opt, cfg, epochs)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_step_schedule_values():
    cfg = TrainConfig(lr=1.0, schedule="step", milestones=[2, 4], gamma=0.1)
    assert _lrs(cfg, 6) == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    # No milestones: at 50% and 75% of the epochs (He et al.'s CIFAR ResNet schedule).
    assert default_milestones(8) == [4, 6]
    cfg = TrainConfig(lr=0.1, schedule="step", gamma=0.5)
    assert _lrs(cfg, 8) == pytest.approx([0.1] * 4 + [0.05] * 2 + [0.025] * 2)


def test_cosine_schedule_values():
    cfg = TrainConfig(lr=0.1, schedule="cosine")
    expected = [0.1 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    assert _lrs(cfg, 4) == pytest.approx(expected)  # 0.1, 0.0854, 0.05, 0.0146


def test_fit_follows_the_step_schedule_and_logs_tensorboard(tmp_path):
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    history = _fit_net(
        tmp_path,
        net,
        epochs=3,
        lr=0.2,
        schedule="step",
        milestones=[1, 2],
        gamma=0.5,
        tensorboard=True,
    )
    assert [r["lr"] for r in history.rows] == pytest.approx([0.2, 0.1, 0.05])
    events = tensorboard_of(tmp_path / "m.pt", "t")
    assert events == tmp_path / "tensorboard" / "t"
    assert list(events.glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(events))
    acc.Reload()
    assert {"loss", "train_acc", "test_acc", "lr"} <= set(acc.Tags()["scalars"])
    loss = acc.Scalars("loss")
    assert [e.step for e in loss] == [1, 2, 3]
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in history.rows])
    assert [e.value for e in acc.Scalars("lr")] == pytest.approx([0.2, 0.1, 0.05])
    # The CSV beside the checkpoint has the same columns.
    header = (tmp_path / "m.csv").read_text().splitlines()[0]
    assert header == "epoch,loss,train_acc,test_acc,lr"


def test_tensorboard_off_writes_no_events(tmp_path):
    _fit_net(tmp_path, nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), tensorboard=False)
    assert not (tmp_path / "tensorboard").exists()


def test_gradient_clipping_bounds_the_step(tmp_path):
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
    # One step (batch = the whole split), plain SGD at lr 1: the step is the clipped gradient.
    data = _tiny_data(32)
    cfg = TrainConfig(epochs=1, lr=1.0, momentum=0.0, weight_decay=0.0, grad_clip=1e-3)
    fit(
        net,
        data,
        replace(cfg, tensorboard=False),
        loss_fn=lambda z, _x, y: F.cross_entropy(z, y),
        ckpt_path=tmp_path / "m.pt",
        name="t",
        batch_size=32,
        seed=0,
        log=lambda _m: None,
    )
    after = torch.cat([p.detach().flatten() for p in net.parameters()])
    assert torch.linalg.vector_norm(after - before).item() == pytest.approx(1e-3, rel=1e-4)


def _one_adder_step(tmp_path, clip_adders: bool) -> tuple[float, float]:
    """One SGD step (lr 1, no momentum or decay) of a stem conv → adder conv → BN → linear
    net with a tiny grad_clip; returns the norms of the adder and the linear weights' steps."""
    from adderflow.nn import AdderConv2d

    torch.manual_seed(0)
    adder = AdderConv2d(2, 4, 3, padding=1)
    head = nn.Linear(4 * 16, 3)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), adder, nn.BatchNorm2d(4), nn.Flatten(), head
    )
    before = [adder.weight.detach().clone(), head.weight.detach().clone()]
    x = torch.rand(32, 1, 4, 4)
    data = DataSplits(x.numpy(), np.arange(32) % 3, x[:8].numpy(), np.arange(8) % 3, 3, "t")
    cfg = TrainConfig(epochs=1, lr=1.0, momentum=0.0, weight_decay=0.0, grad_clip=1e-3,
                      eta=0.2, grad_clip_adders=clip_adders, bn_recompute=0, tensorboard=False)
    fit(net, data, cfg, loss_fn=lambda z, _x, y: F.cross_entropy(z, y),
        ckpt_path=tmp_path / f"m{clip_adders}.pt", name="t", batch_size=32, seed=0,
        log=lambda _m: None)  # fmt: skip
    after = [adder.weight.detach(), head.weight.detach()]
    return tuple(float(torch.linalg.vector_norm(a - b)) for a, b in zip(after, before, strict=True))


def test_grad_clip_leaves_the_adaptive_adder_step_alone(tmp_path):
    adder_step, head_step = _one_adder_step(tmp_path, clip_adders=False)
    # The adaptive LR's step: eta·sqrt(k) for the adder weight; the clip bounds the rest.
    assert adder_step == pytest.approx(0.2 * math.sqrt(4 * 2 * 9), rel=1e-4)
    assert head_step <= 1e-3 * (1 + 1e-4)
    # grad_clip_adders=true (the behaviour before docs/results.md's ablation) clips both.
    adder_step, head_step = _one_adder_step(tmp_path, clip_adders=True)
    assert adder_step <= 1e-3 * (1 + 1e-4) and head_step < 1e-3


def test_batch_norm_statistics_are_recomputed_for_the_current_weights():
    from adderflow.bn_stats import recompute_batch_norm

    torch.manual_seed(0)
    student = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3))
    frozen = nn.BatchNorm2d(3)
    frozen.requires_grad_(False)
    frozen.running_mean.fill_(7.0)
    net = nn.Sequential(student, frozen).train()
    x = np.random.default_rng(0).normal(2.0, 3.0, (300, 1, 6, 6)).astype(np.float32)
    recompute_batch_norm(net, x, samples=260, batch_size=64)  # 5 batches of 52
    with torch.no_grad():
        feats = student[0](torch.from_numpy(x[:260])).reshape(5, 52, 3, 4, 4)
    bn = student[1]
    assert torch.allclose(bn.running_mean, feats.mean((0, 1, 3, 4)), atol=1e-5)
    batch_var = feats.transpose(1, 2).reshape(5, 3, -1).var(-1, unbiased=True).mean(0)
    assert torch.allclose(bn.running_var, batch_var, rtol=1e-4)
    assert bn.momentum == 0.1 and net.training and bn.training  # modes restored
    assert torch.all(frozen.running_mean == 7.0)  # a frozen (teacher's) norm is left alone


# --- mixed precision ----------------------------------------------------------------------


def test_mixed_precision_is_cuda_only():
    cpu = torch.device("cpu")
    assert precision_for(TrainConfig(amp=True), cpu).dtype is None
    assert resolve_device(TrainConfig(device="cpu")) == cpu
    if not torch.cuda.is_available():
        assert resolve_device(TrainConfig(device="auto")) == cpu
        with pytest.raises(AdderflowError, match="no CUDA device"):
            resolve_device(TrainConfig(device="cuda"))


def test_autocast_keeps_adder_layers_in_float32():
    """The autocast path, exercised on the CPU's bf16 autocast (CUDA is the real target)."""
    seed_everything(0)
    model = digits_net("adder", width=4)
    seen = {}

    def record(name):
        def hook(_m, args, out):
            seen[name] = (args[0].dtype, out.dtype)

        return hook

    first, adder = model.blocks[0].conv, model.blocks[1].conv
    assert getattr(adder, "is_adder", False) and not getattr(first, "is_adder", False)
    first.register_forward_hook(record("first"))
    adder.register_forward_hook(record("adder"))
    handles = full_precision_adders(model, "cpu")
    data = load_dataset("digits")
    loader = [(torch.from_numpy(data.train_x[:64]), torch.from_numpy(data.train_y[:64]))]
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss, _ = _train_epoch(
        model,
        loader,
        opt,
        lambda z, _x, y: F.cross_entropy(z, y),
        TrainConfig(),
        "amp",
        1,
        precision=Precision("cpu", torch.bfloat16),
    )
    for h in handles:
        h.remove()
    assert math.isfinite(loss)
    assert seen["first"][1] == torch.bfloat16  # an ordinary convolution autocasts
    assert seen["adder"] == (torch.float32, torch.float32)  # the adder layer does not


# --- the trainer's config keys --------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected", [("[3, 6]", [3, 6]), ("3,6", [3, 6]), ("5", [5]), ("[]", []), ("", [])]
)
def test_milestones_from_the_command_line(text, expected):
    cfg = load_config(None, [f"student.milestones={text}", "student.schedule=step"])
    assert cfg.student.milestones == expected and cfg.student.schedule == "step"


def test_trainer_keys_from_yaml_survive_a_dump(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "teacher:\n  schedule: step\n  milestones: [30, 60]\n  gamma: 0.2\n  nesterov: true\n"
        "  tensorboard: false\n  amp: false\n  device: cpu\n"
        "model:\n  arch: resnet20\n  width_mult: 0.5\n"
    )
    cfg = load_config(path)
    assert cfg.teacher.milestones == [30, 60] and cfg.teacher.gamma == 0.2
    assert cfg.model.arch == "resnet20" and cfg.model.width_mult == 0.5
    dumped = tmp_path / "dumped.yaml"
    dumped.write_text(dump_config(cfg))
    assert load_config(dumped) == cfg  # what a resumed run reads back


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("student.schedule=linear", "student.schedule 'linear' is not one of cosine, step"),
        ("teacher.milestones=[6, 3]", "teacher.milestones must be increasing"),
        ("student.milestones=[0]", "student.milestones must be increasing positive"),
        ("student.milestones=[a]", "needs a int"),
        ("student.gamma=0", "student.gamma must be positive"),
        ("student.device=tpu", "student.device 'tpu' is not one of auto, cpu, cuda"),
        ("model.arch=vgg", "model.arch 'vgg' is not auto or one of"),
        ("model.width_mult=0", "model.width_mult must be positive"),
        ("data.augment=mixup", "data.augment 'mixup' is not one of none, flip, crop_flip"),
        ("model.head=pool", "model.head 'pool' is not one of auto, gap, dense"),
        ("student.bn_recompute=-1", "student.bn_recompute must not be negative"),
    ],
)
def test_bad_trainer_keys_name_the_key(assignment, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, [assignment])


# --- augmentation ---------------------------------------------------------------------------


def _crops(image: torch.Tensor) -> list[torch.Tensor]:
    """Every window crop_flip can produce from one CHW image."""
    pad, (h, w) = AUGMENT_PAD, image.shape[1:]
    out = []
    for source in (image, image.flip(-1)):
        padded = F.pad(source, (pad, pad, pad, pad))
        for dy in range(2 * pad + 1):
            for dx in range(2 * pad + 1):
                out.append(padded[:, dy : dy + h, dx : dx + w])
    return out


def test_crop_flip_values():
    x = torch.arange(2 * 3 * 6 * 5, dtype=torch.float32).reshape(2, 3, 6, 5) + 1
    out = augment_batch(x, "crop_flip", torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    for i in range(len(x)):
        assert any(torch.equal(out[i], c) for c in _crops(x[i]))
    again = augment_batch(x, "crop_flip", torch.Generator().manual_seed(1))
    assert torch.equal(out, again)  # the generator alone decides: resume and DDP match
    assert not torch.equal(out, x)
    # Over many draws every offset and both orientations occur.
    many = x[:1].expand(400, -1, -1, -1)
    got = augment_batch(many, "crop_flip", torch.Generator().manual_seed(2))
    crops = _crops(x[0])
    hits = {next(k for k, c in enumerate(crops) if torch.equal(g, c)) for g in got}
    assert len(hits) > 100 and min(hits) < 81 <= max(hits)


def test_flip_values_and_none():
    x = torch.randn(64, 1, 40)  # 1-D signals flip along their length
    g = torch.Generator().manual_seed(0)
    out = augment_batch(x, "flip", g)
    flipped = [torch.equal(o, s.flip(-1)) for o, s in zip(out, x, strict=True)]
    kept = [torch.equal(o, s) for o, s in zip(out, x, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 16 < sum(flipped) < 48
    assert augment_batch(x, "none", g) is x
