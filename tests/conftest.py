"""Fixtures shared by test modules: the README's main job, made once per session; no
bitstream cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tools import missing

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def readme_run(tmp_path_factory) -> Path:
    """``make run ARGS=--quick`` exactly as the README says, in a fresh clone of this
    checkout (into a folder whose path has a space), run from the clone's root; the run
    directory ``runs/latest`` it leaves.

    make reuses this session's venv (``VENV=`` its absolute path; ``-o`` the install stamp,
    which would otherwise look older than the clone's files and reinstall for minutes).
    That venv's editable install maps ``adderflow`` to this checkout, not the clone: the
    code under test is this checkout's (the clone holds the same commit), while the
    command, the Makefile, the working directory and the relative ``runs/<timestamp>``
    folder are the fresh clone's, which is what broke for new users.
    """
    if not (REPO / ".git").exists():
        missing(f"{REPO} is not a git checkout: the fresh-clone test clones it")
    venv = Path(sys.prefix)
    stamp = venv / ".adderflow-installed"
    if not stamp.is_file():
        missing(f"{venv} is not a `make install` venv (no {stamp.name}); run make install")
    clone = tmp_path_factory.mktemp("fresh") / "a clone" / "adderflow"
    subprocess.run(["git", "clone", "-q", "--local", str(REPO), str(clone)], check=True)
    done = subprocess.run(
        ["make", "-o", str(stamp), f"VENV={venv}", "run", "ARGS=--quick"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return clone / "runs" / "latest"


@pytest.fixture(autouse=True)
def _no_bitstream_cache(monkeypatch):
    """Every synthesis in a test runs the tools: a bitstream cached by an earlier run (the
    user's ~/.cache/adderflow) must not stand in for the flow under test. A test of the
    cache itself points ADDERFLOW_CACHE at its own folder."""
    monkeypatch.setenv("ADDERFLOW_CACHE", "off")
