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
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml

from adderflow.checkpoint import atomic_write_bytes, atomic_write_json, atomic_write_text
from adderflow.config import Config, dump_config
from adderflow.errors import AdderflowError, ConfigError

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

    def log(self, message: str) -> None:
        print(message, flush=True)
        with open(self.out / "log.txt", "a") as handle:
            handle.write(message + "\n")

    def metrics(self) -> dict[str, Any]:
        if not self.metrics_path.exists():
            return {}
        return json.loads(self.metrics_path.read_text())

    def update_metrics(self, **entries: Any) -> None:
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


def default_out_dir(root: Path = Path("runs")) -> Path:
    return root / datetime.now().strftime("%Y%m%d-%H%M%S")


def _config_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += _config_differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            keys.append(f"{prefix}{key}")
    return keys


def open_run(out: Path, cfg: Config) -> Run:
    """Create ``out`` or reopen it; reopening with a different config is refused.

    The data is loaded first, so a bad data path leaves no run directory behind.
    """
    data = load_data(cfg)
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "config.yaml"
    if saved.exists():
        previous = yaml.safe_load(saved.read_text())
        changed = _config_differences(previous, cfg.to_dict())
        if changed:
            raise ConfigError(
                f"run {out} was started with a different config ({', '.join(changed)}); "
                "resume it without overrides or choose a new --out"
            )
    else:
        atomic_write_text(saved, dump_config(cfg))
    return Run(out=out, cfg=cfg, _data=data)


def reopen_run(out: Path) -> Run:
    """A finished or interrupted run, with the config it was started with."""
    from adderflow.config import load_config

    if not (out / "config.yaml").is_file():
        raise ConfigError(f"{out} is not a run directory (no config.yaml)")
    return Run(out=out, cfg=load_config(out / "config.yaml"))


def link_latest(out: Path) -> None:
    """Point ``<parent>/latest`` at ``out`` atomically (symlink, then rename)."""
    link = out.parent / "latest"
    tmp = out.parent / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(out.name)
    os.replace(tmp, link)


# --- stages -------------------------------------------------------------------------------


def _model(run: Run, kind: str):
    from adderflow.models import digits_net

    c, h, _ = run.data.input_shape
    return digits_net(kind, run.cfg.model.width, c, run.data.num_classes, h)


def _train(run: Run, role: str, kind: str, loss_fn, cfg) -> Any:
    from adderflow.models import count_params
    from adderflow.train import accuracy, fit, seed_everything

    seed_everything(run.cfg.seed)
    model = _model(run, kind)
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
    )
    acc = accuracy(model, run.data.test_x, run.data.test_y)
    run.update_metrics(**{role: {"accuracy": acc, "params": count_params(model), "kind": kind}})
    return model


def stage_teacher(run: Run) -> None:
    from torch.nn import functional as F

    _train(run, "teacher", "cnn", lambda z, _x, y: F.cross_entropy(z, y), run.cfg.teacher)


def trained_model(run: Run, role: str):
    from adderflow.train import load_trained

    return load_trained(
        _model(run, "cnn" if role == "teacher" else "adder"), run.ckpt_dir / f"{role}.pt"
    )


def stage_student(run: Run) -> None:
    from adderflow.distill import HintonKD, teacher_logits

    teacher = trained_model(run, "teacher")
    kd = HintonKD(run.cfg.distill.temperature, run.cfg.distill.alpha)
    _train(
        run,
        "student",
        "adder",
        lambda z, x, y: kd(z, teacher_logits(teacher, x), y),
        run.cfg.student,
    )


def quantized_network(run: Run, student=None):
    """PTQ of the trained student: deterministic, so every stage re-derives the same codes."""
    from adderflow.quant.ptq import quantize_network

    q = run.cfg.quant
    calib = run.data.train_x[: q.calibration_samples]
    model = student if student is not None else trained_model(run, "student")
    return quantize_network(
        model, calib, q.bits, q.multiplier_bits, q.shift_only, adder_scale=q.adder_scale
    )


def stage_quantize(run: Run) -> None:
    from adderflow.export.lower_standard import lower_to_standard_onnx
    from adderflow.export.qonnx_builder import build_qonnx
    from adderflow.opcount import count_ops
    from adderflow.quant.integer_model import predict_codes
    from adderflow.sim.cost import twins

    trained = {role: trained_model(run, role) for role in ("student", "teacher")}
    net = quantized_network(run, trained["student"])
    codes = predict_codes(net, run.data.test_x)
    acc = float((codes.argmax(1) == run.data.test_y).mean())
    model = build_qonnx(net)
    atomic_write_bytes(run.model_path, model.SerializeToString())
    standard = lower_to_standard_onnx(model).SerializeToString()
    atomic_write_bytes(run.out / STANDARD_MODEL_FILE, standard)
    shape = run.data.input_shape
    ops = {role: count_ops(model_, shape).as_dict() for role, model_ in trained.items()}
    run.update_metrics(
        quantized={"accuracy": acc, "bits": run.cfg.quant.bits},
        ops=ops,
        cost=twins(model).to_dict(),
    )
    run.log(f"[quantize] {run.cfg.quant.bits}-bit PTQ accuracy {acc:.4f}; wrote {run.model_path}")


def verify_samples(run: Run) -> tuple[np.ndarray, np.ndarray]:
    n = run.cfg.verify.samples or len(run.data.test_x)
    return run.data.test_x[:n], run.data.test_y[:n]


def verify_run(run: Run) -> dict[str, Any]:
    """The NumPy reference against quantized PyTorch, qonnx execution and onnxruntime.

    Records the ``equivalence`` metrics and returns the full layer-by-layer comparisons.
    """
    from adderflow.export.lower_standard import lower_to_standard_onnx, run_onnxruntime
    from adderflow.quant.integer_model import run_integer_model
    from adderflow.sim.compare import compare
    from adderflow.sim.executor import load_model, run_qonnx, run_reference

    model = load_model(run.model_path)
    x, _ = verify_samples(run)
    reference = run_reference(model, x)
    torch_codes = run_integer_model(quantized_network(run), x)
    results = {
        "torch_vs_reference": compare(model, reference, torch_codes),
        "qonnx_exec": compare(model, reference, run_qonnx(model, x)),
        "onnxruntime": compare(
            model, reference, run_onnxruntime(lower_to_standard_onnx(model, True), x)
        ),
    }
    run.update_metrics(equivalence={k: c.as_metrics() for k, c in results.items()})
    for name, comparison in results.items():
        run.log(f"[verify] {name}: {comparison.mismatches} mismatching of {comparison.samples}")
        if comparison.first is not None:
            run.log(comparison.first.describe("reference", name))
    return results


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


def stage_report(run: Run) -> None:
    from adderflow.report import render_report, reproduce_commands
    from adderflow.report_html import render_html

    model = onnx.load(str(run.model_path)) if run.model_path.exists() else None
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
    "report": stage_report,
}
FLOWS = {
    "run": ["teacher", "student", "quantize", "verify", "rtl", "report"],
    "train": ["teacher", "student"],
    "export": ["quantize"],
    "verify": ["verify"],
    "report": ["report"],
}


def execute(run: Run, flow: str) -> dict[str, Any]:
    """Run the stages of ``flow`` in order, timing each; returns the final metrics."""
    d, q = run.cfg.data, run.cfg.quant
    run.update_metrics(dataset=d.name, bits=q.bits)
    for name in FLOWS[flow]:
        start = time.perf_counter()
        STAGES[name](run)
        run.update_metrics(seconds={name: round(time.perf_counter() - start, 3)})
    return run.metrics()
