"""The verify stage: the NumPy reference against qonnx execution, onnxruntime and, where
PyTorch is installed, the quantized PyTorch model (and QAT's fake-quantized one); for a run
made by ``adderflow import --to-run``, also the imported model's own outputs.

Torch-free itself: without torch the PyTorch comparisons are skipped with a logged note
and the backends a hardware engineer uses are still checked exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from adderflow.errors import AdderflowError
from adderflow.runs import Run

# The comparisons in the order they are logged and recorded.
COMPARISONS = ("torch_vs_reference", "qonnx_exec", "onnxruntime", "fake_quant", "imported_model")
NO_TORCH = "PyTorch is not installed (pip install 'adderflow[train]')"


def torch_installed() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


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


def _torch_comparisons(run: Run, model, x: np.ndarray, reference: dict) -> dict:
    """The quantized PyTorch model (and, for QAT, the fake-quantized one) against the
    reference, or nothing (logged) without torch."""
    if not torch_installed():
        run.log(f"[verify] torch_vs_reference skipped: {NO_TORCH}")
        return {}
    from adderflow.quant.integer_model import run_integer_model
    from adderflow.quantize_flow import qat_model, quantized_network
    from adderflow.sim.compare import compare

    net = quantized_network(run)
    results = {"torch_vs_reference": compare(model, reference, run_integer_model(net, x))}
    if run.cfg.quant.mode == "qat":
        from adderflow.quant.graph_binary_qat import BinaryGraphQAT
        from adderflow.quant.graph_qat import GraphQAT, run_graph_fake_quant
        from adderflow.quant.qat import run_fake_quant

        fine_tuned = qat_model(run)
        if isinstance(fine_tuned, BinaryGraphQAT):  # its float model is not its codes
            run.log("[verify] fake_quant skipped: binary students' SI parts train in float")
            return results
        fake = run_graph_fake_quant if isinstance(fine_tuned, GraphQAT) else run_fake_quant
        results["fake_quant"] = compare(model, reference, fake(fine_tuned, net, x))
    return results


def verify_run(run: Run) -> dict[str, Any]:
    """The NumPy reference against quantized PyTorch, qonnx execution and onnxruntime.

    Records the ``equivalence`` metrics and returns the full layer-by-layer comparisons.
    """
    from adderflow.export.lower_standard import run_onnxruntime
    from adderflow.sim.compare import compare
    from adderflow.sim.executor import load_model, run_qonnx, run_reference

    model = load_model(run.paths.model)
    x, _ = verify_samples(run)
    reference = run_reference(model, x)
    torch_results = _torch_comparisons(run, model, x, reference)
    xb, ref_b = backend_sample(run, model, x, reference)
    results = {
        **torch_results,
        "qonnx_exec": compare(model, ref_b, run_qonnx(model, xb)),
        "onnxruntime": compare(model, ref_b, run_onnxruntime(standard_for_check(run, model), xb)),
    }
    if run.paths.source_model.is_file():  # adderflow import --to-run: the model it read
        from adderflow.import_flow import check_imported

        results["imported_model"] = check_imported(run, model, xb, ref_b)
    results = {name: results[name] for name in COMPARISONS if name in results}
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
    return standard_checked(run.paths.standard_model, model)


def standard_checked(path: Path, model: onnx.ModelProto) -> onnx.ModelProto:
    """``standard_for_check`` for the standard-ONNX file at ``path`` (or ``model`` lowered
    again when there is none)."""
    from onnx import shape_inference

    from adderflow.export.lower_standard import lower_to_standard_onnx, standard_model
    from adderflow.sim.onnx_io import read_onnx

    if not path.exists():
        return lower_to_standard_onnx(model, True)
    # The shipped file keeps no value_info; inference names every layer's tensor again.
    return standard_model(shape_inference.infer_shapes(read_onnx(path)), expose_layers=True)


def stage_verify(run: Run) -> None:
    if any(c.first is not None for c in verify_run(run).values()):
        raise AdderflowError("verification failed: backends disagree (see the divergence above)")
