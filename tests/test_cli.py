"""The command line end to end: a quick run, verify (and its failure), resume, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest
from onnx import numpy_helper

from adderflow.checkpoint import load_checkpoint

CLI = [sys.executable, "-m", "adderflow.cli"]


def adderflow(*args: str, cwd: Path | None = None, timeout: float = 600):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "quick"
    done = adderflow("run", "--quick", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_help_lists_subcommands():
    done = adderflow("--help")
    assert done.returncode == 0
    for command in ("run", "train", "export", "verify", "report"):
        assert command in done.stdout


def test_quick_run_writes_the_run_directory(quick_run: Path):
    for name in (
        "config.yaml",
        "metrics.json",
        "report.md",
        "model.qonnx.onnx",
        "model.standard.onnx",
        "report.html",
        "log.txt",
        "checkpoints/teacher.pt",
        "checkpoints/student.pt",
        "checkpoints/student.csv",
    ):
        assert (quick_run / name).is_file(), name
    metrics = json.loads((quick_run / "metrics.json").read_text())
    assert metrics["dataset"] == "digits" and metrics["bits"] == 8
    for role in ("teacher", "student", "quantized"):
        assert 0.0 <= metrics[role]["accuracy"] <= 1.0
    assert metrics["teacher"]["params"] > 0 and metrics["student"]["params"] > 0
    for name in ("torch_vs_reference", "qonnx_exec", "onnxruntime"):
        assert metrics["equivalence"][name] == {"samples": 360, "mismatches": 0}
    student, teacher = metrics["ops"]["student"], metrics["ops"]["teacher"]
    assert student["add"] > teacher["add"] and student["mul"] < teacher["mul"]
    assert teacher["mul"] == teacher["add"]
    cost = metrics["cost"]
    assert cost["ann"]["uncounted"] == [] and cost["cnn_over_ann"]["arith_pj"] > 1.5
    assert set(metrics["seconds"]) == {
        "teacher",
        "student",
        "quantize",
        "verify",
        "rtl",
        "hls",
        "synth",
        "report",
    }
    report = (quick_run / "report.md").read_text()
    assert "bit-exact" in report and "torch_vs_reference" in report


def test_quick_run_logs_one_line_per_epoch(quick_run: Path):
    log = (quick_run / "log.txt").read_text()
    assert "[teacher] epoch 2/2" in log and "[student] epoch 1/2" in log
    assert "test_acc" in log


def test_verify_passes_then_names_a_corrupted_node(quick_run: Path, tmp_path: Path):
    done = adderflow("verify", str(quick_run))
    assert done.returncode == 0, done.stderr
    assert "b1_adder_conv" in done.stdout

    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in ("config.yaml", "checkpoints"):
        os.symlink(quick_run / name, corrupt / name)
    model = onnx.load(str(quick_run / "model.qonnx.onnx"))
    init = next(t for t in model.graph.initializer if t.name == "b2_adder_conv_weight")
    w = numpy_helper.to_array(init).copy()
    w[3, 1, 0, 2] += 1
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(model, str(corrupt / "model.qonnx.onnx"))

    done = adderflow("verify", str(corrupt))
    assert done.returncode == 1
    assert "first divergence: node 'b2_adder_conv' (tensor 'b2_adder_conv_acc')" in done.stdout
    assert "diff=" in done.stdout


def test_rtl_then_verify_rtl_and_a_corrupted_weight_file(quick_run: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(quick_run, run, symlinks=True)
    done = adderflow("rtl", str(run), "--target-cycles", "2400")
    assert done.returncode == 0, done.stderr
    assert "cycles per image (cycle model)" in done.stdout and "b1_adder_conv" in done.stdout
    for name in ("af_network.v", "design.json", "b1_adder_conv_weights.hex"):
        assert (run / "rtl" / name).is_file(), name
    done = adderflow("verify", str(run), "--backend", "rtl", "--samples", "8")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rtl_verilator" in done.stdout and "= model" in done.stdout

    weights = run / "rtl" / "b2_adder_conv_weights.hex"
    lines = weights.read_text().splitlines()
    lines[2] = format(int(lines[2], 16) ^ (1 << 6), f"0{len(lines[2])}x")
    weights.write_text("\n".join(lines) + "\n")
    done = adderflow("verify", str(run), "--backend", "rtl", "--samples", "8")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "first divergence: node 'b5_mul_dense_requant'" in done.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["equivalence"]["rtl_verilator"]["mismatches"] > 0

    done = adderflow("rtl", str(run), "--target-cycles", "5")
    assert done.returncode == 2 and "no folding reaches 5 cycles" in done.stderr


def test_rtl_target_fps_picks_the_least_estimated_area_and_verifies(
    quick_run: Path, tmp_path: Path
):
    """--target-fps at the ULX3S's 25 MHz: the folding meets the rate by its bound and by
    the handshake model, is exact on Verilator with cycles equal to the model, and no
    cheaper folding (estimate) meets the same bound."""
    from adderflow.hw.network import read_layers
    from adderflow.hw.network.explore import pareto_front

    run = tmp_path / "run"
    shutil.copytree(quick_run, run, symlinks=True)
    done = adderflow("rtl", str(run), "--target-fps", "2000")
    assert done.returncode == 0, done.stderr
    assert "target 2000 images/s at 25 MHz: interval at most 12500 cycles" in done.stdout
    chosen = json.loads((run / "metrics.json").read_text())["rtl"]["design"]["target_fps"]
    assert chosen["interval_stepped"] <= chosen["interval_bound"] <= 12500
    assert chosen["images_per_second"] >= 2000
    layers, _, _ = read_layers(onnx.load(str(run / "model.qonnx.onnx")))
    meeting = [p for p in pareto_front(layers) if p.interval <= 12500]
    assert chosen["estimate"]["luts"] == round(meeting[-1].luts)
    design = json.loads((run / "rtl" / "design.json").read_text())
    assert [ly["pe"] for ly in design["layers"]] == list(meeting[-1].folding.pe)
    done = adderflow("verify", str(run), "--backend", "rtl", "--samples", "4")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rtl_verilator: 0 mismatching of 4" in done.stdout and "= model" in done.stdout
    for args, what in (
        (("--target-fps", "0"), "--target-fps must be positive"),
        (("--target-fps", "10", "--target-cycles", "900"), "not both"),
        (("--target-fps", "1e8"), "under one cycle"),
        (("--target-fps", "1e6"), "no folding reaches 25 cycles"),
        (("--target-fps", "10", "--window", "line"), "line windows"),
    ):
        done = adderflow("rtl", str(run), *args)
        assert done.returncode == 2 and what in done.stderr, (args, done.stderr)


def test_export_alone_on_a_run(quick_run: Path):
    before = (quick_run / "model.qonnx.onnx").read_bytes()
    done = adderflow("export", str(quick_run))
    assert done.returncode == 0, done.stderr
    assert (quick_run / "model.qonnx.onnx").read_bytes() == before  # deterministic


def test_quantize_qat_into_a_new_run_with_every_backend_equal(quick_run: Path, tmp_path: Path):
    out = tmp_path / "qat4"
    done = adderflow("quantize", str(quick_run), "--bits", "4", "--epochs", "2", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["quantized"]["mode"] == "qat" and metrics["quantized"]["bits"] == 4
    equivalence = metrics["equivalence"]
    for backend in ("torch_vs_reference", "qonnx_exec", "onnxruntime", "fake_quant"):
        assert equivalence[backend]["mismatches"] == 0, backend
        assert equivalence[backend]["samples"] == 360, backend
    assert metrics["student"] == json.loads((quick_run / "metrics.json").read_text())["student"]
    assert (out / "checkpoints" / "qat.pt").is_file() and (out / "report.html").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bits", "1"], "quant.bits 1 is outside the supported range"),
        (["--weight-bits", "17"], "quant.weight_bits 17 is outside the supported range"),
        (["--set", "student.epochs=9"], "student.epochs change training"),
    ],
)
def test_quantize_refuses_bad_settings(quick_run: Path, tmp_path: Path, args, message):
    done = adderflow("quantize", str(quick_run), "--out", str(tmp_path / "q"), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "q").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bits", "0"], "quant.bits 0 is outside the supported range"),
        (["--bits", "40"], "quant.bits 40 is outside the supported range"),
        (["--set", "student.nosuch=1"], "unknown config key 'student.nosuch'"),
        (["--set", "data.name=mnist", "--set", "data.root=/no/such/dir"], "/no/such/dir"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    done = adderflow("run", "--quick", "--out", str(tmp_path / "r"), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "r").exists()  # no half-made run directory


def test_verify_on_a_missing_run_is_exit_2(tmp_path):
    done = adderflow("verify", str(tmp_path / "nothing"))
    assert done.returncode == 2 and "nothing does not exist" in done.stderr


def test_corrupt_checkpoint_is_exit_2(quick_run: Path, tmp_path: Path):
    run = tmp_path / "broken"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_bytes((quick_run / "config.yaml").read_bytes())
    (run / "checkpoints" / "student.pt").write_bytes(b"\x00" * 64)
    done = adderflow("export", str(run))
    assert done.returncode == 2
    assert "student.pt is corrupt" in done.stderr and "Traceback" not in done.stderr


def test_reopening_with_another_config_is_refused(quick_run: Path):
    done = adderflow("run", "--quick", "--bits", "6", "--out", str(quick_run))
    assert done.returncode == 2 and "quant.bits" in done.stderr


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path: Path):
    out = tmp_path / "resumable"
    args = [
        "run",
        "--out",
        str(out),
        "--set",
        "teacher.epochs=1",
        "--set",
        "student.epochs=4",
        "--set",
        "synth.enabled=false",
        "--set",
        "hls.enabled=false",
        "--set",
        "rtl.enabled=false",
    ]  # resume is about training; later stages have tests
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    history = out / "checkpoints" / "student.csv"
    deadline = time.time() + 300
    while not (history.exists() and len(history.read_text().splitlines()) >= 2):
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The checkpoint, not the CSV beside it, is what a resume reads.
    epochs_done = load_checkpoint(out / "checkpoints" / "student.pt")["epoch"] + 1
    assert 1 <= epochs_done < 4

    done = adderflow(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resuming from student.pt at epoch {epochs_done + 1}/4" in done.stdout
    assert "[teacher] epoch" not in done.stdout  # the finished teacher is not retrained
    rows = history.read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [1, 2, 3, 4]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["equivalence"]["torch_vs_reference"]["mismatches"] == 0


def test_stages_run_alone_in_order(tmp_path: Path):
    out = tmp_path / "staged"
    assert adderflow("train", "--quick", "--out", str(out)).returncode == 0
    assert not (out / "model.qonnx.onnx").exists()
    for command in ("export", "verify", "report"):
        done = adderflow(command, str(out))
        assert done.returncode == 0, command + done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["equivalence"]["torch_vs_reference"] == {"samples": 360, "mismatches": 0}
    assert (out / "report.md").is_file()


@pytest.mark.slow
def test_main_job_meets_the_acceptance_bar(tmp_path: Path):
    """The default `adderflow run`: under 5 minutes, student >= 0.95, PTQ within 1 point."""
    out = tmp_path / "main"
    start = time.time()
    # Synthesis is timed by tests/test_synth.py; this bar is training through RTL and HLS.
    done = adderflow("run", "--out", str(out), "--rtl-full", "--set", "synth.enabled=false")
    elapsed = time.time() - start
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["student"]["accuracy"] >= 0.95
    assert abs(metrics["quantized"]["accuracy"] - metrics["student"]["accuracy"]) <= 0.01
    assert metrics["equivalence"]["torch_vs_reference"] == {"samples": 360, "mismatches": 0}
    assert metrics["equivalence"]["qonnx_exec"] == {"samples": 360, "mismatches": 0}
    assert metrics["equivalence"]["onnxruntime"] == {"samples": 360, "mismatches": 0}
    # The whole test split through the generated Verilog (compiled Verilator bench).
    assert metrics["equivalence"]["rtl_verilator"] == {"samples": 360, "mismatches": 0}
    verilator = metrics["rtl"]["simulation"]["verilator"]
    assert verilator["cycles_measured"] == [verilator["cycles_model"]]
    assert elapsed < 300, f"the main job took {elapsed:.0f} s"
    # A sample on Icarus, the event-driven simulator (about 1.7 k cycles/s here).
    done = adderflow(
        "verify", str(out), "--backend", "rtl", "--simulator", "icarus", "--samples", "3"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["equivalence"]["rtl_icarus"] == {"samples": 3, "mismatches": 0}
    icarus = metrics["rtl"]["simulation"]["icarus"]
    assert icarus["cycles_measured"] == [icarus["cycles_model"]]


def test_default_out_is_timestamped_with_a_latest_link(tmp_path: Path):
    done = adderflow(
        "train", "--quick", "--set", "student.epochs=1", "--set", "teacher.epochs=1", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    runs = [p for p in (tmp_path / "runs").iterdir() if p.name != "latest"]
    assert len(runs) == 1 and runs[0].name[:8].isdigit()
    latest = tmp_path / "runs" / "latest"
    assert latest.is_symlink() and latest.resolve() == runs[0].resolve()
    assert (latest / "checkpoints" / "student.pt").is_file()


def test_energy_subcommand_on_a_run(quick_run: Path):
    done = adderflow("energy", str(quick_run / "model.qonnx.onnx"))
    assert done.returncode == 0, done.stderr
    assert "CNN twin" in done.stdout and "b1_adder_conv" in done.stdout
    done = adderflow("energy", str(quick_run / "missing.onnx"))
    assert done.returncode == 2 and "missing.onnx does not exist" in done.stderr
