"""Copies of a finished run for tests that change or break one."""

from __future__ import annotations

import shutil
from pathlib import Path

from adderflow.run_paths import RunPaths

_PATHS = RunPaths(Path())
RUN_FILES = tuple(str(p) for p in (
    _PATHS.mark, _PATHS.config, _PATHS.checkpoints, _PATHS.model, _PATHS.standard_model,
    _PATHS.network, _PATHS.metrics, _PATHS.rtl, _PATHS.stages,
))  # fmt: skip


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
