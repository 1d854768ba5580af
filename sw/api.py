"""The flow from Python, on a model you hold: train, quantize, export, verify.

``adderflow run`` does the same on a run directory (stages, checkpoints, resume, report);
these functions are for a model built in your own script (docs/your-model.md)::

    from adderflow import api
    from adderflow.data import load_dataset
    from adderflow.nn import to_adder

    data = load_dataset("digits")
    model = make_model(num_classes=data.num_classes)   # your torch CNN
    to_adder(model)                                     # hidden layers to adder layers
    api.train(model, data, epochs=30)
    net = api.quantize(model, data.train_x[:512], bits=8)
    api.export(net, "out")                              # out/model.qonnx.onnx, ...
    results = api.verify(net, "out", data.test_x)       # name -> Comparison, 0 mismatches

``api.load(RUN_DIR)`` reads the trained student of an ``adderflow run`` back as a model.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adderflow.errors import ConfigError


@dataclass(frozen=True)
class Exported:
    """The files ``export`` writes (a run directory's names for them)."""

    qonnx: Path  # the IR: QONNX with adderflow-domain custom ops
    standard: Path  # the same lowered to standard ONNX (onnxruntime, Netron)
    network: Path  # the quantized network's integer data (quant.network_file)


def _train_config(epochs: int, checkpoint: Path | None, options: dict[str, Any]):
    from adderflow.config import TrainConfig, validate_train

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"train: unknown option(s) {', '.join(unknown)} (the student.* config keys: "
            f"{', '.join(sorted(known - {'epochs'}))})"
        )
    options.setdefault("tensorboard", checkpoint is not None)
    cfg = dataclasses.replace(TrainConfig(), epochs=epochs, **options)
    if cfg.epochs < 1:
        raise ConfigError(f"train: epochs must be at least 1, got {cfg.epochs}")
    validate_train(cfg, "train")
    return cfg


def train(
    model,
    data,
    *,
    epochs: int = 30,
    teacher=None,
    checkpoint: str | Path | None = None,
    batch_size: int = 64,
    seed: int = 0,
    augment: str = "none",
    log: Callable[[str], None] = print,
    **options: Any,
):
    """Train ``model`` in place on ``data`` (``adderflow.data.load_dataset``'s splits) with
    the run's trainer: SGD with the adder layers' adaptive learning rate, cosine schedule,
    batch-norm recomputation for adder networks. ``options`` are ``student.*`` config keys
    (``lr``, ``eta``, ``device``, ...). With a trained ``teacher``, the loss is Hinton KD
    (T = 4, α = 0.7, as ``distill.method=kd``). ``checkpoint``: a file to save each epoch
    to and resume from (default: none kept). Returns the per-epoch history."""
    import torch.nn.functional as F

    from adderflow.distill.kd import HintonKD, teacher_logits
    from adderflow.train import fit, seed_everything

    path = Path(checkpoint).expanduser().resolve() if checkpoint is not None else None
    cfg = _train_config(epochs, path, dict(options))
    if teacher is not None:
        kd, guide = HintonKD(), teacher.eval()

        def loss(logits, x, y):
            return kd(logits, teacher_logits(guide, x), y)
    else:

        def loss(logits, _x, y):
            return F.cross_entropy(logits, y)

    seed_everything(seed)
    with tempfile.TemporaryDirectory(prefix="adderflow-train-") as scratch:
        ckpt = path if path is not None else Path(scratch) / "model.pt"
        history = fit(model, data, cfg, loss_fn=loss, ckpt_path=ckpt, name="train",
                      batch_size=batch_size, seed=seed, log=log, augment=augment)  # fmt: skip
    return history.rows


def quantize(
    model,
    calib_x: np.ndarray,
    *,
    bits: int = 8,
    weight_bits: int = 0,
    multiplier_bits: int = 16,
    shift_only: bool = False,
    adder_scale: str = "activation",
):
    """Post-training quantization of a trained ``model`` to the numeric contract
    (docs/quantization.md): a ``QuantizedNetwork`` of integer weights and requantizers.
    ``calib_x`` is a batch of training inputs (a few hundred). Anything the integer path
    does not take is refused naming the module (``QuantizationError``)."""
    from adderflow.models import BlockNet
    from adderflow.quant.ptq import quantize_network

    options = dict(multiplier_bits=multiplier_bits, shift_only=shift_only,
                   adder_scale=adder_scale, weight_bits=weight_bits)  # fmt: skip
    if isinstance(model, BlockNet):
        return quantize_network(model, calib_x, bits, **options)
    from adderflow.quant.graph_ptq import quantize_graph

    return quantize_graph(model, calib_x, bits, **options)


def export(net, out_dir: str | Path) -> Exported:
    """Write ``net`` as the IR (``model.qonnx.onnx``), its standard-ONNX lowering
    (``model.standard.onnx``) and its integer data (``model.network.npz``) into ``out_dir``
    (created if missing), as the quantize stage writes them into a run."""
    from adderflow.model_files import write_models
    from adderflow.run_paths import RunPaths

    paths = RunPaths(Path(out_dir).expanduser().resolve())
    paths.root.mkdir(parents=True, exist_ok=True)
    write_models(paths, net)
    return Exported(paths.model, paths.standard_model, paths.network)


def verify(net, out_dir: str | Path, x: np.ndarray) -> dict[str, Any]:
    """Integer codes of every layer on inputs ``x``: the NumPy reference (on the exported
    ``model.qonnx.onnx``) against the quantized PyTorch model (``net``), qonnx's graph
    execution and onnxruntime (on the exported ``model.standard.onnx``). Returns
    ``{name: Comparison}``; each has ``mismatches``, ``samples`` and ``first`` (the first
    diverging layer, or None); ``adderflow.sim.compare.format_table`` prints one."""
    from adderflow.export.lower_standard import run_onnxruntime
    from adderflow.quant.integer_model import run_integer_model
    from adderflow.run_paths import RunPaths
    from adderflow.sim.compare import compare
    from adderflow.sim.executor import load_model, run_qonnx, run_reference
    from adderflow.verify_flow import standard_checked

    paths = RunPaths(Path(out_dir).expanduser().resolve())
    model = load_model(paths.model)
    x = np.asarray(x, dtype=np.float32)
    reference = run_reference(model, x)
    standard = standard_checked(paths.standard_model, model)
    return {
        "torch_vs_reference": compare(model, reference, run_integer_model(net, x)),
        "qonnx_exec": compare(model, reference, run_qonnx(model, x)),
        "onnxruntime": compare(model, reference, run_onnxruntime(standard, x)),
    }


def load(run_dir: str | Path, role: str = "student"):
    """The trained ``student`` (or ``teacher``) of an ``adderflow run`` directory, in eval
    mode (a ``model.arch=module:...`` run imports its module again)."""
    from adderflow import rundir
    from adderflow.runs import reopen_run
    from adderflow.train_flow import trained_model

    if role not in ("student", "teacher"):
        raise ConfigError(f"load: role must be 'student' or 'teacher', got {role!r}")
    run = reopen_run(Path(run_dir))
    try:
        return trained_model(run, role)
    finally:
        rundir.release(run.out)
