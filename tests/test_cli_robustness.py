"""Every command × every class of bad input: exit 2, one stderr line naming the thing, no
traceback, and nothing new or changed on disk (issue 17's table).

Most cells drive ``adderflow.cli.main`` in-process (one torch import for the whole table);
a few go through the installed console script to prove the real process prints one line.
A failure found inside a stage is also recorded in the run, by design (``log.txt`` gains an
``error`` line and ``metrics.json`` a ``failed`` entry): those two changes, and only those,
are allowed. The lock file (``.adderflow-lock``) holds the last holder's PID and is ignored.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from runs import copy_run

from adderflow.cli import main
from adderflow.run_paths import LOCK_FILE

WS = "{ws}"  # the cell's workspace: run/, file.txt, empty/, user/, garbage.bin, ro/


@dataclass(frozen=True)
class Cell:
    argv: tuple[str, ...]
    names: str  # the stderr line must contain this (after {ws} substitution)
    prepare: Callable[[Path], None] | None = None


def _truncate(name: str, keep: int = 40) -> Callable[[Path], None]:
    def prepare(ws: Path) -> None:
        path = ws / "run" / name
        path.write_bytes(path.read_bytes()[:keep])

    return prepare


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    def prepare(ws: Path) -> None:
        (ws / "run" / name).write_bytes(data)

    return prepare


def _remove(name: str) -> Callable[[Path], None]:
    return lambda ws: (ws / "run" / name).unlink()


def _other_width_student(ws: Path) -> None:
    path = ws / "run" / "checkpoints" / "student.pt"
    state = torch.load(path, weights_only=True)
    key = next(k for k, v in state["model"].items() if v.ndim == 4)
    state["model"][key] = state["model"][key][:1].clone()  # a checkpoint of a narrower model
    torch.save(state, path)


def _requant_out_bits_40(ws: Path) -> None:
    """A Requant promising 40-bit codes: wider than any code (helper L's load check)."""
    import onnx
    from onnx import helper

    path = ws / "run" / "model.qonnx.onnx"
    model = onnx.load(str(path))
    node = next(n for n in model.graph.node if n.op_type == "Requant")
    for attr in node.attribute:
        if attr.name == "out_bits":
            attr.CopyFrom(helper.make_attribute("out_bits", 40))
    onnx.save(model, str(path))


GARBAGE = bytes(range(256)) * 4
RUN_DIR_COMMANDS = ("export", "verify", "rtl", "report", "synth", "hls", "quantize")
NEW_RUN = ("run", "--quick", "--out", f"{WS}/new")


def _run_dir_cells() -> dict[str, Cell]:
    cells = {}
    for cmd in RUN_DIR_COMMANDS:
        cells |= {
            f"{cmd}-missing": Cell((cmd, f"{WS}/missing"), f"{WS}/missing does not exist"),
            f"{cmd}-file-for-dir": Cell((cmd, f"{WS}/file.txt"), f"{WS}/file.txt is a file"),
            f"{cmd}-not-a-run": Cell((cmd, f"{WS}/empty"), f"{WS}/empty is not a run directory"),
            f"{cmd}-truncated-metrics": Cell(
                (cmd, f"{WS}/run"), "metrics.json is damaged", _truncate("metrics.json")
            ),
            f"{cmd}-empty-config": Cell(
                (cmd, f"{WS}/run"), "config.yaml is empty", _write("config.yaml", b"")
            ),
            f"{cmd}-garbage-config": Cell(
                (cmd, f"{WS}/run"), "config.yaml is not a text", _write("config.yaml", GARBAGE)
            ),
            f"{cmd}-read-only": Cell((cmd, f"{WS}/ro"), f"{WS}/ro"),
        }
    for cmd in ("verify", "rtl", "report", "synth", "hls"):
        cells[f"{cmd}-truncated-model"] = Cell(
            (cmd, f"{WS}/run"), "model.qonnx.onnx is not a valid ONNX model",
            _truncate("model.qonnx.onnx", 500),
        )  # fmt: skip
    for cmd in ("export", "quantize"):
        cells[f"{cmd}-garbage-checkpoint"] = Cell(
            (cmd, f"{WS}/run"), "student.pt is corrupt",
            _write("checkpoints/student.pt", GARBAGE),
        )  # fmt: skip
        cells[f"{cmd}-wrong-model-checkpoint"] = Cell(
            (cmd, f"{WS}/run"), "student.pt is from another model", _other_width_student
        )
    cells |= {
        "verify-samples-negative": Cell(
            ("verify", f"{WS}/run", "--backend", "rtl", "--samples", "-1"), "--samples"
        ),
        "verify-truncated-design": Cell(
            ("verify", f"{WS}/run", "--backend", "rtl"), "design.json is damaged",
            _truncate("rtl/design.json"),
        ),
        "verify-missing-hex": Cell(
            ("verify", f"{WS}/run", "--backend", "rtl"), "b1_adder_conv_weights.hex",
            _remove("rtl/b1_adder_conv_weights.hex"),
        ),
        "verify-tampered-standard-onnx": Cell(
            ("verify", f"{WS}/run"), "model.standard.onnx is not a valid ONNX model",
            _truncate("model.standard.onnx", 300),
        ),
        "rtl-target-cycles-zero": Cell(("rtl", f"{WS}/run", "--target-cycles", "0"),
                                       "--target-cycles"),
        "synth-clock-negative": Cell(("synth", f"{WS}/run", "--clock-mhz", "-5"), "--clock-mhz"),
        "synth-vivado-clock-negative": Cell(
            ("synth", f"{WS}/run", "--vivado", "--clock-mhz", "-5"), "--clock-mhz"
        ),
        "synth-target-cycles-negative": Cell(
            ("synth", f"{WS}/run", "--target-cycles", "-1"), "--target-cycles"
        ),
        "hls-samples-negative": Cell(("hls", f"{WS}/run", "--samples", "-1"), "--samples"),
        "hls-reuse-zero": Cell(("hls", f"{WS}/run", "--reuse-factor", "0"), "--reuse-factor"),
        "quantize-bits-out-of-range": Cell(
            ("quantize", f"{WS}/run", "--bits", "1", "--out", f"{WS}/q"), "quant.bits 1"
        ),
        "quantize-out-is-a-file": Cell(
            ("quantize", f"{WS}/run", "--mode", "ptq", "--out", f"{WS}/file.txt"),
            f"{WS}/file.txt is a file",
        ),
        "quantize-out-not-a-run": Cell(
            ("quantize", f"{WS}/run", "--mode", "ptq", "--out", f"{WS}/user"),
            f"{WS}/user is not empty and not an adderflow run",
        ),
    }  # fmt: skip
    return cells


def _new_run_cells() -> dict[str, Cell]:
    config = ("run", "--quick", "--out", f"{WS}/new", "--config")
    bad_sets = {
        "seed": ("seed=-1", "seed must not be negative"),
        "data-seed": ("data.seed=-1", "data.seed must not be negative"),
        "momentum": ("student.momentum=-1", "student.momentum must not be negative"),
        "calibration": ("quant.calibration_samples=0", "quant.calibration_samples"),
        "calibration-negative": ("quant.calibration_samples=-1", "quant.calibration_samples"),
        "verify-samples": ("verify.samples=-5", "verify.samples must not be negative"),
        "verify-backend-samples": (
            "verify.backend_samples=-1", "verify.backend_samples must not be negative"
        ),
        "unparsable": ("student.lr=[1,", "config key 'student.lr'"),
        "wrong-type": ("student.lr=fast", "config key 'student.lr' needs a float"),
        # a 1-D network on 8×8 images (the zoo's 2-D nets take any image now)
        "arch-data-mismatch": ("model.arch=mnist1d", "model.arch=mnist1d"),
        "cuda": ("student.device=cuda", "student.device is cuda"),
        "unknown-key": ("student.nosuch=1", "unknown config key 'student.nosuch'"),
    }
    cells = {
        f"run-set-{name}": Cell((*NEW_RUN, "--set", text), message)
        for name, (text, message) in bad_sets.items()
    }
    cells |= {
        "run-bits-out-of-range": Cell((*NEW_RUN, "--bits", "40"), "quant.bits 40"),
        "run-config-missing": Cell((*config, f"{WS}/missing.yaml"), "missing.yaml does not exist"),
        "run-config-dir": Cell((*config, f"{WS}/empty"), f"{WS}/empty is a directory"),
        "run-config-garbage": Cell((*config, f"{WS}/garbage.bin"), "is not a text (YAML) file"),
        "run-config-truncated": Cell((*config, f"{WS}/truncated.yaml"), "is not valid YAML"),
        "run-config-duplicate-key": Cell((*config, f"{WS}/twice.yaml"), "'epochs' appears twice"),
        "run-config-not-a-mapping": Cell((*config, f"{WS}/list.yaml"), "must hold a mapping"),
        "run-out-is-a-file": Cell(("run", "--quick", "--out", f"{WS}/file.txt"),
                                  f"{WS}/file.txt is a file"),
        "run-out-under-a-file": Cell(("run", "--quick", "--out", f"{WS}/file.txt/x"),
                                     f"{WS}/file.txt is a file"),
        "run-out-not-a-run": Cell(("run", "--quick", "--out", f"{WS}/user"),
                                  f"{WS}/user is not empty and not an adderflow run"),
        "run-out-read-only": Cell(("run", "--quick", "--out", f"{WS}/ro/new"), f"{WS}/ro/new"),
        "run-resume-empty-config": Cell(("run", "--out", f"{WS}/run"), "config.yaml is empty",
                                        _write("config.yaml", b"")),
        "run-resume-other-config": Cell(("run", "--quick", "--bits", "6", "--out", f"{WS}/run"),
                                        "different config (quant.bits)"),
        "train-set-seed": Cell(("train", "--quick", "--out", f"{WS}/new", "--set", "seed=-1"),
                               "seed must not be negative"),
        "train-out-not-a-run": Cell(("train", "--quick", "--out", f"{WS}/user"),
                                    "is not empty and not an adderflow run"),
        "distill-cuda": Cell(("distill", "--method", "kd", "--quick", "--out", f"{WS}/new",
                              "--set", "teacher.device=cuda"), "teacher.device is cuda"),
        "distill-config-garbage": Cell(("distill", "--method", "pkkd", "--config",
                                        f"{WS}/garbage.bin"), "is not a text (YAML) file"),
    }  # fmt: skip
    return cells


def _model_cells() -> dict[str, Cell]:
    cells = {}
    for cmd in ("energy", "import"):
        cells |= {
            f"{cmd}-missing": Cell((cmd, f"{WS}/missing.onnx"), "missing.onnx does not exist"),
            f"{cmd}-dir-for-file": Cell((cmd, f"{WS}/empty"), f"{WS}/empty is a directory"),
            f"{cmd}-garbage": Cell((cmd, f"{WS}/garbage.bin"), "is not a valid ONNX model"),
            f"{cmd}-truncated": Cell(
                (cmd, f"{WS}/run/model.qonnx.onnx"), "is not a valid ONNX model",
                _truncate("model.qonnx.onnx", 500),
            ),
            f"{cmd}-table-missing": Cell(
                (cmd, f"{WS}/run/model.qonnx.onnx", "--table", f"{WS}/none.yaml"),
                "energy table", ),
            f"{cmd}-table-dir": Cell(
                (cmd, f"{WS}/run/model.qonnx.onnx", "--table", f"{WS}/empty"),
                f"{WS}/empty is a directory",
            ),
        }  # fmt: skip
    model = f"{WS}/run/model.qonnx.onnx"
    cells |= {  # widths: one load-time check for every command (issue 17 item 6)
        f"{cmd}-requant-40-bits": Cell(argv, "width 40 is outside", _requant_out_bits_40)
        for cmd, argv in (
            ("verify", ("verify", f"{WS}/run")),
            ("rtl", ("rtl", f"{WS}/run")),
            ("import", ("import", model, "--strict")),
            ("energy", ("energy", model)),
        )
    }
    cells |= {
        "import-json-dir": Cell(("import", f"{WS}/run/model.qonnx.onnx", "--json", f"{WS}/empty"),
                                f"{WS}/empty is a directory"),
        "import-json-under-a-file": Cell(
            ("import", f"{WS}/run/model.qonnx.onnx", "--json", f"{WS}/file.txt/r.json"),
            f"{WS}/file.txt is a file"),
    }  # fmt: skip
    return cells


CELLS = {**_run_dir_cells(), **_new_run_cells(), **_model_cells()}
# Through the real console script: the installed entry point prints one line too.
SUBPROCESS = ("verify-missing", "run-config-garbage", "energy-garbage", "hls-truncated-model")


@pytest.fixture(scope="module")
def trained_run(readme_run: Path) -> Path:
    return readme_run.resolve()


def _workspace(root: Path, trained: Path) -> Path:
    ws = root / "ws ü"  # a space and a non-ASCII letter in every path of the table
    copy_run(trained, ws / "run")
    (ws / "file.txt").write_text("a file\n")
    (ws / "empty").mkdir()
    (ws / "user" / "rtl").mkdir(parents=True)
    (ws / "user" / "rtl" / "mine.v").write_text("// the user's\n")
    (ws / "garbage.bin").write_bytes(GARBAGE)
    (ws / "truncated.yaml").write_text("teacher: {epochs: 1\n")
    (ws / "twice.yaml").write_text("teacher:\n  epochs: 1\n  epochs: 2\n")
    (ws / "list.yaml").write_text("- 1\n- 2\n")
    shutil.copytree(ws / "run", ws / "ro")
    return ws


def _set_read_only(path: Path, on: bool) -> None:
    """Read-only even for root (CI runs as root): the immutable flag; chmod elsewhere."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-R", "+i" if on else "-i", str(path)], check=True)
    else:
        for p in [path, *path.rglob("*")]:
            mode = p.stat().st_mode
            p.chmod(mode & ~0o222 if on else mode | 0o200)


def _state(ws: Path) -> dict[str, object]:
    files = {}
    for p in sorted(ws.rglob("*")):
        if not p.is_file() or p.name == LOCK_FILE:
            continue
        rel = str(p.relative_to(ws))
        if p.name == "metrics.json":
            try:
                metrics = json.loads(p.read_text())
                metrics.pop("failed", None)  # a stage's failure is recorded by design
                files[rel] = metrics
                continue
            except ValueError:
                pass
        if p.name == "log.txt":
            lines = p.read_text().splitlines()
            kept = [line for line in lines if "] error: " not in line]
            if kept:  # a log.txt holding only the error is the recorded failure
                files[rel] = kept
            continue
        files[rel] = (p.stat().st_size, p.stat().st_mtime_ns)
    return files


def _invoke(argv: list[str], capsys, subprocess_cli: bool) -> tuple[int, str]:
    if subprocess_cli:
        script = Path(sys.executable).parent / "adderflow"
        done = subprocess.run([str(script), *argv], capture_output=True, text=True)
        return done.returncode, done.stderr
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(CELLS))
def test_bad_input_is_refused_in_one_line(name, trained_run, tmp_path, capsys):
    cell = CELLS[name]
    ws = _workspace(tmp_path, trained_run)
    if cell.prepare is not None:
        cell.prepare(ws)
    argv = [a.replace(WS, str(ws)) for a in cell.argv]
    _set_read_only(ws / "ro", True)
    try:
        before = _state(ws)
        code, err = _invoke(argv, capsys, name in SUBPROCESS)
        after = _state(ws)
    finally:
        _set_read_only(ws / "ro", False)
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert cell.names.replace(WS, str(ws)) in lines[0], lines[0]
    assert after == before, "a refused command changed files"
