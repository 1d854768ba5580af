"""The main job as a named list of stages over one resumable run directory.

Each stage is ``stage(run) -> None``: it reads what earlier stages left in the run
directory, writes its own results atomically, and records its metrics and time in
``metrics.json``. Training stages resume from their last checkpoint, so re-running a
stage on an interrupted run continues rather than restarts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from adderflow import rundir
from adderflow.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from adderflow.config import Config, dump_config
from adderflow.distributed import is_main
from adderflow.errors import AdderflowError, ConfigError
from adderflow.progress import STATUS

MODEL_FILE = "model.qonnx.onnx"
STANDARD_MODEL_FILE = "model.standard.onnx"


@dataclass
class Run:
    """A run directory, its resolved config, and the metrics gathered so far."""

    out: Path
    cfg: Config
    log_lines: list[str] = field(default_factory=list)
    _data: Any = None

    @property
    def metrics_path(self) -> Path:
        return self.out / "metrics.json"

    @property
    def ckpt_dir(self) -> Path:
        return self.out / "checkpoints"

    @property
    def model_path(self) -> Path:
        return self.out / MODEL_FILE

    def log(self, message: str, echo: bool = True) -> None:
        """Print ``message`` (unless ``echo`` is off) and append it to ``log.txt``."""
        if not is_main():  # under torchrun, rank 0 speaks for every process
            return
        if echo:
            STATUS.echo(message)
        with open(self.out / "log.txt", "a") as handle:
            handle.write(message + "\n")

    def metrics(self) -> dict[str, Any]:
        if not self.metrics_path.exists():
            return {}
        return read_json(self.metrics_path, "rerun the run's stages to rewrite it")

    def update_metrics(self, **entries: Any) -> None:
        if not is_main():
            return
        metrics = self.metrics()
        for key, value in entries.items():
            if isinstance(value, dict) and isinstance(metrics.get(key), dict):
                metrics[key].update(value)
            else:
                metrics[key] = value
        atomic_write_json(self.metrics_path, metrics)

    @property
    def data(self):
        if self._data is None:
            self._data = load_data(self.cfg)
        return self._data


def load_data(cfg: Config):
    from adderflow.data import load_dataset

    d = cfg.data
    return load_dataset(d.name, d.root, test_fraction=d.test_fraction, seed=d.seed)


def read_json(path: Path, remedy: str) -> Any:
    """A JSON file of the run; a damaged one is an error naming it and what to do."""
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is damaged (not valid JSON): delete it and {remedy}") from exc


def default_out_dir(root: Path = Path("runs")) -> Path:
    """``runs/<timestamp>``; ``open_run(..., unique=True)`` adds ``-2``, ... if it is taken."""
    return rundir.default_name(root)


def _config_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += _config_differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            keys.append(f"{prefix}{key}")
    return keys


def open_run(out: Path, cfg: Config, unique: bool = False) -> Run:
    """Create ``out`` or reopen it; reopening with a different config is refused.

    Everything that can be checked first is: the target directory (a run, an empty folder
    or a new one), the data, and that the models build and take the data, so a bad setting
    leaves no run directory behind. ``unique``: ``out`` is a default name, never reused.
    """
    out = rundir.absolute(out)
    cfg = with_absolute_paths(cfg)
    rundir.check_writable_target(out)
    data = load_data(cfg)
    check_models(cfg, data)
    if unique or not rundir.is_run_dir(out):
        out, _ = rundir.create(out, unique)
    rundir.lock(out)
    if (out / "config.yaml").is_file():
        _check_same_config(out, cfg)
    elif is_main():
        atomic_write_text(out / "config.yaml", dump_config(cfg))
    return Run(out=out, cfg=cfg, _data=data)


def with_absolute_paths(cfg: Config) -> Config:
    """``cfg`` with ``data.root`` absolute (from the working directory), so the run's
    ``config.yaml`` names the same files from anywhere."""
    if cfg.data.root:
        cfg.data.root = os.path.abspath(os.path.expanduser(cfg.data.root))
    return cfg


def _check_same_config(out: Path, cfg: Config) -> None:
    previous = _saved_config(out)
    changed = _config_differences(previous, cfg.to_dict())
    if changed:
        raise ConfigError(
            f"run {out} was started with a different config ({', '.join(changed)}); "
            "resume it without overrides or choose a new --out"
        )


def _saved_config(out: Path) -> dict:
    from adderflow.config import read_yaml

    saved = out / "config.yaml"
    tree = read_yaml(saved)
    if not tree:
        raise ConfigError(f"{saved} is empty: the run's config is lost; start a new run")
    return tree


def check_models(cfg: Config, data) -> None:
    """The teacher and student build, fit the training devices and take the data's inputs."""
    import torch

    from adderflow.distill import method_roles
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
            model = _model(probe, kind).eval()
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


