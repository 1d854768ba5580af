"""A new user's first hour (issue [M]): live progress, the thread policy, any image shape and
class count, a stalled student named in the log, and the end-of-run summary."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tools import missing

from adderflow import progress, threads
from adderflow.config import load_config
from adderflow.data import load_dataset
from adderflow.errors import ConfigError
from adderflow.models import digits_net
from adderflow.progress import Status, classify
from adderflow.stall import chance, stall_note

CLI = [sys.executable, "-m", "adderflow.cli"]


def _until(condition, seconds: float = 20.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass; whether it held."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def adderflow(*args: str, cwd: Path | None = None, timeout: float = 600):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


# --------------------------------------------------------------------------- progress


def test_tool_lines_become_steps_and_details():
    assert classify("yosys", "2.4. Executing PROC pass (convert processes).") == (
        None,
        "PROC pass",
    )
    assert classify("yosys", "Warning: something") == (None, None)
    pnr = "nextpnr-ecp5"
    assert classify(pnr, "Info: Running main analytical placer, max ...")[0] == f"{pnr}: placing"
    assert classify(pnr, "Info: Routing..")[0] == f"{pnr}: routing"
    assert classify(pnr, "Info:     at iteration #3, type ALL: wirelen = 5") == (
        None,
        "at iteration #3, type ALL: wirelen = 5",
    )
    assert classify(pnr, "Info:       iter=4 wires=100 overused=7") == (
        None,
        "iter=4 wires=100 overused=7",
    )
    assert classify(pnr, "Info: Packing IOs..")[0] == f"{pnr}: packing"


def test_plain_status_prints_step_changes_and_heartbeats(monkeypatch):
    monkeypatch.setattr(progress, "REDRAW", 0.05)
    monkeypatch.setattr(progress, "HEARTBEAT", 0.3)
    out = io.StringIO()
    status = Status(stream=out, live=False)
    with status.stage("synth"):
        status.step("yosys")
        status.tool_line("yosys", "2.4. Executing PROC pass (x).")
        status.tool_line("nextpnr-ecp5", "Info: Running simulated annealing placer")
        status.tool_line("nextpnr-ecp5", "Info:   at iteration #7: temp = 0.1")
        # Polled, not slept: a loaded CI machine may run the ticker late.
        assert _until(lambda: "placing at iteration #7" in out.getvalue())
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"\[synth 0:\d\d\] yosys", lines[0])
    assert re.fullmatch(r"\[synth 0:\d\d\] nextpnr-ecp5: placing", lines[1])
    # No redraws without a terminal; the heartbeat carries the latest detail.
    assert "\r" not in out.getvalue()
    heartbeat = r"\[synth 0:\d\d\] nextpnr-ecp5: placing at iteration #7: temp = 0\.1"
    assert any(re.fullmatch(heartbeat, line) for line in lines[2:])


def test_live_status_redraws_one_line_and_log_messages_clear_it(monkeypatch, capsys):
    monkeypatch.setattr(progress, "REDRAW", 0.05)
    out = io.StringIO()
    status = Status(stream=out, live=True)
    with status.stage("rtl"):
        status.step("verilator build")
        assert _until(lambda: re.search(r"\r\x1b\[K\[rtl 0:\d\d\] verilator build", out.getvalue()))
        drawn = out.getvalue()
        status.echo("[rtl] simulating 16 images on verilator")
        redrawn = r"\r\x1b\[K\[rtl 0:\d\d\] simulating 16 images on verilator"
        # The logged message becomes the step.
        assert _until(lambda: re.search(redrawn, out.getvalue()))
    assert drawn.count("\n") == 0  # one line, redrawn in place
    assert capsys.readouterr().out == "[rtl] simulating 16 images on verilator\n"
    assert out.getvalue().endswith("\r\x1b[K")  # the line is cleared when the stage ends


def test_a_background_job_is_shown_beside_the_stage():
    """The early synthesis reports from its own thread: its steps go beside the foreground
    stage's, never over them."""
    import threading

    out = io.StringIO()
    status = Status(stream=out, live=False)
    seen: list[str] = []
    with status.stage("hls"):
        status.step("io_parallel: compiling")

        def job() -> None:
            with status.background("synth"):
                status.step("yosys")
                status.detail("PROC pass")
                seen.append(status.line())

        thread = threading.Thread(target=job)
        thread.start()
        thread.join()
        seen.append(status.line())
    assert seen[0] == "[hls 0:00] io_parallel: compiling | synth 0:00: yosys PROC pass"
    assert seen[1] == "[hls 0:00] io_parallel: compiling"
    lines = ["[hls 0:00] io_parallel: compiling", "[synth 0:00] yosys"]
    assert out.getvalue().splitlines() == lines


