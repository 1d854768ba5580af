"""The training stages of a run: the teacher, then the distilled student (PyTorch).

``build_model`` makes the run's network of a kind; ``trained_model`` reads one back from
its checkpoint. Only the training, quantization and software-verification stages import
this module, so the hardware commands never load torch.
"""

from __future__ import annotations

from pathlib import Path

from adderflow.config import Config, user_arch
from adderflow.distill.table import method_roles
from adderflow.errors import AdderflowError, ConfigError
from adderflow.runs import Run


def check_models(cfg: Config, data) -> None:
    """The teacher and student build, fit the training devices and take the data's inputs."""
    import torch

    from adderflow.train import resolve_device

    for section in ("teacher", "student"):
        resolve_device(getattr(cfg, section), section)
    probe = Run(out=Path(), cfg=cfg, _data=data)
    sample = torch.from_numpy(data.train_x[:2])
    for kind in method_roles(cfg.distill)[:2]:
        if kind is None:
            continue
        what = f"the {kind} model (model.arch={cfg.model.arch}, width {cfg.model.width}, " \
            f"width_mult {cfg.model.width_mult:g})"  # fmt: skip
        try:
            model = build_model(probe, kind).eval()
            with torch.no_grad():
                model(sample)
        except AdderflowError:
            raise
        except (RuntimeError, ValueError, ZeroDivisionError, IndexError) as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"{what} cannot take {data.name} inputs of shape {tuple(data.input_shape)}: "
                f"{detail}"
            ) from exc


def build_model(run: Run, kind: str):
    """The run's network of ``kind``: cnn | adder | adder_l2 (p = 2) | binary."""
    from adderflow.models import digits_net, mnist1d_net
    from adderflow.nn.pnorm import set_adder_p

    base = "adder" if kind == "adder_l2" else kind
    # SI units belong to DGRL; the plain and KD binary baselines use binary convolutions.
    si = run.cfg.distill.method == "dgrl" and run.cfg.distill.dgrl_si
    shape, classes = run.data.input_shape, run.data.num_classes
    if user_arch(run.cfg.model.arch) is not None:
        model = _user_model(run, base, si)
    elif run.cfg.model.arch != "auto":
        model = zoo_model(run.cfg.model.arch, base, run.cfg.model.width_mult, classes, si, shape)
    elif len(shape) == 2:  # 1-D signals (MNIST-1D): model.width counts channels, 32 = 1.0
        model = mnist1d_net(base, run.cfg.model.width / 32, shape[1], classes, si=si)
    else:
        head = _digits_head(run)
        model = digits_net(
            base, run.cfg.model.width, shape[0], classes, shape[1:], si=si, head=head
        )
    if kind == "adder_l2":
        set_adder_p(model, 2.0)
    return model


def _user_model(run: Run, kind: str, si: bool):
    """``model.arch=module:MODULE:FACTORY``: the user's network (adderflow.models.user)."""
    from adderflow.models.user import user_model

    m = run.cfg.model
    if si:
        raise ConfigError(
            f"model.arch={m.arch}: Squeeze-and-Interaction units (distill.dgrl_si) exist only "
            "for the zoo's resnet18; set distill.dgrl_si=false for plain binary convolutions"
        )
    model = user_model(
        m.arch, kind, num_classes=run.data.num_classes, input_shape=run.data.input_shape,
        width=m.width, width_mult=m.width_mult, dataset=run.data.name,
    )  # fmt: skip
    _check_feature_blocks(model, run.cfg.distill.method, m.arch)
    return model


def _check_feature_blocks(model, method: str, arch: str) -> None:
    """Feature-matching methods read block outputs, which a user's model must name."""
    from adderflow.distill.methods import METHOD_CLASSES

    if METHOD_CLASSES[method].needs_features and not hasattr(model, "feature_blocks"):
        raise ConfigError(
            f"model.arch={arch}: distill.method={method} matches block features, so the model "
            "needs a feature_blocks() method returning the modules whose outputs to match "
            "(docs/your-model.md); or use distill.method=kd or none"
        )


def _digits_head(run: Run) -> str:
    """``model.head``, with auto resolved for the student's kind and the image: a binary
    student's CNN teacher gets the student's head (block-wise distillation pairs blocks)."""
    from adderflow.models.digits import default_head

    if run.cfg.model.head != "auto":
        return run.cfg.model.head
    return default_head(method_roles(run.cfg.distill)[1], run.data.input_shape[1:])


