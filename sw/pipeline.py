"""The main job as a named list of stages over one resumable run directory.

Each stage is ``stage(run) -> None``: it reads what earlier stages left in the run
directory, writes its own results atomically, and records its metrics and time in
``metrics.json``. A stage that succeeds is recorded in ``stages.json``
(``adderflow.stage_log``): a rerun of ``adderflow run`` skips the finished ones, and
``--from``/``--to`` run a slice of the flow. Training stages resume from their last
checkpoint, so re-running a stage on an interrupted run continues rather than restarts.

The stages live by concern: ``train_flow`` (teacher, student) and ``quantize_flow`` need
PyTorch; ``verify_flow``, ``rtl_flow``, ``hls_flow``, ``synth_flow`` and this module do
not, and import the torch side only when a torch stage runs.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

from adderflow.atomic import atomic_write_json, atomic_write_text
from adderflow.distributed import is_main
from adderflow.errors import AdderflowError, ConfigError
from adderflow.progress import STATUS
from adderflow.runs import Run
from adderflow.stage_log import StageLog

# Stage name -> "module:function" (imported when the stage runs, so a hardware flow never
# loads the training side).
STAGE_FUNCTIONS = {
    "teacher": "adderflow.train_flow:stage_teacher",
    "student": "adderflow.train_flow:stage_student",
    "quantize": "adderflow.quantize_flow:stage_quantize",
    "verify": "adderflow.verify_flow:stage_verify",
    "rtl": "adderflow.rtl_flow:stage_rtl",
    "hls": "adderflow.hls_flow:stage_hls",
    "synth": "adderflow.synth_flow:stage_synth",
    "report": "adderflow.pipeline:stage_report",
}
STAGE_NAMES = tuple(STAGE_FUNCTIONS)
# The stages that train data-parallel under torchrun (every rank runs them).
TRAINING_STAGES = ("teacher", "student")
# The stages that always need PyTorch (verify uses it where it is installed).
TORCH_STAGES = ("teacher", "student", "quantize")
FLOWS = {
    "run": ["teacher", "student", "quantize", "verify", "rtl", "hls", "synth", "report"],
    "train": ["teacher", "student"],
    "export": ["quantize"],
    "quantize": ["quantize", "verify", "report"],
    "verify": ["verify"],
    "report": ["report"],
}


def stage_function(name: str) -> Callable[[Run], None]:
    module, function = STAGE_FUNCTIONS[name].split(":")
    return getattr(importlib.import_module(module), function)


def stage_report(run: Run) -> None:
    from adderflow.report import render_report, reproduce_commands
    from adderflow.report_html import render_html
    from adderflow.sim.onnx_io import read_onnx

    paths = run.paths
    model = read_onnx(paths.model) if paths.model.exists() else None
    metrics = run.metrics()
    atomic_write_text(paths.report_md, render_report(metrics, run.cfg, model))
    atomic_write_text(paths.report_html, render_html(metrics, reproduce_commands(run.cfg)))
    run.log(f"[report] wrote {paths.report_md} and {paths.report_html.name}")


def check_slice(flow: str, first: str | None, last: str | None) -> tuple[int, int]:
    """``flow``'s stages from ``first`` to ``last`` as a slice's bounds; a ConfigError
    naming a stage ``flow`` does not have (listing the valid ones) or a reversed pair."""
    stages = FLOWS[flow]
    for name, option in ((first, "--from"), (last, "--to")):
        if name is not None and name not in stages:
            raise ConfigError(
                f"{option} {name!r} is not a stage of `adderflow {flow}`; valid: "
                f"{', '.join(stages)}"
            )
    start = stages.index(first) if first else 0
    stop = stages.index(last) + 1 if last else len(stages)
    if start >= stop:
        raise ConfigError(
            f"--from {first} comes after --to {last}; valid order: {', '.join(stages)}"
        )
    return start, stop


def plan(
    run: Run,
    flow: str,
    first: str | None = None,
    last: str | None = None,
    skip_finished: bool = False,
) -> list[str]:
    """The stages of ``flow`` to run, in order: from ``first`` (whose earlier stages must
    have finished) to ``last``; with ``skip_finished``, without the finished stages that
    lead it (once one stage runs, every later one runs too)."""
    stages = FLOWS[flow]
    start, stop = check_slice(flow, first, last)
    log = StageLog(run.paths, run.cfg)

    def finished(stage: str) -> bool:
        # An imported run's network is the model it was made from: nothing was trained.
        return (run.paths.imported and stage in TRAINING_STAGES) or log.finished(stage)

    for earlier in stages[:start]:
        if not finished(earlier):
            raise ConfigError(
                f"--from {first}: stage {earlier} has not finished in {run.out} (or its "
                f"outputs changed since); run it first, e.g. --from {earlier}"
            )
    selected = stages[start:stop]
    if skip_finished and first is None:
        while selected and finished(selected[0]):
            selected = selected[1:]
    _check_imported(run, selected)
    return selected


def _check_imported(run: Run, stages: list[str]) -> None:
    """An imported run has no student to train or quantize again: refuse those stages."""
    torch_stages = [s for s in stages if s in TORCH_STAGES]
    if torch_stages and run.paths.imported:
        raise ConfigError(
            f"{run.out} was made by `adderflow import --to-run`: it has no trained student, "
            f"so stage {torch_stages[0]} cannot run (swapping or retraining layers needs a "
            "PyTorch model); run verify, rtl, hls, synth, report, or `adderflow run --from "
            f"verify --out {run.out}`"
        )


def execute(
    run: Run,
    flow: str,
    first: str | None = None,
    last: str | None = None,
    skip_finished: bool = False,
) -> dict[str, Any]:
    """Run the stages of ``flow`` that ``plan`` picks, in order, timing each; returns the
    final metrics.

    A stage's error is written to ``log.txt`` too, and ``metrics.json`` names the stage
    (``failed``); a later successful pass over that stage clears it. The synthesis of
    ``run`` starts with the RTL stage (``adderflow.early_synth``); ``synth`` waits for it.
    """
    stages = plan(run, flow, first, last, skip_finished)
    d, q = run.cfg.data, run.cfg.quant
    run.update_metrics(dataset=d.name, bits=q.bits)
    skipped = [s for s in FLOWS[flow] if s not in stages]
    if skipped and skip_finished and first is None and last is None:
        run.log(f"[adderflow] finished before, skipped: {', '.join(skipped)}")
    _apply_threads(run, stages)
    log = StageLog(run.paths, run.cfg)
    early = None
    try:
        for name in stages:
            if not is_main() and name not in TRAINING_STAGES:
                continue  # under torchrun only training is parallel; rank 0 does the rest
            later = STAGE_NAMES[STAGE_NAMES.index(name) + 1 :]
            if skip_finished:  # a killed stage must not look finished to the next rerun
                log.forget([name, *later])
            early = _run_stage(run, name, stages, early)
            if log.record(name):
                log.forget(later)  # their inputs changed
    finally:
        if early is not None:  # a stage after rtl failed: stop yosys/nextpnr first
            early.cancel()
    return run.metrics()


def _apply_threads(run: Run, stages: list[str]) -> None:
    """torch's thread count, where a stage of ``stages`` uses torch."""
    from adderflow.threads import apply_threads
    from adderflow.verify_flow import torch_installed

    if not any(s in TORCH_STAGES for s in stages):
        if "verify" not in stages or not torch_installed():
            return
    threads = apply_threads(run.cfg.threads)
    if any(name in TRAINING_STAGES for name in stages):
        run.log(f"[adderflow] {threads} torch thread(s) (threads={run.cfg.threads}; 0: auto)")


def _run_stage(run: Run, name: str, stages: list[str], early):
    """One stage, timed, its failure recorded; returns the running early synthesis."""
    from adderflow.early_synth import start_early

    start = time.perf_counter()
    try:
        with STATUS.stage(name, ticker=name not in TRAINING_STAGES):
            if name == "rtl":
                early = start_early(run, stages)
            if name == "synth" and early is not None:
                early, waiting = None, early
                waiting.finish()
            else:
                stage_function(name)(run)
    except (AdderflowError, OSError) as exc:
        _record_failure(run, name, exc)
        raise
    run.update_metrics(seconds={name: round(time.perf_counter() - start, 3)})
    if run.metrics().get("failed", {}).get("stage") == name:
        _clear_failure(run)
    return early


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
        atomic_write_json(run.paths.metrics, metrics)
