"""ResNet-20 training-epoch time, adder network against its CNN twin, on one device.

    python bench/resnet_epoch.py [--device cpu|cuda] [--batch 128] [--steps 6] [--threads 2]
                                 [--clock wall|cpu]

Times full SGD steps (forward, backward, optimizer step with the adaptive adder learning
rate) of ``adderflow.models.resnet20`` as ``cnn`` and as ``adder`` on CIFAR-shaped random
batches, alternating the two so that load changes hit both alike, and extrapolates one
CIFAR-10 epoch (50 000 images). Prints the median step times, the epoch estimates and
their ratio. ``--clock cpu`` (with ``--threads 1``) times the calling thread's CPU time,
which other processes on a shared machine barely move. OpenMP waits as in training
(``adderflow.threads.openmp_waits``) unless the environment chooses. A benchmark, not a
test: record results in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

from adderflow.threads import openmp_waits

openmp_waits()  # libgomp reads it once, when torch loads it: time what training runs with

import torch  # noqa: E402
from torch import nn  # noqa: E402

from adderflow.models import build  # noqa: E402
from adderflow.nn import AdaptiveAdderLR  # noqa: E402

CIFAR_TRAIN = 50_000


def make_step(kind: str, device: str, batch: int, clock=time.perf_counter):
    torch.manual_seed(0)
    model = build("resnet20", kind).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    adaptive = AdaptiveAdderLR(model) if kind == "adder" else None
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> float:
        start = clock()
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        if adaptive is not None:
            adaptive.step()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        return clock() - start

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    if args.clock == "cpu" and (args.threads != 1 or args.device != "cpu"):
        parser.error("--clock cpu needs --threads 1 and --device cpu")
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    steps = {kind: make_step(kind, args.device, args.batch, clock) for kind in ("cnn", "adder")}
    times: dict[str, list[float]] = {kind: [] for kind in steps}
    for step in steps.values():
        step()  # warm-up
    for _ in range(args.steps):
        for kind, step in steps.items():
            times[kind].append(step())
    per_epoch = CIFAR_TRAIN / args.batch
    print(
        f"ResNet-20, batch {args.batch}, {args.device}, {args.threads} threads, "
        f"median of {args.steps} steps, {args.clock} clock"
    )
    print(f"{'kind':<6} {'step s':>8} {'epoch s (est.)':>15}")
    median = {kind: statistics.median(t) for kind, t in times.items()}
    for kind, value in median.items():
        print(f"{kind:<6} {value:>8.3f} {value * per_epoch:>15.0f}")
    print(f"adder / cnn epoch time: {median['adder'] / median['cnn']:.1f}x")


if __name__ == "__main__":
    main()