def reopen_run(out: Path) -> Run:
    """A finished or interrupted run, with the config it was started with."""
    from adderflow.config import config_from_tree

    out = rundir.absolute(out)
    if not out.exists():
        raise ConfigError(f"run directory {out} does not exist")
    if not out.is_dir():
        raise ConfigError(f"{out} is a file, not a run directory")
    if not (out / "config.yaml").is_file():
        raise ConfigError(f"{out} is not a run directory (no config.yaml)")
    cfg = config_from_tree(_saved_config(out), str(out / "config.yaml"))
    rundir.lock(out)
    run = Run(out=out, cfg=cfg)
    run.metrics()  # a damaged metrics.json stops the command before it writes anything
    return run


def derive_run(source: Path, out: Path, overrides: list[str]) -> Run:
    """A new run at ``out`` that reuses ``source``'s trained checkpoints under new settings.

    Only quantization and later stages may differ (``quant.*``, ``verify.*``, ...): the
    copied teacher and student were trained under ``source``'s config.
    """
    import shutil

    from adderflow.config import load_config

    base = reopen_run(source)
    cfg = load_config(base.out / "config.yaml", overrides)
    changed = _config_differences(base.cfg.to_dict(), cfg.to_dict())
    trained = [k for k in changed if k.split(".")[0] in ("seed", "data", "model", "teacher",
                                                          "student", "distill")]  # fmt: skip
    if trained:
        raise ConfigError(f"{', '.join(trained)} change training: train a new run instead")
    if not (base.ckpt_dir / "student.pt").is_file():
        raise AdderflowError(f"{source} has no trained student: run `adderflow train` first")
    trained_model(base, "student")  # a refused checkpoint stops here, before `out` exists
    run = open_run(out, cfg)
    run.ckpt_dir.mkdir(parents=True, exist_ok=True)
    for path in base.ckpt_dir.glob("*"):
        if path.stem in ("teacher", "student") and not (run.ckpt_dir / path.name).exists():
            shutil.copy2(path, run.ckpt_dir / path.name)
    previous = base.metrics()
    run.update_metrics(**{k: previous[k] for k in ("teacher", "student") if k in previous})
    return run


def discard_if_empty(run: Run) -> None:
    """After an error: remove a run directory this command made if no stage finished in it
    (the error was in the settings, so the folder could not even be resumed)."""
    if not is_main() or run.metrics().get("seconds"):
        return
    link = run.out.parent / "latest"
    rundir.remove_new(run.out)
    if link.is_symlink() and not link.exists():
        link.unlink()


def link_latest(out: Path) -> None:
    """Point ``<parent>/latest`` at ``out`` atomically (symlink, then rename)."""
    if not is_main():
        return
    out = rundir.absolute(out)
    link = out.parent / "latest"
    tmp = out.parent / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(out.name)
    os.replace(tmp, link)


# --- stages -------------------------------------------------------------------------------


def _model(run: Run, kind: str):
    """The run's network of ``kind``: cnn | adder | adder_l2 (p = 2) | binary."""
    from adderflow.models import digits_net, mnist1d_net
    from adderflow.nn.pnorm import set_adder_p

    base = "adder" if kind == "adder_l2" else kind
    # SI units belong to DGRL; the plain and KD binary baselines use binary convolutions.
    si = run.cfg.distill.method == "dgrl" and run.cfg.distill.dgrl_si
    shape, classes = run.data.input_shape, run.data.num_classes
    if run.cfg.model.arch != "auto":
        model = zoo_model(run.cfg.model.arch, base, run.cfg.model.width_mult, classes, si)
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