def zoo_model(
    arch: str,
    kind: str,
    width: float,
    num_classes: int,
    si: bool = False,
    input_shape: tuple[int, ...] | None = None,
):
    """``model.arch``'s zoo network of ``kind`` (cnn | adder | binary), taking the data's
    channels (and a 1-D net its signal length) from ``input_shape`` when given: the CIFAR
    ResNets run on 1-channel 8×8 digits too.

    A binary ResNet-18 with ``si`` is DGRL's (``binary_resnet18``: SI units on every binary
    convolution); its CNN teacher is the plain ``resnet18``, block for block.
    """
    from adderflow.models import build

    if kind == "binary" and si:
        if arch not in ("resnet18", "binary_resnet18"):
            raise ConfigError(
                f"model.arch={arch} has no Squeeze-and-Interaction variant (resnet18 has); "
                "set distill.dgrl_si=false for plain binary convolutions"
            )
        arch = "binary_resnet18"
    elif arch == "binary_resnet18":
        arch = "resnet18"  # DGRL's teacher, or the SI-free ablation of its student
    options = {}
    if input_shape is not None:
        options["in_channels"] = input_shape[0]
        if arch == "mnist1d" and len(input_shape) == 2:
            options["length"] = input_shape[1]
    return build(arch, kind, width, num_classes=num_classes, **options)


def fit_role(run: Run, role: str, model, loss_fn, cfg, on_epoch=None) -> None:
    """Train ``model`` as the run's ``role`` (checkpointed, resumable)."""
    from adderflow.train import fit

    fit(
        model,
        run.data,
        cfg,
        loss_fn=loss_fn,
        ckpt_path=run.paths.checkpoint(role),
        name=role,
        batch_size=run.cfg.data.batch_size,
        seed=run.cfg.seed,
        log=run.log,
        on_epoch=on_epoch,
        augment=run.cfg.data.augment,
    )


def _record(run: Run, role: str, model, kind: str, **extra) -> None:
    from adderflow.models import count_params
    from adderflow.train import accuracy

    acc = accuracy(model, run.data.test_x, run.data.test_y)
    entry = {"accuracy": acc, "params": count_params(model), "kind": kind, **extra}
    run.update_metrics(**{role: entry})


def stage_teacher(run: Run) -> None:
    import torch
    from torch.nn import functional as F

    from adderflow.distill import make_method, teacher_loss_fn
    from adderflow.train import seed_everything

    kind, _, co_trained = method_roles(run.cfg.distill)
    if kind is None or co_trained:
        why = "trains no teacher" if kind is None else "co-trains its teacher with the student"
        run.log(f"[teacher] skipped: distill.method={run.cfg.distill.method} {why}")
        return
    seed_everything(run.cfg.seed)
    model = build_model(run, kind)
    sample = torch.from_numpy(run.data.train_x[:8])
    if run.cfg.distill.method == "ngd":
        loss = teacher_loss_fn(make_method(run.cfg.distill, None, sample), model)
    else:
        loss = lambda z, _x, y: F.cross_entropy(z, y)  # noqa: E731
    fit_role(run, "teacher", model, loss, run.cfg.teacher)
    _record(run, "teacher", model, kind)


def trained_model(run: Run, role: str):
    """A trained teacher or student, read from its checkpoint (distillation wrappers too)."""
    from adderflow.checkpoint import load_checkpoint, load_state
    from adderflow.distill import student_state

    teacher_kind, student_kind, co_trained = method_roles(run.cfg.distill)
    if role == "teacher" and teacher_kind is None:
        raise ConfigError(f"distill.method={run.cfg.distill.method} trains no teacher")
    model = build_model(run, teacher_kind if role == "teacher" else student_kind)
    # A co-trained teacher lives in the student's distillation checkpoint.
    path = run.paths.checkpoint("student" if role == "teacher" and co_trained else role)
    load_state(model, student_state(load_checkpoint(path)["model"], role), path)
    return model.eval()


def stage_student(run: Run) -> None:
    import torch

    from adderflow.distill import DistillModel, make_method, start_from_teacher
    from adderflow.train import seed_everything

    teacher_kind, student_kind, co_trained = method_roles(run.cfg.distill)
    seed_everything(run.cfg.seed)
    student = build_model(run, student_kind)
    teacher = None
    if teacher_kind is not None:
        teacher = build_model(run, teacher_kind) if co_trained else trained_model(run, "teacher")
    if start_from_teacher(run.cfg.distill, student, teacher):
        run.log("[student] starts from the ℓ2 teacher's weights (distill.ngd_init=teacher)")
    method = make_method(run.cfg.distill, teacher, torch.from_numpy(run.data.train_x[:8]))
    model = DistillModel(student, teacher, method)
    watch = _stall_watch(run, teacher is not None and not co_trained)

    def on_epoch(epoch: int, epochs: int) -> None:
        model.set_progress(epoch, epochs)
        watch()

    fit_role(run, "student", model, model.loss, run.cfg.student, on_epoch)
    watch()
    stalled = {"stalled": watch.note} if watch.note else {}
    _record(run, "student", student, student_kind, method=run.cfg.distill.method, **stalled)
    if co_trained:
        _record(run, "teacher", teacher, teacher_kind, co_trained=True)


def _stall_watch(run: Run, has_teacher: bool):
    from adderflow.stall import StallWatch, chance

    teacher = run.metrics().get("teacher", {}).get("accuracy") if has_teacher else None
    level = chance(run.data.test_y)
    return StallWatch(run.paths.curves("student"), level, teacher, run.log)
