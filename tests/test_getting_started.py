"""docs/getting-started.md works as written: every ```bash block, in order, in one shell.

The blocks run as one script (``set -euo pipefail``: any failing command fails the test) in
a scratch folder that mirrors the repository root (symlinks to its files and its ``.venv``),
so ``runs/`` and ``my_images/`` are written there, not into the checkout. ``make install``
runs as written: a no-op, since the test first requires ``.venv`` to be up to date
(``make -q install``, as ``make test`` leaves it). The one substitution, ``SHORTER``, is
for time: the main job trains 2 epochs and skips the bitstream and hls4ml (``--quick``, about
a minute instead of three); everything else is the document's text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tools import missing

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "getting-started.md"
# (what the document says, what the test runs instead): for time only.
SHORTER = [("adderflow run", "adderflow run --quick --set hls.enabled=false")]


def command_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```$", text, flags=re.M | re.S)


def shortened(block: str) -> str:
    for said, run in SHORTER:
        block = block.replace(said, run)
    return block


def test_the_document_has_the_blocks_a_new_user_needs():
    blocks = command_blocks(DOC.read_text())
    text = "\n".join(blocks)
    for needed in ("make install", "adderflow run\n", "adderflow verify", "data.name=folder"):
        assert needed in text, needed
    assert all(said in text for said, _ in SHORTER)


def test_every_command_block_runs(tmp_path):
    # The document's `make install` must find .venv up to date (as `make test` leaves it):
    # this test does not install anything itself.
    fresh = subprocess.run(["make", "-q", "install"], cwd=ROOT, capture_output=True)
    if fresh.returncode != 0:
        missing(".venv missing or older than pyproject.toml: run `make install` first")
    for entry in ROOT.iterdir():
        if entry.name not in ("runs", "my_images", ".git"):
            (tmp_path / entry.name).symlink_to(entry)
    script = "set -euo pipefail\n" + "\n".join(
        shortened(b) for b in command_blocks(DOC.read_text())
    )
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != Path(sys.executable).parent
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"report    {(tmp_path / 'runs').resolve()}" in done.stdout
    assert (tmp_path / "runs" / "latest" / "report.html").is_file()
    for run in ("latest", "my-images"):
        equivalence = json.loads((tmp_path / "runs" / run / "metrics.json").read_text())[
            "equivalence"
        ]
        assert equivalence, run
        for name, comparison in equivalence.items():
            assert comparison["mismatches"] == 0 and comparison["samples"] > 0, (run, name)