def _digits_head(run: Run) -> str:
    """``model.head``, with auto resolved for the student's kind and the image: a binary
    student's CNN teacher gets the student's head (block-wise distillation pairs blocks)."""
    from adderflow.distill import method_roles
    from adderflow.models.digits import default_head

    if run.cfg.model.head != "auto":
        return run.cfg.model.head
    return default_head(method_roles(run.cfg.distill)[1], run.data.input_shape[1:])


def zoo_model(arch: str, kind: str, width: float, num_classes: int, si: bool = False):
    """``model.arch``'s zoo network of ``kind`` (cnn | adder | binary).

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
    return build(arch, kind, width, num_classes=num_classes)


def _fit(run: Run, role: str, model, loss_fn, cfg, on_epoch=None) -> None:
    from adderflow.train import fit

    fit(
        model,
        run.data,
        cfg,
        loss_fn=loss_fn,
        ckpt_path=run.ckpt_dir / f"{role}.pt",
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

    from adderflow.distill import make_method, method_roles, teacher_loss_fn
    from adderflow.train import seed_everything

    kind, _, co_trained = method_roles(run.cfg.distill)
    if kind is None or co_trained:
        why = "trains no teacher" if kind is None else "co-trains its teacher with the student"
        run.log(f"[teacher] skipped: distill.method={run.cfg.distill.method} {why}")
        return
    seed_everything(run.cfg.seed)
    model = _model(run, kind)
    sample = torch.from_numpy(run.data.train_x[:8])
    if run.cfg.distill.method == "ngd":
        loss = teacher_loss_fn(make_method(run.cfg.distill, None, sample), model)
    else:
        loss = lambda z, _x, y: F.cross_entropy(z, y)  # noqa: E731
    _fit(run, "teacher", model, loss, run.cfg.teacher)
    _record(run, "teacher", model, kind)


def trained_model(run: Run, role: str):
    """A trained teacher or student, read from its checkpoint (distillation wrappers too)."""
    from adderflow.checkpoint import load_checkpoint, load_state
    from adderflow.distill import method_roles, student_state

    teacher_kind, student_kind, co_trained = method_roles(run.cfg.distill)
    if role == "teacher" and teacher_kind is None:
        raise ConfigError(f"distill.method={run.cfg.distill.method} trains no teacher")
    model = _model(run, teacher_kind if role == "teacher" else student_kind)
    # A co-trained teacher lives in the student's distillation checkpoint.
    file = "student" if role == "teacher" and co_trained else role
    path = run.ckpt_dir / f"{file}.pt"
    load_state(model, student_state(load_checkpoint(path)["model"], role), path)
    return model.eval()


def stage_student(run: Run) -> None:
    import torch

    from adderflow.distill import DistillModel, make_method, method_roles, start_from_teacher
    from adderflow.train import seed_everything

    teacher_kind, student_kind, co_trained = method_roles(run.cfg.distill)
    seed_everything(run.cfg.seed)
    student = _model(run, student_kind)
    teacher = None
    if teacher_kind is not None:
        teacher = _model(run, teacher_kind) if co_trained else trained_model(run, "teacher")
    if start_from_teacher(run.cfg.distill, student, teacher):
        run.log("[student] starts from the ℓ2 teacher's weights (distill.ngd_init=teacher)")
    method = make_method(run.cfg.distill, teacher, torch.from_numpy(run.data.train_x[:8]))
    model = DistillModel(student, teacher, method)
    watch = _stall_watch(run, teacher is not None and not co_trained)

    def on_epoch(epoch: int, epochs: int) -> None:
        model.set_progress(epoch, epochs)
        watch()

    _fit(run, "student", model, model.loss, run.cfg.student, on_epoch)
    watch()
    stalled = {"stalled": watch.note} if watch.note else {}
    _record(run, "student", student, student_kind, method=run.cfg.distill.method, **stalled)
    if co_trained:
        _record(run, "teacher", teacher, teacher_kind, co_trained=True)


def _stall_watch(run: Run, has_teacher: bool):
    from adderflow.stall import StallWatch, chance

    teacher = run.metrics().get("teacher", {}).get("accuracy") if has_teacher else None
    level = chance(run.data.test_y)
    return StallWatch(run.ckpt_dir / "student.csv", level, teacher, run.log)


def quantized_network(run: Run, student=None):
    """The student's integer network: PTQ, or the fine-tuned QAT checkpoint's codes.

    Both are deterministic, so every stage re-derives the same codes.
    """
    from adderflow.quant.ptq import quantize_network
    from adderflow.quant.qat import qat_network

    q = run.cfg.quant
    if q.mode == "qat":
        return qat_network(qat_model(run, student), run.data.input_shape, q.multiplier_bits,
                           q.shift_only)  # fmt: skip
    calib = run.data.train_x[: q.calibration_samples]
    model = student if student is not None else trained_model(run, "student")
    return quantize_network(
        model, calib, q.bits, q.multiplier_bits, q.shift_only, adder_scale=q.adder_scale,
        weight_bits=q.weight_bits,
    )  # fmt: skip


QAT_CHECKPOINT = "qat"


def _qat_start(run: Run, student=None):
    from adderflow.quant.qat import to_qat

    q = run.cfg.quant
    model = student if student is not None else trained_model(run, "student")
    calib = run.data.train_x[: q.calibration_samples]
    return to_qat(model, calib, q.bits, q.weight_bits or None, q.adder_scale)


def qat_model(run: Run, student=None):
    """The QAT-fine-tuned student, read from its checkpoint."""
    from adderflow.checkpoint import load_checkpoint, load_state

    path = run.ckpt_dir / f"{QAT_CHECKPOINT}.pt"
    if not path.is_file():
        raise AdderflowError(f"{path} not found: run the quantize stage with quant.mode=qat")
    model = _qat_start(run, student)
    load_state(model, load_checkpoint(path)["model"], path)
    return model.eval()


def _fine_tune_qat(run: Run, student) -> None:
    """QAT: the student with brevitas quantizers, distilled from the teacher (Hinton KD)."""
    from dataclasses import replace

    from adderflow.distill import method_roles
    from adderflow.distill.kd import HintonKD, teacher_logits
    from adderflow.quant.qat import freeze
    from adderflow.train import seed_everything

    q, d = run.cfg.quant, run.cfg.distill
    teacher_kind, _, _ = method_roles(d)
    guide = trained_model(run, "teacher") if teacher_kind is not None else student
    kd = HintonKD(d.temperature, d.alpha)

    def loss(logits, x, y):
        return kd(logits, teacher_logits(guide, x), y)

    seed_everything(run.cfg.seed)
    model = _qat_start(run, student)
    # The quantizers' log-scales are parameters: weight decay would drag them to scale 1.
    cfg = replace(run.cfg.student, epochs=q.qat_epochs, lr=q.qat_lr, weight_decay=0.0)
    freeze_at = round(q.qat_freeze * q.qat_epochs)

    def on_epoch(epoch: int, _epochs: int) -> None:
        if epoch >= freeze_at:
            freeze(model)

    _fit(run, QAT_CHECKPOINT, model, loss, cfg, on_epoch)


def _float_agreement(model, x: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of images whose integer prediction equals the float student's."""
    import torch

    with torch.no_grad():
        model.eval()
        batches = [torch.from_numpy(x[i : i + 512]) for i in range(0, len(x), 512)]
        floats = np.concatenate([model(b).argmax(1).numpy() for b in batches])
    return float((floats == predicted).mean())


