"""Copies of a finished run for tests that change or break one."""

from __future__ import annotations

import shutil
from pathlib import Path

RUN_FILES = (".adderflow-run", "config.yaml", "checkpoints", "model.qonnx.onnx",
             "model.standard.onnx", "metrics.json", "rtl")  # fmt: skip


def copy_run(source: Path, dest: Path) -> Path:
    """The files of a run other commands read (no build folders), copied to ``dest``."""
    dest.mkdir(parents=True)
    for name in RUN_FILES:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, dest / name, ignore=shutil.ignore_patterns("build"))
        elif path.exists():
            shutil.copy2(path, dest / name)
    return dest
