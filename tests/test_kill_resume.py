"""A run SIGKILLed in each stage in turn, then run again, ends with the metrics of a run
that was never interrupted (timings aside): the README's ``make run ARGS=--quick``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from adderflow.pipeline import FLOWS

STAGES = [s for s in FLOWS["run"] if s != "synth"]  # --quick turns synthesis off


def _timings_removed(tree):
    if isinstance(tree, dict):
        return {
            k: _timings_removed(v)
            for k, v in tree.items()
            if k != "seconds" and not k.endswith(("_seconds", "per_second"))
        }
    if isinstance(tree, list):
        return [_timings_removed(v) for v in tree]
    return tree


def _seconds(out: Path) -> dict:
    try:
        return json.loads((out / "metrics.json").read_text()).get("seconds", {})
    except (FileNotFoundError, ValueError):
        return {}


def _started(out: Path, stage: str, before: dict):
    """A test that is true once ``stage`` is running in this attempt."""
    if stage in ("teacher", "student"):  # mid-training: after the first epoch's checkpoint
        return lambda: (out / "checkpoints" / f"{stage}.pt").is_file()
    previous = STAGES[STAGES.index(stage) - 1]
    return lambda: _seconds(out).get(previous, before.get(previous)) != before.get(previous)


def _kill_in(stage: str, argv: list[str], out: Path) -> None:
    before = _seconds(out)
    started = _started(out, stage, before)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not started():
        assert proc.poll() is None, f"the run ended before {stage} could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = _seconds(out)
    assert after.get(stage) == before.get(stage), f"{stage} had finished before the kill"


def test_a_run_killed_in_each_stage_ends_with_the_same_metrics(readme_run, tmp_path):
    # A space in the path: the Verilator bench then builds in the shared per-user folder
    # keyed by the design's content, where the README run (its clone path has a space too)
    # already built this very design, so the kill chain spends no time compiling it again.
    out = tmp_path / "killed run"
    argv = [sys.executable, "-m", "adderflow.cli", "run", "--quick", "--out", str(out)]
    for stage in STAGES:
        _kill_in(stage, argv, out)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    got = json.loads((out / "metrics.json").read_text())
    want = json.loads((readme_run / "metrics.json").read_text())
    assert set(got["seconds"]) == set(want["seconds"])
    assert _timings_removed(got) == _timings_removed(want)