def stage_quantize(run: Run) -> None:
    from adderflow.distill import method_roles
    from adderflow.export.lower_standard import lower_to_standard_onnx
    from adderflow.export.qonnx_builder import build_qonnx
    from adderflow.models import BlockNet
    from adderflow.opcount import count_ops
    from adderflow.quant.integer_model import predict_codes
    from adderflow.sim.cost import twins

    teacher_kind, student_kind, _ = method_roles(run.cfg.distill)
    roles = ("student", "teacher") if teacher_kind is not None else ("student",)
    trained = {role: trained_model(run, role) for role in roles}
    if student_kind not in ("adder", "binary") or not isinstance(trained["student"], BlockNet):
        raise ConfigError(
            f"quantize: only 2-D adder and binary students export for now (this run's student "
            f"is {student_kind} on {run.data.name}); `adderflow train` trains it without export"
        )
    if student_kind == "binary" and run.cfg.quant.mode == "qat":
        raise ConfigError(
            "quantize: quant.mode=qat is for adder students; binary students export by PTQ "
            "(set quant.mode=ptq)"
        )
    if run.cfg.quant.mode == "qat":
        _fine_tune_qat(run, trained["student"])
    net = quantized_network(run, trained["student"])
    codes = predict_codes(net, run.data.test_x)
    acc = float((codes.argmax(1) == run.data.test_y).mean())
    agreement = _float_agreement(trained["student"], run.data.test_x, codes.argmax(1))
    model = build_qonnx(net)
    atomic_write_bytes(run.model_path, model.SerializeToString())
    debug_x = run.data.test_x[:8] if run.cfg.quant.debug_passes else None
    standard = lower_to_standard_onnx(model, debug_x=debug_x, log=run.log).SerializeToString()
    atomic_write_bytes(run.out / STANDARD_MODEL_FILE, standard)
    shape = run.data.input_shape
    ops = {role: count_ops(model_, shape).as_dict() for role, model_ in trained.items()}
    run.update_metrics(
        quantized={
            "accuracy": acc,
            "bits": run.cfg.quant.bits,
            "weight_bits": run.cfg.quant.weight_bits or run.cfg.quant.bits,
            "mode": run.cfg.quant.mode,
            "agreement_with_float": agreement,
        },
        ops=ops,
        cost=twins(model).to_dict(),
    )
    what = f"{run.cfg.quant.bits}-bit {run.cfg.quant.mode.upper()}"
    run.log(f"[quantize] {what} accuracy {acc:.4f}; wrote {run.model_path}")


