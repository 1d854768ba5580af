"""Data-parallel training under torchrun: 2 CPU processes on gloo match 1 process.

The weights are compared with a tight relative tolerance, not bitwise: two processes
each sum half the batch's gradient and the all-reduce adds the halves, while one process
sums the whole batch in one order; float addition is not associative, so the last bits
differ (measured: at most 4e-7 relative after 20 steps, float32 rounding).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from ddp_worker import train

from adderflow.checkpoint import load_checkpoint

WORKER = Path(__file__).with_name("ddp_worker.py")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _torchrun(*args: str, processes: int = 2) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [*TORCHRUN, str(processes), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_two_processes_reach_the_single_process_weights(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun process (OMP_NUM_THREADS=1); faster here
    try:
        single, rows = train(tmp_path / "one")
    finally:
        torch.set_num_threads(threads)
    _torchrun(str(WORKER), str(tmp_path / "two"))
    ddp = torch.load(tmp_path / "two" / "final.pt", weights_only=True)
    state = single.state_dict()
    assert state.keys() == ddp["model"].keys()
    for key, expected in state.items():
        got = ddp["model"][key]
        # Relative to the tensor's scale: elementwise near-zero entries carry the same
        # absolute rounding error as the large ones.
        scale = expected.abs().max().clamp_min(1e-12)
        assert (got - expected).abs().max() / scale < 1e-5, key
    assert not torch.equal(state["3.weight"], network_init()["3.weight"])  # it trained
    # The epoch losses are all-reduced over both processes' samples: the global mean.
    for a, b in zip(rows, ddp["history"], strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-5 * abs(a["loss"])
        assert a["train_acc"] == b["train_acc"] and a["lr"] == b["lr"]
    # Only rank 0 wrote the checkpoint; both processes saw every epoch.
    assert load_checkpoint(tmp_path / "two" / "ckpt.pt")["epoch"] == len(rows) - 1


def network_init():
    from ddp_worker import network

    torch.manual_seed(0)
    return network().state_dict()


def test_cli_train_under_torchrun(tmp_path):
    """`torchrun -m adderflow.cli train`: one run directory, one log, rank 0 writes."""
    out = tmp_path / "run"
    done = _torchrun(
        "-m",
        "adderflow.cli",
        "train",
        "--out",
        str(out),
        "--set",
        "distill.method=none",
        "--set",
        "student.epochs=1",
        "--set",
        "model.width=4",
        "--set",
        "data.test_fraction=0.8",
        "--set",
        "student.tensorboard=false",
    )
    log = (out / "log.txt").read_text()
    assert log.count("[student] epoch 1/1") == 1, log
    assert "batch norm normalizes each process's slice" in log
    assert done.stdout.count("[student] epoch 1/1") == 1  # rank 1 prints nothing
    assert load_checkpoint(out / "checkpoints" / "student.pt")["epoch"] == 0
    assert (out / "metrics.json").is_file()


def test_torchrun_without_out_is_refused(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "adderflow.cli", "train", "--quick"],
        capture_output=True,
        text=True,
        env={**_env(), "WORLD_SIZE": "2", "RANK": "1"},
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2
    assert "under torchrun pass --out" in done.stderr