def test_run_tool_streams_yosys_passes_into_the_status(tmp_path, monkeypatch):
    from adderflow.hw import synth

    try:
        synth.tool("yosys")
    except Exception as exc:  # noqa: BLE001
        missing(f"{exc}")
    verilog = "module t(input [3:0] a, output [3:0] y);\n  assign y = ~a;\nendmodule\n"
    (tmp_path / "t.v").write_text(verilog)
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(
        progress.STATUS, "tool_line", lambda tool, line: seen.append((tool, line.strip()))
    )
    synth.run_tool("yosys", ["-v", "3", "-p", "read_verilog t.v; proc"], tmp_path, lambda _: None)
    assert ("yosys", "2. Executing PROC pass (convert processes to netlists).") in seen
    assert "Executing PROC pass" in (tmp_path / "yosys.log").read_text()


# --------------------------------------------------------------------------- threads


def test_thread_policy(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.auto_threads(2) == 1 and threads.auto_threads(16) == 8
    assert threads.auto_threads(1) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.resolve_threads(0) == 3
    assert threads.resolve_threads(5) == 5
    with pytest.raises(ConfigError, match="threads must be 0"):
        threads.resolve_threads(-1)
    with pytest.raises(ConfigError, match="threads must be 0"):
        load_config(None, ["threads=-2"])


def test_openmp_waits_spin_briefly_unless_the_user_chose(monkeypatch):
    for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
        monkeypatch.delenv(name, raising=False)
    threads.openmp_waits()
    assert os.environ["GOMP_SPINCOUNT"] == "10000"
    monkeypatch.setenv("GOMP_SPINCOUNT", "7")
    threads.openmp_waits()
    assert os.environ["GOMP_SPINCOUNT"] == "7"
    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    threads.openmp_waits()
    assert "GOMP_SPINCOUNT" not in os.environ


def test_threads_flag_is_validated_in_one_line(tmp_path):
    done = adderflow("run", "--quick", "--threads", "-1", "--out", str(tmp_path / "r"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "adderflow: error: threads must be 0 (auto) or a positive count, got -1"
    ]


# --------------------------------------------------------------------------- data shapes


def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_mnist_takes_any_class_count(tmp_path):
    rng = np.random.default_rng(3)
    files = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (30, 8, 8)),
        "train-labels-idx1-ubyte": np.arange(30) % 26,  # EMNIST letters: 26 classes
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (4, 8, 8)),
        "t10k-labels-idx1-ubyte": np.array([0, 25, 3, 12]),
    }
    for name, array in files.items():
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(_idx(array)))
    d = load_dataset("mnist", tmp_path)
    assert d.num_classes == 26 and d.test_y.tolist() == [0, 25, 3, 12]


def test_digits_net_takes_non_square_images_and_names_bad_sizes():
    import torch

    model = digits_net("adder", 4, 3, 5, (8, 12))
    assert model(torch.zeros(2, 3, 8, 12)).shape == (2, 5)
    with pytest.raises(ConfigError, match="divisible by 4.*got 10×12.*e.g. to 8×12"):
        digits_net("adder", 4, 3, 5, (10, 12))


def _separable_folder(root: Path, classes: int, height: int, width: int) -> None:
    """``classes`` classes told apart by which horizontal band is bright."""
    rng = np.random.default_rng(11)
    band = height // classes
    for split, count in (("train", 12), ("test", 4)):
        for label in range(classes):
            for i in range(count):
                pixels = rng.integers(0, 40, (height, width, 3)).astype(np.uint8)
                pixels[label * band : (label + 1) * band] += 200
                path = root / split / f"class{label}" / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(path)