def verify_samples(run: Run) -> tuple[np.ndarray, np.ndarray]:
    n = run.cfg.verify.samples or len(run.data.test_x)
    return run.data.test_x[:n], run.data.test_y[:n]


def backend_sample(run: Run, model, x: np.ndarray, reference: dict):
    """The images qonnx and onnxruntime check (``verify.backend_samples``) and their
    reference; logs the estimated time first when it is long."""
    from adderflow.sim.executor import run_reference
    from adderflow.verify_budget import announce

    n = min(run.cfg.verify.backend_samples or len(x), len(x))
    announce(run.log, model, x, n)
    if n == len(x):
        return x, reference
    return x[:n], run_reference(model, x[:n])


def verify_run(run: Run) -> dict[str, Any]:
    """The NumPy reference against quantized PyTorch, qonnx execution and onnxruntime.

    Records the ``equivalence`` metrics and returns the full layer-by-layer comparisons.
    """
    from adderflow.export.lower_standard import run_onnxruntime
    from adderflow.quant.integer_model import run_integer_model
    from adderflow.sim.compare import compare
    from adderflow.sim.executor import load_model, run_qonnx, run_reference

    model = load_model(run.model_path)
    x, _ = verify_samples(run)
    reference = run_reference(model, x)
    net = quantized_network(run)
    xb, ref_b = backend_sample(run, model, x, reference)
    results = {
        "torch_vs_reference": compare(model, reference, run_integer_model(net, x)),
        "qonnx_exec": compare(model, ref_b, run_qonnx(model, xb)),
        "onnxruntime": compare(model, ref_b, run_onnxruntime(standard_for_check(run, model), xb)),
    }
    if run.cfg.quant.mode == "qat":
        from adderflow.quant.qat import run_fake_quant

        results["fake_quant"] = compare(model, reference, run_fake_quant(qat_model(run), net, x))
    run.update_metrics(equivalence={k: c.as_metrics() for k, c in results.items()})
    for name, comparison in results.items():
        run.log(f"[verify] {name}: {comparison.mismatches} mismatching of {comparison.samples}")
        if comparison.first is not None:
            run.log(comparison.first.describe("reference", name))
    return results


