"""A hardware engineer can verify, cost and build a model without PyTorch (DESIGN.md).

Two checks under an import hook that makes ``import torch`` fail as if torch were not
installed (a ``sys.meta_path`` finder raising ``ModuleNotFoundError``), each in a fresh
interpreter:

* every module of ``sim/``, ``hw/`` and ``export/`` imports (none needs torch today; one
  that must would be listed in ``NEEDS_TORCH`` with its reason), and so do the package
  root's hardware-side modules (``SW_TORCH_FREE``);
* the hardware commands run on a copy of the README's finished run: ``rtl``, ``verify``
  (qonnx and onnxruntime; the PyTorch comparison is skipped with a logged note),
  ``verify --backend rtl`` (Verilator on 2 images, the README run's cached build), ``hls``
  (one io type, g++ C-simulation of 2 images), ``energy``, ``import``, ``report``, and
  ``synth --vivado``, which goes through the synthesis folding and the synth module up to
  the point yosys would start (a real place and route takes minutes: tests/test_synth.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest
from runs import copy_run

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"sim": "adderflow.sim", "hw": "adderflow.hw", "export": "adderflow.export"}
NEEDS_TORCH: dict[str, str] = {}  # module -> why it must import torch (none today)
SW_TORCH_FREE = [
    "adderflow", "adderflow.atomic", "adderflow.cli", "adderflow.config", "adderflow.data",
    "adderflow.distill", "adderflow.distill.table", "adderflow.distributed",
    "adderflow.early_synth", "adderflow.errors", "adderflow.fixed", "adderflow.hls_flow",
    "adderflow.import_flow", "adderflow.model_files", "adderflow.quant.network_file",
    "adderflow.pipeline", "adderflow.progress", "adderflow.quant", "adderflow.quant.spec",
    "adderflow.report", "adderflow.report_html", "adderflow.rtl_flow", "adderflow.run_paths",
    "adderflow.rundir", "adderflow.runs", "adderflow.stage_log", "adderflow.synth_flow",
    "adderflow.threads", "adderflow.verify_budget", "adderflow.verify_flow",
]  # fmt: skip

BLOCK_TORCH = """
import sys

class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, _NoTorch())
try:
    import torch
    raise SystemExit("the hook did not block torch")
except ModuleNotFoundError:
    pass
"""


def _modules(folder: str, package: str) -> list[str]:
    names = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts
                 if p != "__init__"]  # fmt: skip
        names.append(".".join([package, *parts]))
    return names


def _without_torch(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], capture_output=True,
                          text=True, cwd=ROOT)  # fmt: skip


def test_the_hardware_side_imports_without_torch():
    modules = [m for f, p in FOLDERS.items() for m in _modules(f, p) if m not in NEEDS_TORCH]
    assert len(modules) > 30  # the folders were found
    code = (
        "import importlib, json\n"
        f"for name in {modules + SW_TORCH_FREE!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in ('torch', 'sklearn') if m in sys.modules)))\n"
    )
    done = _without_torch(code)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_hardware_commands_run_without_torch(readme_run, tmp_path):
    run = copy_run(readme_run.resolve(), tmp_path / "no torch" / "run")
    model = str(run / "model.qonnx.onnx")
    commands = [
        ["rtl", str(run)],
        ["verify", str(run)],
        ["verify", str(run), "--backend", "rtl", "--samples", "2"],
        ["hls", str(run), "--io-type", "io_parallel", "--samples", "2"],
        ["synth", str(run), "--vivado"],
        ["energy", model],
        ["import", model],
        ["report", str(run)],
    ]
    code = (
        "import json\n"
        "from adderflow.cli import main\n"
        "codes = []\n"
        f"for argv in {commands!r}:\n"
        "    try:\n"
        "        codes.append(main(argv))\n"
        "    except SystemExit as exc:\n"
        "        codes.append(exc.code)\n"
        "print(json.dumps({'codes': codes, 'torch': 'torch' in sys.modules}))\n"
    )
    done = _without_torch(code)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    failed = [" ".join(c[:1]) for c, rc in zip(commands, result["codes"], strict=True) if rc]
    assert not failed, done.stdout[-3000:] + done.stderr[-3000:]
    assert result["torch"] is False
    metrics = json.loads((run / "metrics.json").read_text())
    for name in ("qonnx_exec", "onnxruntime", "rtl_verilator", "hls4ml_csim"):
        assert metrics["equivalence"][name]["mismatches"] == 0, name
    log = (run / "log.txt").read_text()
    assert "[verify] torch_vs_reference skipped: PyTorch is not installed" in log
    assert (run / "vivado" / "af_network.tcl").is_file()


def test_every_data_file_is_package_data():
    # A non-editable install (a wheel) ships only what package-data names.
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {Path(folder): package for package, folder in tool["package-dir"].items()}
    tracked = subprocess.run(
        ["git", "ls-files", *map(str, folders)], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert tracked, "git ls-files found nothing"
    missing = []
    for name in tracked:
        path = Path(name)
        if path.suffix == ".py":
            continue
        folder = max((f for f in folders if f in path.parents), key=lambda f: len(f.parts))
        inner = path.relative_to(folder).as_posix()
        if not any(fnmatch(inner, g) for g in tool["package-data"].get(folders[folder], [])):
            missing.append(f"{path} (package-data of {folders[folder]})")
    assert not missing, missing