def test_non_square_three_class_folder_runs_end_to_end(tmp_path, monkeypatch):
    """Non-square 8×12 images, 3 classes: train, quantize, verify, RTL simulation, report;
    the run ends with the summary naming report.html. qonnx and onnxruntime check
    ``verify.backend_samples`` images, ``verify --full`` all, and a long check is estimated
    in the log first."""
    from adderflow import runs, verify_budget
    from adderflow.sim.executor import load_model

    _separable_folder(tmp_path / "data", 3, 8, 12)
    out = tmp_path / "run"
    done = adderflow(
        "run", "--quick", "--out", str(out), "--set", "data.name=folder",
        "--set", f"data.root={tmp_path / 'data'}", "--set", "hls.enabled=false",
        "--set", "rtl.samples=4", "--set", "verify.backend_samples=5",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    for name, comparison in metrics["equivalence"].items():
        assert comparison["mismatches"] == 0, name
    equivalence = metrics["equivalence"]
    assert equivalence["rtl_verilator"]["samples"] == 4
    assert equivalence["torch_vs_reference"]["samples"] == 12  # 4 test images a class
    assert equivalence["qonnx_exec"]["samples"] == equivalence["onnxruntime"]["samples"] == 5
    log = (out / "log.txt").read_text()
    assert "qonnx and onnxruntime check the first 5 of 12 test images" in log
    assert f"report    {out.resolve() / 'report.html'}" in done.stdout
    assert "torch thread(s)" in log

    done = adderflow("verify", str(out), "--full")
    assert done.returncode == 0, done.stdout + done.stderr
    equivalence = json.loads((out / "metrics.json").read_text())["equivalence"]
    assert equivalence["qonnx_exec"] == {"samples": 12, "mismatches": 0}
    assert equivalence["onnxruntime"] == {"samples": 12, "mismatches": 0}

    monkeypatch.setattr(verify_budget, "ESTIMATE_FROM", 10)
    said: list[str] = []
    x = runs.reopen_run(out).data.test_x
    verify_budget.announce(said.append, load_model(out / "model.qonnx.onnx"), x, 12)
    assert said and said[-1].startswith("[verify] qonnx + onnxruntime on 12 images: about ")


# --------------------------------------------------------------------------- log lines


def test_stalled_student_is_named():
    flat = [0.3333] * 4 + [0.6667] * 10
    note = stall_note(flat, 1 / 3, teacher=1.0)
    assert note is not None and "0.6667" in note and "epoch 5-14" in note and "1.0000" in note
    assert stall_note(flat[:-1], 1 / 3, teacher=1.0) is None  # nine flat epochs: not yet
    assert stall_note(flat[:9], 1 / 3, teacher=1.0) is None  # too few epochs
    learning = [0.3 + 0.01 * i for i in range(20)]
    assert stall_note(learning, 1 / 3, teacher=1.0) is None
    near_teacher = [0.95] * 12
    assert stall_note(near_teacher, 0.1, teacher=0.97) is None
    assert stall_note([0.1] * 12, 0.1, teacher=None) is not None
    assert stall_note([0.8] * 12, 0.1, teacher=None) is None
    assert chance(np.array([0, 0, 1, 2])) == 0.5


def test_co_trained_teacher_log_line_reads(tmp_path):
    from adderflow.runs import open_run
    from adderflow.train_flow import stage_teacher

    cfg = load_config(None, ["distill.method=pkkd", "distill.pkkd_stages=1"])
    run = open_run(tmp_path / "r", cfg)
    stage_teacher(run)
    assert (tmp_path / "r" / "log.txt").read_text() == (
        "[teacher] skipped: distill.method=pkkd co-trains its teacher with the student\n"
    )


def test_stop_tools_ends_a_running_synthesis_tool(tmp_path):
    """A failed stage after an early synthesis stops yosys at once (hw.synth.stop_tools)."""
    import threading

    from adderflow.errors import AdderflowError
    from adderflow.hw import synth

    try:
        synth.tool("yosys")
    except AdderflowError as exc:
        missing(f"{exc}")
    # A script that is a FIFO nobody writes: yosys blocks opening it until it is stopped,
    # however fast the machine.
    os.mkfifo(tmp_path / "spin.ys")
    errors: list[Exception] = []

    def work() -> None:
        try:
            synth.run_tool("yosys", ["-q", "-s", "spin.ys"], tmp_path, lambda _: None)
        except AdderflowError as exc:
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        assert _until(lambda: bool(synth._RUNNING)), "yosys never started"
        start = time.perf_counter()
        synth.stop_tools()
        thread.join(timeout=30)
        synth.allow_tools()
        assert not thread.is_alive() and time.perf_counter() - start < 30
    finally:
        if thread.is_alive():  # release a yosys that was not stopped: EOF on its script
            os.close(os.open(tmp_path / "spin.ys", os.O_WRONLY | os.O_NONBLOCK))
    assert errors and "stopped" in str(errors[0])
    with pytest.raises(AdderflowError, match="stopped"):
        synth.stop_tools()
        try:
            synth.run_tool("yosys", ["-q", "-p", "help"], tmp_path, lambda _: None)
        finally:
            synth.allow_tools()


def test_verify_estimate_times_only_the_per_image_part(monkeypatch):
    """The one-off lowering and the first call's warm-up are not multiplied by n."""
    from adderflow import verify_budget
    from adderflow.export import lower_standard
    from adderflow.sim import executor

    clock = [0.0]
    monkeypatch.setattr(verify_budget.time, "perf_counter", lambda: clock[0])

    def lower(model, _standard):
        clock[0] += 100.0  # one-off
        return model

    def run(_model, images):
        clock[0] += 1.0 * len(images)

    monkeypatch.setattr(lower_standard, "lower_to_standard_onnx", lower)
    monkeypatch.setattr(lower_standard, "run_onnxruntime", run)
    monkeypatch.setattr(executor, "run_qonnx", run)
    assert verify_budget.seconds_per_image(object(), np.zeros((5, 1, 4, 4))) == 2.0
