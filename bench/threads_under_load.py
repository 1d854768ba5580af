"""Student epoch time alone and next to a second CPU-bound job, per thread policy.

    python bench/threads_under_load.py [--epochs 4] [--policies auto torch]

For each policy, one child process trains the main job's adder student on digits (batch 64,
``adderflow.train.fit``) for ``--epochs`` epochs and reports the median epoch time; it runs
once alone and once while a second job runs: another torch process multiplying matrices on
every core with torch's own defaults (one thread a core, OpenMP's spinning waits), the kind
of neighbour a shared machine has. Prints each policy's two medians and their ratio.

Policies: ``auto`` is adderflow's (``threads = 0``: half the cores, idle OpenMP threads
sleep; ``adderflow/threads.py``); ``torch`` is torch's default (one thread a core, OpenMP's
default waits), what adderflow did before the policy. A benchmark, not a test: record
results in docs/benchmarks.md with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HOG = """
import torch
a = torch.randn(512, 512)
while True:
    a = torch.tanh(a @ a)
"""


def child(epochs: int, policy: str) -> None:
    """Train the digits student under ``policy``; print the median epoch seconds as JSON."""
    if policy == "auto":
        from adderflow.threads import openmp_waits

        openmp_waits()  # before torch is imported, as the CLI does
    import tempfile
    from pathlib import Path

    import torch
    import torch.nn.functional as F

    from adderflow.config import load_config
    from adderflow.data import load_dataset
    from adderflow.models import digits_net
    from adderflow.threads import apply_threads
    from adderflow.train import fit, seed_everything

    if policy == "auto":
        apply_threads(0)
    cfg = load_config(None, [f"student.epochs={epochs}"])
    data = load_dataset("digits")
    seed_everything(0)
    model = digits_net("adder", cfg.model.width)
    times: list[float] = []
    start = [time.perf_counter()]

    def on_epoch(epoch: int, _epochs: int) -> None:
        now = time.perf_counter()
        if epoch:
            times.append(now - start[0])
        start[0] = now

    with tempfile.TemporaryDirectory() as tmp:
        fit(
            model, data, cfg.student, loss_fn=lambda z, _x, y: F.cross_entropy(z, y),
            ckpt_path=Path(tmp) / "s.pt", name="s", batch_size=64, seed=0,
            log=lambda _m: None, on_epoch=on_epoch,
        )  # fmt: skip
    times.append(time.perf_counter() - start[0])
    print(json.dumps({"threads": torch.get_num_threads(), "epoch": statistics.median(times)}))


def measure(policy: str, epochs: int) -> dict:
    # The user's OpenMP settings would override both policies.
    from adderflow.threads import WAIT_VARIABLES

    user = ("OMP_NUM_THREADS", *WAIT_VARIABLES)
    env = {k: v for k, v in os.environ.items() if k not in user}
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(epochs), "--policies", policy],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--policies", nargs="+", default=["auto", "torch"])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.policies[0])
        return
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for policy in args.policies:
        alone = measure(policy, args.epochs)
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",)}
        hog = subprocess.Popen([sys.executable, "-c", HOG], env=env)
        try:
            time.sleep(2.0)  # the neighbour is up to speed
            loaded = measure(policy, args.epochs)
        finally:
            hog.kill()
            hog.wait()
        ratio = loaded["epoch"] / alone["epoch"]
        print(
            f"{policy:>6}: {alone['threads']} thread(s); epoch alone {alone['epoch']:.2f} s, "
            f"next to a second job {loaded['epoch']:.2f} s: {ratio:.1f}x"
        )


if __name__ == "__main__":
    main()
