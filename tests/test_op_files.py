"""[K]'s measure of "one op, one place": no op of the IR is named by more than 6 source
files (``bench/op_files.py``: whole-word occurrences in sw/, sim/, hw/, export/, bench/)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_FILES = 6


def test_every_op_is_named_by_at_most_six_files():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "op_files.py"), "--files", "--max", str(MAX_FILES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    from adderflow.sim.ops import OPS

    assert sorted(row[0] for row in rows) == sorted(OPS)
    # each op is named at least by its own module (the scan sees the tree)
    assert all(int(row[1]) >= 1 for row in rows)
