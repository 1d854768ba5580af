"""Stages record completion (``stages.json``): a rerun of ``adderflow run`` skips what
finished, ``--from``/``--to`` run a slice, and bad stage names are refused by name.

Every test works on a copy of the README's finished quick run and runs at most the report
stage, so the whole file costs seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from runs import copy_run

from adderflow import pipeline
from adderflow.cli import main
from adderflow.run_paths import RunPaths
from adderflow.runs import reopen_run
from adderflow.stage_log import StageLog, file_digest

STAGES = pipeline.FLOWS["run"]


@pytest.fixture
def finished(readme_run: Path, tmp_path: Path) -> RunPaths:
    """A copy of the README's run, reports included: every stage recorded as finished."""
    source = RunPaths(readme_run.resolve())
    paths = RunPaths(copy_run(source.root, tmp_path / "finished run"))
    for name in ("report_md", "report_html"):
        shutil.copy2(getattr(source, name), getattr(paths, name))
    return paths


def _state(paths: RunPaths) -> tuple[dict, dict]:
    return json.loads(paths.stages.read_text()), json.loads(paths.metrics.read_text())["seconds"]


def test_the_readme_run_recorded_every_stage(finished):
    log = StageLog(finished, reopen_run(finished.root).cfg)
    assert [s for s in STAGES if log.finished(s)] == STAGES
    quantized = {"model.qonnx.onnx", "model.standard.onnx", "model.network.npz"}
    assert set(log.entries["quantize"]["outputs"]) == quantized
    assert "rtl/af_network.v" in log.entries["rtl"]["outputs"]


def test_a_rerun_skips_every_finished_stage(finished):
    before = _state(finished)
    assert main(["run", "--out", str(finished.root)]) == 0
    assert _state(finished) == before  # no stage ran: neither its record nor its time moved
    last = finished.log.read_text().splitlines()[-1]
    assert last == f"[adderflow] finished before, skipped: {', '.join(STAGES)}"


def test_a_changed_output_runs_its_stage_again(finished):
    records, seconds = _state(finished)
    finished.report_md.write_text("edited by hand\n")
    assert main(["run", "--out", str(finished.root)]) == 0
    after, after_seconds = _state(finished)
    assert finished.report_md.read_text() != "edited by hand\n"
    assert {k: v for k, v in after.items() if k != "report"} == {
        k: v for k, v in records.items() if k != "report"
    }
    assert after["report"]["outputs"]["report.md"] == file_digest(finished.report_md)
    assert after_seconds["report"] != seconds["report"]
    assert {k: v for k, v in after_seconds.items() if k != "report"} == {
        k: v for k, v in seconds.items() if k != "report"
    }
    assert "[adderflow] finished before, skipped: " + ", ".join(STAGES[:-1]) in (
        finished.log.read_text()
    )


def test_from_and_to_run_exactly_that_slice(finished):
    run = reopen_run(finished.root)
    assert pipeline.plan(run, "run", "quantize", "rtl") == ["quantize", "verify", "rtl"]
    assert pipeline.plan(run, "run", last="rtl", skip_finished=True) == []
    assert pipeline.plan(run, "run", first="report", skip_finished=True) == ["report"]
    _, seconds = _state(finished)
    assert main(["run", "--out", str(finished.root), "--from", "report", "--to", "report"]) == 0
    _, after = _state(finished)
    assert after["report"] != seconds["report"]
    assert {k: after[k] for k in STAGES[:-1]} == {k: seconds[k] for k in STAGES[:-1]}


def _snapshot(root: Path) -> dict:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".adderflow-lock"}  # fmt: skip


def test_from_needs_every_earlier_stage_finished(finished, capsys):
    records = json.loads(finished.stages.read_text())
    del records["verify"]
    finished.stages.write_text(json.dumps(records))
    before = _snapshot(finished.root)
    assert main(["run", "--out", str(finished.root), "--from", "rtl"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("adderflow: error: --from rtl: stage verify has not finished")
    assert len(err.splitlines()) == 1
    log = finished.log.read_text()
    assert _snapshot(finished.root) == before | {str(finished.log): log.encode()}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--from", "synthesis"], "--from 'synthesis' is not a stage of `adderflow run`"),
        (["--to", "bitstream"], "--to 'bitstream' is not a stage of `adderflow run`"),
        (["--from", "rtl", "--to", "quantize"], "--from rtl comes after --to quantize"),
    ],
)
def test_bad_stage_names_are_refused_listing_the_valid_ones(finished, argv, message, capsys):
    before = _snapshot(finished.root)
    assert main(["run", "--out", str(finished.root), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and ", ".join(STAGES) in err and len(err.splitlines()) == 1
    assert _snapshot(finished.root) == before  # refused before the run is even opened


def test_from_without_out_is_refused(capsys):
    assert main(["run", "--quick", "--from", "rtl"]) == 2
    assert "--from needs --out" in capsys.readouterr().err

