"""The hls stage: the run's model as hls4ml projects (``RUN/hls4ml/<io type>``), compiled
and C-simulated against the NumPy reference. Torch-free."""

from __future__ import annotations

import time

import onnx

from adderflow.config import hls_io_types
from adderflow.errors import AdderflowError
from adderflow.runs import Run


def _csim_one(run: Run, model, reference: dict, io_type: str):
    """Build one io type's hls4ml project, C-simulate it; its comparison and timings."""
    from adderflow.hw.hls4ml_backend import HlsProject, HlsSettings
    from adderflow.sim.compare import compare
    from adderflow.sim.executor import output_name

    h = run.cfg.hls
    settings = HlsSettings(io_type, h.reuse_factor, h.part, h.clock_period_ns)
    project = HlsProject(model, run.paths.hls_project(io_type), settings)
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
    from adderflow.sim.executor import load_model, run_reference

    if not run.paths.model.is_file():
        raise AdderflowError(f"{run.paths.model} not found: export the run first")
    model = load_model(run.paths.model)
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
    if skip_binary(run, "hls", "adderflow's hls4ml extension has no binary layers"):
        return
    if any(c.first is not None for c in verify_hls(run).values()):
        raise AdderflowError("hls4ml C-simulation differs from the reference: see above")


def skip_binary(run: Run, stage: str, why: str) -> bool:
    """Log and record a skipped hardware stage when the run's model has binary layers."""
    from adderflow.sim.ops import binary_layers

    if not run.paths.model.is_file():
        return False  # the stage itself says the model is missing
    layers = binary_layers(onnx.load(str(run.paths.model)))
    if not layers:
        return False
    reason = f"binary layers ({', '.join(layers)}): {why} yet"
    run.log(f"[{stage}] skipped: {reason}")
    run.update_metrics(skipped={stage: reason})
    return True
