"""docs/your-model.md works as written: its blocks, in order, from a scratch folder.

``python file=NAME`` blocks are written to NAME; every other ``python`` block runs as a
script of its own (``python -c``, so the folder is on ``sys.path`` as for a user there);
every ``bash`` block runs in ``bash`` with ``set -euo pipefail``. A ``text`` block right
after a block is what that block prints: each of its lines must appear in the output, and
one that starts with ``adderflow: error:`` means the command must fail with exit code 2.
All paths are relative to the scratch folder, which is not the repository. ``SHORTER``
lists the substitutions, for time only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "your-model.md"
# (what the document says, what the test runs instead): for time only.
SHORTER = [
    ("api.train(model, data, epochs=30)", "api.train(model, data, epochs=1)"),
    ("data.test_x)", "data.test_x[:32])"),
    (
        "adderflow run --set model.arch=module:my_cnn:make_model",
        "adderflow run --set teacher.epochs=1 --set student.epochs=1 --set verify.samples=32 "
        "--set model.arch=module:my_cnn:make_model",
    ),
]
BLOCK = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```$", flags=re.M | re.S)


def blocks(text: str) -> list[tuple[str, str, str]]:
    """``(language, info, body)`` of every fenced block, in order."""
    return [(m[1], m[2].strip(), m[3]) for m in BLOCK.finditer(text)]


def _shortened(body: str) -> str:
    for said, run in SHORTER:
        body = body.replace(said, run)
    return body


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _run(language: str, body: str, cwd: Path) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-c", body] if language == "python" else \
        ["bash", "-c", "set -euo pipefail\n" + body]  # fmt: skip
    return subprocess.run(argv, cwd=cwd, env=_environment(), capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def test_the_document_says_what_the_test_shortens():
    text = DOC.read_text()
    for said, _ in SHORTER:
        assert said in text, said
    kinds = [(language, info) for language, info, _ in blocks(text)]
    assert ("python", "file=my_cnn.py") in kinds and ("bash", "") in kinds


def test_every_block_runs_from_another_folder(tmp_path):
    items = blocks(DOC.read_text())
    outputs = []
    for i, (language, info, body) in enumerate(items):
        if language == "python" and info.startswith("file="):
            (tmp_path / info.removeprefix("file=")).write_text(body)
            continue
        if language not in ("python", "bash"):
            continue
        expected = items[i + 1][2] if i + 1 < len(items) and items[i + 1][0] == "text" else ""
        done = _run(language, _shortened(body), tmp_path)
        output = done.stdout + done.stderr
        outputs.append(output)
        fails = expected.startswith("adderflow: error:")
        assert done.returncode == (2 if fails else 0), f"block {i}:\n{body}\n{output[-4000:]}"
        for line in expected.splitlines():
            assert line in output, f"block {i} did not print {line!r}:\n{output[-4000:]}"
    swap_report = next(body for language, _, body in items if body.startswith("SwapReport("))
    assert swap_report.strip() in outputs[0]
    _check_results(tmp_path)


def _check_results(here: Path) -> None:
    for name in ("model.qonnx.onnx", "model.standard.onnx"):
        assert (here / "my_cnn_out" / name).is_file()
    metrics = json.loads((here / "runs" / "my-cnn" / "metrics.json").read_text())
    assert "failed" not in metrics
    assert set(metrics["equivalence"]) >= {"torch_vs_reference", "qonnx_exec", "onnxruntime"}
    for name, comparison in metrics["equivalence"].items():
        assert comparison["mismatches"] == 0 and comparison["samples"] == 32, name
    assert not (here / "runs" / "typo").exists()
