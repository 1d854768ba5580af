"""bench/distill.py's rows with their own settings (issue [Q]): each in its own resumable
run directory, sharing the default row's teacher only when the settings leave it alone."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "distill.py"


def _bench():
    spec = importlib.util.spec_from_file_location("distill_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves annotations through it
    spec.loader.exec_module(module)
    return module


def test_rows_parse_name_and_share():
    bench = _bench()
    known = set(bench.CONFIGS)
    kd, teacher_side = bench.parse_rows(
        ["ann_kd+student.lr=0.1", "ann_kd+teacher.lr=0.1"], ["distill.alpha=0.5"], known
    )
    assert kd.label == "ann_kd+student.lr=0.1+distill.alpha=0.5"
    assert kd.directory("_se80") == "ann_kd_se80+student.lr=0.1+distill.alpha=0.5"
    assert kd.student_side and not teacher_side.student_side
    assert bench.Row("ann").directory("") == "ann"  # the default row keeps its old name
    for bad, why in [
        (["nope"], "unknown config 'nope'"),
        (["ann+student.lr"], "not KEY=VALUE"),
        (["ann", "ann"], "named twice"),
    ]:
        with pytest.raises(ValueError, match=why):
            bench.parse_rows(bad, [], known)


def _run(out: Path, *configs: str, extra: tuple[str, ...] = ()) -> dict:
    cmd = [
        sys.executable, str(BENCH), "--dataset", "digits", "--widths", "4", "--seeds", "0",
        "--epochs", "1", "--out", str(out), "--json", str(out / "t.json"), *extra,
        "--configs", *configs,
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    return json.loads((out / "t.json").read_text())


def test_rows_with_settings_run_apart_share_teachers_and_resume(tmp_path):
    rows = ["ann", "ann_kd", "ann_kd+student.lr=0.1", "ann_kd+teacher.lr=0.1", "ann_pkkd"]
    first = _run(tmp_path, *rows)
    base = tmp_path / "digits" / "w4" / "s0"
    teacher = {r: (base / r / "checkpoints" / "teacher.pt").read_bytes() for r in rows[1:4]}
    assert teacher["ann_kd+student.lr=0.1"] == teacher["ann_kd"]  # shared, byte for byte
    assert teacher["ann_kd+teacher.lr=0.1"] != teacher["ann_kd"]  # trained its own
    assert "lr: 0.1" in (base / "ann_kd+student.lr=0.1" / "config.yaml").read_text()
    # PKKD's co-trained CNN is a row of its own (no logged fit), never held to the bar.
    co = "ann_pkkd co-trained CNN"
    assert set(first) == {"cnn", *rows, co, "against"}
    assert 0 <= first[co]["4"]["mean"] <= 1 and first[co]["4"]["train_mean"] is None
    assert 0 <= first[co]["4"]["eval_fit_mean"] <= 1  # measured in eval mode, like the rest
    assert co not in first["against"]["4"] and "ann_pkkd" in first["against"]["4"]
    row = first["ann_kd+student.lr=0.1"]["4"]
    assert row["n"] == 1 and 0 <= row["train_mean"] <= 1
    assert first["against"]["4"]["ann_kd"]["vs_plain"]["seeds"] == 1
    curves = base / "ann_kd+student.lr=0.1" / "checkpoints" / "student.csv"
    stamp = curves.stat().st_mtime_ns
    assert _run(tmp_path, *rows) == first  # a rerun resumes: nothing trains again
    assert curves.stat().st_mtime_ns == stamp
    # A longer student budget takes the same teacher, and its rerun reads the teacher's fit
    # from the run that trained it (the copy beside it has no training curve).
    longer = ("--student-epochs", "2")
    assert _run(tmp_path, "ann_kd", extra=longer) == _run(tmp_path, "ann_kd", extra=longer)
    assert (base / "ann_kd_se2" / "checkpoints" / "teacher.pt").read_bytes() == teacher["ann_kd"]


def test_equal_step_epochs_match_the_training_splits_steps():
    bench = _bench()
    # MNIST-1D: 4,000 training signals, 1,000 test, batch 64 (63 and 79 steps an epoch).
    assert bench.equal_step_epochs(160, 4000, 5000, 64) == 128  # 10,112 steps for 10,080
    assert bench.equal_step_epochs(40, 4000, 5000, 64) == 32
    assert bench.equal_step_epochs(4, 1437, 1797, 64) == 3  # digits: 92 steps for 87 (+1)
    assert bench.equal_step_epochs(1, 10, 1000, 64) == 1  # never below one epoch


def test_oracle_rows_train_on_the_test_labels_and_are_never_held_to_the_bar(tmp_path):
    from adderflow import api
    from adderflow.data import load_dataset
    from adderflow.train import accuracy

    rows = ["ann", "ann_kd", "ann_oracle", "ann_oracle_steps"]
    longer = ("--student-epochs", "4")
    first = _run(tmp_path, *rows, extra=longer)
    upper = ["ann_oracle (upper bound)", "ann_oracle_steps (upper bound)"]
    assert set(first) == {"cnn", "ann", "ann_kd", *upper, "against"}
    assert set(first["against"]["4"]) == {"ann_kd"}  # only methods are held to the bar
    base = tmp_path / "digits" / "w4" / "s0"
    digits = load_dataset("digits")
    for name, epochs in [("ann_oracle_se4", 4), ("ann_oracle_steps_se4", 3)]:
        data = load_dataset("npz", base / f"{name}.npz")  # what the run trained on
        assert np.array_equal(data.train_x, np.concatenate([digits.train_x, digits.test_x]))
        assert np.array_equal(data.train_y, np.concatenate([digits.train_y, digits.test_y]))
        assert np.array_equal(data.test_x, digits.test_x)
        assert np.array_equal(data.test_y, digits.test_y)
        config = (base / name / "config.yaml").read_text()
        assert "name: npz" in config and f"{name}.npz" in config
        curve = (base / name / "checkpoints" / "student.csv").read_text().splitlines()
        assert len(curve) == 1 + epochs  # header + one line an epoch
    assert first[upper[1]]["4"]["n"] == 1 and 0 <= first[upper[1]]["4"]["train_mean"] <= 1
    # The eval-mode fit is the trained student's accuracy on its own training split.
    plain = accuracy(api.load(base / "ann_se4"), digits.train_x, digits.train_y)
    assert first["ann"]["4"]["eval_fit_mean"] == plain
    teacher = accuracy(api.load(base / "ann_kd_se4", "teacher"), digits.train_x, digits.train_y)
    assert first["cnn"]["4"]["eval_fit_mean"] == teacher  # the teacher's, measured alike
    stamp = (base / "ann_oracle_se4" / "checkpoints" / "student.csv").stat().st_mtime_ns
    assert _run(tmp_path, *rows, extra=longer) == first  # a rerun resumes
    assert (base / "ann_oracle_se4" / "checkpoints" / "student.csv").stat().st_mtime_ns == stamp