def standard_for_check(run: Run, model: onnx.ModelProto) -> onnx.ModelProto:
    """The standard-ONNX model onnxruntime checks, every layer exposed: the run's shipped
    ``model.standard.onnx`` (so a changed weight in it fails), or, for an export from
    before that file shipped, ``model`` lowered again."""
    from onnx import shape_inference

    from adderflow.export.lower_standard import lower_to_standard_onnx, standard_model
    from adderflow.sim.onnx_io import read_onnx

    path = run.out / STANDARD_MODEL_FILE
    if not path.exists():
        return lower_to_standard_onnx(model, True)
    # The shipped file keeps no value_info; inference names every layer's tensor again.
    return standard_model(shape_inference.infer_shapes(read_onnx(path)), expose_layers=True)


def stage_verify(run: Run) -> None:
    if any(c.first is not None for c in verify_run(run).values()):
        raise AdderflowError("verification failed: backends disagree (see the divergence above)")


def stage_rtl(run: Run) -> None:
    from adderflow.config import rtl_simulators
    from adderflow.rtl_flow import generate_design, verify_rtl

    if not run.cfg.rtl.enabled:
        run.log("[rtl] skipped (rtl.enabled=false)")
        return
    generate_design(run)
    if any(c.first is not None for c in verify_rtl(run, rtl_simulators(run.cfg)).values()):
        raise AdderflowError("RTL verification failed: see the divergence above")


def synth_design(run: Run, target_cycles: int | None = None):
    """The design to synthesize: the RTL stage's (target 0), or one folded for synthesis.

    A synthesis folding is generated into ``<run>/fpga/rtl``; the generator's foldings
    are verified by the RTL tests, but this run simulated only ``<run>/rtl``.
    """
    from adderflow.hw.network import generate
    from adderflow.rtl_flow import load_or_generate
    from adderflow.sim.executor import load_model

    cycles = run.cfg.synth.target_cycles if target_cycles is None else target_cycles
    if not cycles:
        return load_or_generate(run), True
    if not run.model_path.is_file():
        raise AdderflowError(f"{run.model_path} not found: export the run first")
    design = generate(load_model(run.model_path), run.out / "fpga" / "rtl", cycles)
    run.log(f"[synth] folded for synthesis (target {cycles} cycles): {design.directory}")
    return design, False


def synth_settings(
    run: Run,
    target: str | None = None,
    clock_mhz: float | None = None,
    target_cycles: int | None = None,
):
    """The run's ``synth`` config with the given values in place of its own, validated."""
    from adderflow.config import validate_synth

    cfg = run.cfg.synth
    settings = type(cfg)(
        cfg.enabled,
        cfg.target if target is None else target,
        cfg.clock_mhz if clock_mhz is None else clock_mhz,
        cfg.target_cycles if target_cycles is None else target_cycles,
    )
    validate_synth(settings)
    return settings


def record_synthesis(run: Run, fpga: dict, design, simulated: bool, settings) -> dict:
    """``metrics["fpga"]``: the synthesis summary with the design's folding."""
    fpga.update(
        bitstream=str(Path("fpga") / fpga["bitstream"]),
        lanes=sum(layer["pe"] * layer["simd"] for layer in design.layers),
        cycles_per_image=design.cycles,
        design_simulated=simulated,
        command=f"adderflow synth {run.out} --target {settings.target}"
        f" --clock-mhz {settings.clock_mhz:g} --target-cycles {settings.target_cycles}",
    )
    run.update_metrics(fpga=fpga)
    return fpga


