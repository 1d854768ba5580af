"""Every shipped recipe (recipes/*.yaml) loads, builds its networks and trains.

Each recipe goes through the real config loader and the pipeline's own teacher and
student stages, on a few synthetic batches of the recipe's input (no data is downloaded):
one epoch of two steps per trained network, batch 2. CIFAR recipes run at their 32×32
input; the ImageNet networks are fully convolutional with global pooling, so they run
unchanged at 32×32 here (one adder ResNet-50 step at 224×224 takes about two minutes on
this CPU).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from adderflow import train_flow
from adderflow.checkpoint import load_checkpoint
from adderflow.config import MODEL_ARCHS, load_config
from adderflow.data import DataSplits
from adderflow.distill import method_roles
from adderflow.models import ZOO
from adderflow.runs import Run
from adderflow.train import seed_everything

RECIPES = sorted((Path(__file__).parents[1] / "recipes").glob("*.yaml"))
SMOKE = [
    "teacher.epochs=1",
    "student.epochs=1",
    "data.batch_size=2",
    "teacher.tensorboard=false",
    "student.tensorboard=false",
]
# data.name: (input shape, classes) of the synthetic stand-in
INPUTS = {
    "cifar10": ((3, 32, 32), 10),
    "cifar100": ((3, 32, 32), 100),
    "folder": ((3, 32, 32), 1000),
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Batch-2 steps gain nothing from threads, and on a shared CPU OpenMP's waiting for
    busy cores made them 8x slower (measured: 67 s against 8 s for a GhostNet recipe)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _synthetic(name: str) -> DataSplits:
    shape, classes = INPUTS[name]
    rng = np.random.default_rng(0)
    x = rng.random((6, *shape), dtype=np.float32)
    y = rng.integers(0, classes, 6).astype(np.int64)
    return DataSplits(x[:4], y[:4], x[4:], y[4:], classes, name)


def test_the_papers_recipes_are_shipped():
    names = {p.stem for p in RECIPES}
    assert {
        "cifar10_resnet20_pkkd",
        "cifar10_resnet20_ngd",
        "cifar10_resnet32_pkkd",
        "cifar10_resnet32_ngd",
        "imagenet_resnet18_pkkd",
        "imagenet_resnet50_pkkd",
        "imagenet_ghostnet_1x_ngd",
        "imagenet_ghostnet_0_5x_ngd",
        "imagenet_binary_resnet18_dgrl",
    } <= names


def test_config_arch_names_are_the_zoo():
    assert set(MODEL_ARCHS) == set(ZOO)


def test_cifar_recipes_hold_the_addernet_schedule():
    for path in RECIPES:
        if not path.stem.startswith("cifar10_"):
            continue
        cfg = load_config(path)
        s = cfg.student
        assert (s.epochs, s.lr, s.momentum, s.weight_decay, s.schedule, s.eta) == (
            400,
            0.1,
            0.9,
            5e-4,
            "cosine",
            0.2,
        ), path.name
        assert cfg.data.batch_size == 256 and cfg.data.name == "cifar10"


def _batch_statistics(build):
    """``train_flow.build_model`` whose batch norms always use the batch's own statistics.

    A pre-trained teacher works in eval mode in the student stage. After two smoke steps
    its running statistics are still about their initial (0, 1), and at the deep stages
    of a 32×32 input they would come from 2 to 8 values per channel anyway; with them an
    ℓ2-adder GhostNet's eval-mode outputs (sums of squared distances) grow layer by layer
    to inf, as they do at init (measured). A real run's statistics settle over thousands
    of full-size batches. The smoke test checks the recipe's wiring, not those numbers,
    so every batch norm here normalizes with its batch's statistics (no running ones).
    """

    def model(run, kind):
        net = build(run, kind)
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.track_running_stats = False
                m.running_mean = m.running_var = m.num_batches_tracked = None
        return net

    return model


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_trains_a_few_steps(path, tmp_path, monkeypatch):
    monkeypatch.setattr(train_flow, "build_model", _batch_statistics(train_flow.build_model))
    cfg = load_config(path, SMOKE)
    run = Run(out=tmp_path, cfg=cfg, _data=_synthetic(cfg.data.name))
    teacher_kind, student_kind, co_trained = method_roles(cfg.distill)
    seed_everything(cfg.seed)
    initial = train_flow.build_model(run, student_kind).state_dict()  # what stage_student builds

    train_flow.stage_teacher(run)
    train_flow.stage_student(run)

    roles = ["student"] + (["teacher"] if teacher_kind and not co_trained else [])
    for role in roles:
        history = load_checkpoint(tmp_path / "checkpoints" / f"{role}.pt")["history"]
        assert len(history) == 1 and math.isfinite(history[0]["loss"]), role
    trained = train_flow.trained_model(run, "student").state_dict()
    assert trained.keys() == initial.keys()
    moved = [
        k for k, v in initial.items() if v.is_floating_point() and not torch.equal(v, trained[k])
    ]
    assert moved, "no student parameter changed"
    assert all(torch.isfinite(v).all() for v in trained.values() if v.is_floating_point())
    if cfg.distill.method == "dgrl":  # DGRL's student is the SI network, its teacher plain
        assert any(".unit1." in k for k in trained)
