"""The quantize stage: the trained student to integer codes, the QONNX model and its
standard-ONNX lowering (PTQ, or a brevitas QAT fine-tune first). Needs PyTorch."""

from __future__ import annotations

import numpy as np

from adderflow.distill.table import method_roles
from adderflow.errors import AdderflowError
from adderflow.run_paths import QAT_CHECKPOINT
from adderflow.runs import Run
from adderflow.train_flow import fit_role, trained_model


def quantized_network(run: Run, student=None):
    """The student's integer network: PTQ, or the fine-tuned QAT checkpoint's codes.

    Both are deterministic, so every stage re-derives the same codes. A run without a
    trained student (``adderflow import --to-run``) reads its ``model.network.npz``. A
    ``BlockNet`` (the bundled line networks) goes through ``quant.ptq``; any other network
    through the torch.fx front end, ``quant.graph_ptq``.
    """
    if student is None and run.paths.imported:
        from adderflow.quant.network_file import read_network

        return read_network(run.paths.network)
    from adderflow.models import BlockNet
    from adderflow.quant.graph_ptq import quantize_graph
    from adderflow.quant.ptq import quantize_network
    from adderflow.quant.qat import qat_network

    q = run.cfg.quant
    if q.mode == "qat":
        from adderflow.quant.graph_binary_qat import BinaryGraphQAT, binary_graph_qat_network
        from adderflow.quant.graph_qat import GraphQAT, graph_qat_network

        fine_tuned = qat_model(run, student)
        if isinstance(fine_tuned, BinaryGraphQAT):
            return binary_graph_qat_network(fine_tuned, q.multiplier_bits, q.shift_only)
        if isinstance(fine_tuned, GraphQAT):
            return graph_qat_network(fine_tuned, q.multiplier_bits, q.shift_only)
        return qat_network(fine_tuned, run.data.input_shape, q.multiplier_bits,
                           q.shift_only)  # fmt: skip
    calib = run.data.train_x[: q.calibration_samples]
    model = student if student is not None else trained_model(run, "student")
    quantize = quantize_network if isinstance(model, BlockNet) else quantize_graph
    return quantize(
        model, calib, q.bits, q.multiplier_bits, q.shift_only, adder_scale=q.adder_scale,
        weight_bits=q.weight_bits,
    )  # fmt: skip


def _qat_start(run: Run, student=None):
    """The student with fake quantization: brevitas twins for a ``BlockNet``
    (``quant.qat``), PTQ's fixed grid for any other network (``quant.graph_qat``) and for
    any network with binary layers or SI units (``quant.graph_binary_qat``)."""
    from adderflow.models import BlockNet
    from adderflow.quant.graph_binary import is_binary_graph
    from adderflow.quant.graph_binary_qat import to_binary_graph_qat
    from adderflow.quant.graph_qat import to_graph_qat
    from adderflow.quant.qat import to_qat

    q = run.cfg.quant
    model = student if student is not None else trained_model(run, "student")
    calib = run.data.train_x[: q.calibration_samples]
    start = to_qat if isinstance(model, BlockNet) else to_graph_qat
    if is_binary_graph(model):
        start = to_binary_graph_qat
    return start(model, calib, q.bits, q.weight_bits or None, q.adder_scale)


def qat_model(run: Run, student=None):
    """The QAT-fine-tuned student, read from its checkpoint."""
    from adderflow.checkpoint import load_checkpoint, load_state

    path = run.paths.qat_checkpoint
    if not path.is_file():
        raise AdderflowError(f"{path} not found: run the quantize stage with quant.mode=qat")
    model = _qat_start(run, student)
    load_state(model, load_checkpoint(path)["model"], path)
    return model.eval()


def _fine_tune_qat(run: Run, student) -> None:
    """QAT: the student with brevitas quantizers, distilled from the teacher (Hinton KD)."""
    from dataclasses import replace

    from adderflow.distill.kd import HintonKD, teacher_logits
    from adderflow.quant.graph_qat import GraphQAT
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
    if isinstance(model, GraphQAT):
        # Fixed scales leave nothing to freeze but batch norm, and a ResNet-20 fine-tune
        # with frozen statistics diverged (docs/quantization.md): it keeps them live.
        freeze_at = q.qat_epochs

    def on_epoch(epoch: int, _epochs: int) -> None:
        if epoch >= freeze_at:
            freeze(model)

    fit_role(run, QAT_CHECKPOINT, model, loss, cfg, on_epoch)


def _float_agreement(model, x: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of images whose integer prediction equals the float student's."""
    import torch

    with torch.no_grad():
        model.eval()
        batches = [torch.from_numpy(x[i : i + 512]) for i in range(0, len(x), 512)]
        floats = np.concatenate([model(b).argmax(1).numpy() for b in batches])
    return float((floats == predicted).mean())


def _check_exportable(run: Run, student_kind: str, student) -> None:
    """What the quantizers take: any traceable network, binary ones included (layers they
    cannot map are refused by name when they meet them)."""
    del run, student_kind, student  # each quantizer refuses what it cannot map, by name


def _write_models(run: Run, net):
    """``model.qonnx.onnx``, its standard-ONNX lowering and the network's integer data;
    returns the QONNX model."""
    from adderflow.model_files import write_models

    debug_x = run.data.test_x[:8] if run.cfg.quant.debug_passes else None
    return write_models(run.paths, net, debug_x, run.log)


def stage_quantize(run: Run) -> None:
    from adderflow.opcount import count_ops
    from adderflow.quant.integer_model import predict_codes
    from adderflow.sim.cost import twins

    teacher_kind, student_kind, _ = method_roles(run.cfg.distill)
    roles = ("student", "teacher") if teacher_kind is not None else ("student",)
    trained = {role: trained_model(run, role) for role in roles}
    _check_exportable(run, student_kind, trained["student"])
    if run.cfg.quant.mode == "qat":
        _fine_tune_qat(run, trained["student"])
    net = quantized_network(run, trained["student"])
    codes = predict_codes(net, run.data.test_x)
    acc = float((codes.argmax(1) == run.data.test_y).mean())
    agreement = _float_agreement(trained["student"], run.data.test_x, codes.argmax(1))
    model = _write_models(run, net)
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
    run.log(f"[quantize] {what} accuracy {acc:.4f}; wrote {run.paths.model}")