def synthesize_run(
    run: Run,
    target: str | None = None,
    clock_mhz: float | None = None,
    target_cycles: int | None = None,
) -> dict[str, Any]:
    """Bitstream and utilization of the run's network; records ``metrics["fpga"]``."""
    from adderflow.hw.synth import synthesize

    settings = synth_settings(run, target, clock_mhz, target_cycles)
    design, simulated = synth_design(run, settings.target_cycles)
    fpga = synthesize(design, run.out / "fpga", settings.target, settings.clock_mhz, run.log)
    return record_synthesis(run, fpga, design, simulated, settings)


def _csim_one(run: Run, model, reference: dict, io_type: str):
    """Build one io type's hls4ml project, C-simulate it; its comparison and timings."""
    from adderflow.hw.hls4ml_backend import HlsProject, HlsSettings
    from adderflow.sim.compare import compare
    from adderflow.sim.executor import output_name

    h = run.cfg.hls
    settings = HlsSettings(io_type, h.reuse_factor, h.part, h.clock_period_ns)
    project = HlsProject(model, run.out / "hls4ml" / io_type, settings)
    run.log(f"[hls] {io_type}: writing {project.directory} and compiling its C-simulation")
    start = time.perf_counter()
    project.compile()
    compiled = time.perf_counter()
    got = project.predict(reference["input_codes"])
    timing = {
        "compile_seconds": round(compiled - start, 2),
        "csim_seconds": round(time.perf_counter() - compiled, 2),
        "reuse_factor": h.reuse_factor,
        "project": str(project.directory.relative_to(run.out)),
    }
    comparison = compare(model, reference, {output_name(model): got})
    if comparison.first is not None:
        # Only the output was compared: trace every layer to name the first diverging one.
        comparison = compare(model, reference, project.trace(reference["input_codes"]))
    return comparison, timing


def verify_hls(run: Run, io_types: list[str] | None = None, samples: int | None = None):
    """hls4ml C-simulation against the reference on ``samples`` test images (0: all).

    Records ``equivalence.hls4ml_csim`` (the worst io type's mismatching images) and
    ``hls4ml`` (each io type) in ``metrics.json``; returns comparisons by ``hls4ml_<io type>``.
    """
    from adderflow.config import hls_io_types
    from adderflow.sim.executor import load_model, run_reference

    if not run.model_path.is_file():
        raise AdderflowError(f"{run.model_path} not found: export the run first")
    model = load_model(run.model_path)
    count = run.cfg.hls.samples if samples is None else samples
    reference = run_reference(model, run.data.test_x[: count or None])
    results, details = {}, {}
    for io_type in io_types or hls_io_types(run.cfg):
        comparison, timing = _csim_one(run, model, reference, io_type)
        results[f"hls4ml_{io_type}"] = comparison
        details[io_type] = {**comparison.as_metrics(), **timing}
        run.log(f"[hls] {io_type}: {comparison.mismatches} mismatching of {comparison.samples}")
        if comparison.first is not None:
            run.log(comparison.first.describe("reference", f"hls4ml {io_type}"))
    images = len(reference["input_codes"])
    worst = {"samples": images, "mismatches": max(c.mismatches for c in results.values())}
    run.update_metrics(
        equivalence={"hls4ml_csim": worst},
        hls4ml=details,
    )
    return results


def stage_hls(run: Run) -> None:
    if not run.cfg.hls.enabled:
        run.log("[hls] skipped (hls.enabled=false)")
        return
    if _skip_binary(run, "hls", "adderflow's hls4ml extension has no binary layers"):
        return
    if any(c.first is not None for c in verify_hls(run).values()):
        raise AdderflowError("hls4ml C-simulation differs from the reference: see above")


def stage_synth(run: Run) -> None:
    if not run.cfg.synth.enabled:
        run.log("[synth] skipped (synth.enabled=false)")
        return
    synthesize_run(run)


