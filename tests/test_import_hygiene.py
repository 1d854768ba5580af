"""A hardware engineer can verify and cost a model without PyTorch (DESIGN.md)."""

from __future__ import annotations

import subprocess
import sys

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
