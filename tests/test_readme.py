"""The README's first command from a fresh clone, and every path-taking command with
relative paths, from another working directory, through folders with spaces."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from adderflow.cli import main


def test_make_run_from_a_fresh_clone(readme_run: Path):
    assert readme_run.is_symlink() and readme_run.parent.name == "runs"
    metrics = json.loads((readme_run / "metrics.json").read_text())
    equivalence = metrics["equivalence"]
    for backend in ("torch_vs_reference", "qonnx_exec", "onnxruntime", "rtl_verilator"):
        assert equivalence[backend]["mismatches"] == 0 and equivalence[backend]["samples"] > 0
    assert "failed" not in metrics
    assert set(metrics["seconds"]) >= {"teacher", "student", "quantize", "verify", "rtl"}
    for path in (readme_run / "metrics.json", readme_run / "config.yaml", readme_run / "rtl"):
        assert path.stat().st_mode & 0o044 == 0o044, f"{path} is not readable by others"
    config = yaml.safe_load((readme_run / "config.yaml").read_text())
    assert config["data"]["root"] is None or Path(config["data"]["root"]).is_absolute()


@pytest.fixture(scope="module")
def spaced_run(readme_run: Path, tmp_path_factory) -> Path:
    """A copy of the README run under ``<tmp>/my runs/x`` (relative name ``my runs/x``)."""
    root = tmp_path_factory.mktemp("cwd")
    shutil.copytree(readme_run.resolve(), root / "my runs" / "x", symlinks=True)
    (root / "my runs" / "x" / ".adderflow-lock").unlink(missing_ok=True)
    return root / "my runs" / "x"


def _cli(*argv: str) -> int:
    return main(list(argv))


@pytest.mark.parametrize(
    "argv, wrote",
    [
        (["verify", "my runs/x"], "metrics.json"),
        (["verify", "my runs/x", "--backend", "rtl", "--samples", "2"], "metrics.json"),
        (["rtl", "my runs/x"], "rtl/design.json"),
        (["export", "my runs/x"], "model.qonnx.onnx"),
        (["report", "my runs/x"], "report.md"),
        (["synth", "my runs/x", "--vivado"], "vivado"),
        (["hls", "my runs/x", "--samples", "2"], "hls4ml/io_parallel"),
    ],
)
def test_run_commands_take_relative_paths_with_spaces(spaced_run, monkeypatch, argv, wrote):
    monkeypatch.chdir(spaced_run.parent.parent)
    before = (spaced_run / wrote).stat().st_mtime_ns if (spaced_run / wrote).exists() else 0
    assert _cli(*argv) == 0
    assert (spaced_run / wrote).stat().st_mtime_ns > before


def test_new_runs_and_files_take_relative_paths_with_spaces(spaced_run, monkeypatch, tmp_path):
    """train --out/--config, quantize --out, energy and import --json/--table: relative,
    from another folder, with spaces; the run's config.yaml stores absolute paths."""
    work = tmp_path / "some folder"
    work.mkdir()
    monkeypatch.chdir(work)
    Path("my config.yaml").write_text("teacher: {epochs: 1}\nstudent: {epochs: 1}\n")
    assert _cli("train", "--config", "my config.yaml", "--out", "new run", "--quick") == 0
    assert (work / "new run" / "checkpoints" / "student.pt").is_file()
    rel = Path(os.path.relpath(spaced_run, work))
    assert _cli("quantize", str(rel), "--mode", "ptq", "--out", "q run") == 0
    assert json.loads((work / "q run" / "metrics.json").read_text())["quantized"]["mode"] == "ptq"
    model = rel / "model.qonnx.onnx"
    assert _cli("energy", str(model)) == 0
    assert _cli("import", str(model), "--json", "out dir/report.json") == 0
    assert json.loads((work / "out dir" / "report.json").read_text())


def test_generate_and_simulate_a_design_in_a_relative_folder(spaced_run, tmp_path, monkeypatch):
    """hw.network.generate with a relative folder, simulated from another directory."""
    from adderflow.hw.network import Design, generate
    from adderflow.hw.simulate import run_network
    from adderflow.sim.executor import load_model, run_reference

    model = load_model(spaced_run / "model.qonnx.onnx")
    monkeypatch.chdir(tmp_path)
    design = generate(model, "rel rtl")
    assert design.directory == tmp_path / "rel rtl"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    loaded = Design.load("../rel rtl")
    codes = run_reference(model, _test_images(spaced_run, 2))
    sim = run_network(loaded, codes["input_codes"])
    assert (sim.codes == codes[model.graph.output[0].name]).all()


def _test_images(run: Path, count: int):
    from adderflow.config import load_config
    from adderflow.runs import load_data

    return load_data(load_config(run / "config.yaml")).test_x[:count]