def _skip_binary(run: Run, stage: str, why: str) -> bool:
    """Log and record a skipped hardware stage when the run's model has binary layers."""
    from adderflow.sim.ops import binary_layers

    if not run.model_path.is_file():
        return False  # the stage itself says the model is missing
    layers = binary_layers(onnx.load(str(run.model_path)))
    if not layers:
        return False
    reason = f"binary layers ({', '.join(layers)}): {why} yet"
    run.log(f"[{stage}] skipped: {reason}")
    run.update_metrics(skipped={stage: reason})
    return True


def stage_report(run: Run) -> None:
    from adderflow.report import render_report, reproduce_commands
    from adderflow.report_html import render_html
    from adderflow.sim.onnx_io import read_onnx

    model = read_onnx(run.model_path) if run.model_path.exists() else None
    metrics = run.metrics()
    atomic_write_text(run.out / "report.md", render_report(metrics, run.cfg, model))
    page = render_html(metrics, reproduce_commands(run.cfg))
    atomic_write_text(run.out / "report.html", page)
    run.log(f"[report] wrote {run.out / 'report.md'} and report.html")


STAGES: dict[str, Callable[[Run], None]] = {
    "teacher": stage_teacher,
    "student": stage_student,
    "quantize": stage_quantize,
    "verify": stage_verify,
    "rtl": stage_rtl,
    "hls": stage_hls,
    "synth": stage_synth,
    "report": stage_report,
}
# The stages that train data-parallel under torchrun (every rank runs them).
TRAINING_STAGES = ("teacher", "student")
FLOWS = {
    "run": ["teacher", "student", "quantize", "verify", "rtl", "hls", "synth", "report"],
    "train": ["teacher", "student"],
    "export": ["quantize"],
    "quantize": ["quantize", "verify", "report"],
    "verify": ["verify"],
    "report": ["report"],
}


def execute(run: Run, flow: str) -> dict[str, Any]:
    """Run the stages of ``flow`` in order, timing each; returns the final metrics.

    A stage's error is written to ``log.txt`` too, and ``metrics.json`` names the stage
    (``failed``); a later successful pass over that stage clears it. The synthesis of
    ``run`` starts with the RTL stage (``adderflow.early_synth``); ``synth`` waits for it.
    """
    from adderflow.early_synth import start_early
    from adderflow.threads import apply_threads

    d, q = run.cfg.data, run.cfg.quant
    run.update_metrics(dataset=d.name, bits=q.bits)
    threads = apply_threads(run.cfg.threads)
    if any(name in TRAINING_STAGES for name in FLOWS[flow]):
        run.log(f"[adderflow] {threads} torch thread(s) (threads={run.cfg.threads}; 0: auto)")
    early = None
    try:
        for name in FLOWS[flow]:
            if not is_main() and name not in TRAINING_STAGES:
                continue  # under torchrun only training is parallel; rank 0 does the rest
            start = time.perf_counter()
            try:
                with STATUS.stage(name, ticker=name not in TRAINING_STAGES):
                    if name == "rtl":
                        early = start_early(run, FLOWS[flow])
                    if name == "synth" and early is not None:
                        early, waiting = None, early
                        waiting.finish()
                    else:
                        STAGES[name](run)
            except (AdderflowError, OSError) as exc:
                _record_failure(run, name, exc)
                raise
            run.update_metrics(seconds={name: round(time.perf_counter() - start, 3)})
            if run.metrics().get("failed", {}).get("stage") == name:
                _clear_failure(run)
    finally:
        if early is not None:  # a stage after rtl failed: stop yosys/nextpnr first
            early.cancel()
    return run.metrics()


def _record_failure(run: Run, stage: str, exc: BaseException) -> None:
    """Best effort: the run directory itself may be what failed (read-only, full disk)."""
    message = str(exc) if isinstance(exc, AdderflowError) else f"{exc.strerror}: {exc.filename}"
    try:
        run.log(f"[{stage}] error: {message}", echo=False)
        run.update_metrics(failed={"stage": stage, "error": message})
    except (OSError, AdderflowError):
        pass


def _clear_failure(run: Run) -> None:
    metrics = run.metrics()
    metrics.pop("failed", None)
    if is_main():
        atomic_write_json(run.metrics_path, metrics)
