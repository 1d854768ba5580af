"""A hardware engineer can verify and cost a model without PyTorch (DESIGN.md)."""

from __future__ import annotations

import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

TORCH_FREE = [
    "adderflow",
    "adderflow.fixed",
    "adderflow.sim",
    "adderflow.sim.ops",
    "adderflow.sim.reference",
    "adderflow.sim.executor",
    "adderflow.sim.compare",
    "adderflow.sim.cost",
    "adderflow.sim.energy",
    "adderflow.sim.onnx_io",
    "adderflow.quant.spec",
    "adderflow.hw",
]


def test_simulation_side_never_imports_torch():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in TORCH_FREE)
        + "heavy = [m for m in ('torch', 'sklearn') if m in sys.modules]\n"
        + "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_data_file_is_package_data():
    # A non-editable install (a wheel) ships only what package-data names.
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")
    root = Path(__file__).resolve().parents[1]
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {Path(folder): package for package, folder in tool["package-dir"].items()}
    tracked = subprocess.run(
        ["git", "ls-files", *map(str, folders)], cwd=root, capture_output=True, text=True
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
