"""Run directories adderflow owns: foreign folders refused, symlinks resolved, one writer,
names that never collide, absolute paths, failures recorded, the shipped files checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from runs import copy_run

from adderflow import rundir
from adderflow.cli import main
from adderflow.config import Config
from adderflow.run_paths import LOCK_FILE, RUN_MARK
from adderflow.runs import with_absolute_paths


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time (the lock aside)."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != LOCK_FILE
    }


def test_a_folder_that_is_not_a_run_is_refused_and_left_alone(tmp_path, capsys):
    user = tmp_path / "u"
    (user / "rtl").mkdir(parents=True)
    (user / "rtl" / "mine.v").write_text("keep\n")
    before = snapshot(tmp_path)
    assert main(["run", "--quick", "--out", str(user)]) == 2
    err = capsys.readouterr().err
    assert "not empty and not an adderflow run" in err and str(user) in err
    assert snapshot(tmp_path) == before and (user / "rtl" / "mine.v").read_text() == "keep\n"


def test_an_empty_folder_is_adopted_and_marked(tmp_path):
    out, fresh = rundir.create(tmp_path / "empty")
    assert fresh and (out / RUN_MARK).is_file() and rundir.is_run_dir(out)
    (tmp_path / "made").mkdir()
    assert rundir.create(tmp_path / "made")[1]


def test_default_names_never_collide(tmp_path):
    name = tmp_path / "runs" / "20260101-000000"
    first, _ = rundir.create(name, unique=True)
    second, _ = rundir.create(name, unique=True)
    assert first == name and second == name.with_name(name.name + "-2")
    assert rundir.default_name(Path("runs")).is_absolute()


def test_resuming_through_runs_latest_keeps_the_link(readme_run, tmp_path, monkeypatch):
    run = copy_run(readme_run.resolve(), tmp_path / "runs" / "r1")
    (tmp_path / "runs" / "latest").symlink_to("r1")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--out", "runs/latest"]) == 0  # a plain resume: nothing to train
    assert os.readlink(tmp_path / "runs" / "latest") == "r1"
    assert main(["report", "runs/latest"]) == 0 and (run / "report.md").is_file()


def test_a_second_writer_is_refused_naming_the_holder(readme_run, tmp_path, capsys):
    run = copy_run(readme_run.resolve(), tmp_path / "r")
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(run / LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, f'{os.getpid()}\\n'.encode())\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n"
        )],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["report", str(run)]) == 2
        err = capsys.readouterr().err
        assert f"in use by process {holder.pid}" in err and str(run) in err
        assert not (run / "report.md").exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(["report", str(run)]) == 0  # the lock died with its holder


def test_data_root_is_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config()
    cfg.data.root = "data/mine"
    assert with_absolute_paths(cfg).data.root == str(tmp_path / "data" / "mine")


def test_a_failed_stage_is_in_the_log_and_metrics_until_it_passes(readme_run, tmp_path):
    run = copy_run(readme_run.resolve(), tmp_path / "r")
    student = run / "checkpoints" / "student.pt"
    good = student.read_bytes()
    student.write_bytes(b"\x00" * 64)
    assert main(["export", str(run)]) == 2
    assert "[quantize] error: checkpoint" in (run / "log.txt").read_text()
    failed = json.loads((run / "metrics.json").read_text())["failed"]
    assert failed["stage"] == "quantize" and "student.pt" in failed["error"]
    student.write_bytes(good)
    assert main(["export", str(run)]) == 0
    assert "failed" not in json.loads((run / "metrics.json").read_text())


def test_verify_checks_the_shipped_standard_model(readme_run, tmp_path, capsys):
    run = copy_run(readme_run.resolve(), tmp_path / "r")
    assert main(["verify", str(run)]) == 0
    path = run / "model.standard.onnx"
    model = onnx.load(str(path))
    weights = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    values = numpy_helper.to_array(weights).copy()
    values.flat[0] += 64
    weights.CopyFrom(numpy_helper.from_array(values, weights.name))
    onnx.save(model, str(path))
    capsys.readouterr()
    assert main(["verify", str(run)]) == 1
    out = capsys.readouterr().out
    assert "== reference vs onnxruntime ==" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["equivalence"]["onnxruntime"]["mismatches"] > 0


@pytest.mark.parametrize("name", ["metrics.json", "config.yaml", "rtl/af_network.v"])
def test_run_files_are_readable_by_others(readme_run, name):
    assert (readme_run / name).stat().st_mode & 0o777 == 0o644
