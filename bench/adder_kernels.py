"""Adder convolution kernels against the obvious formulations and a plain convolution.

    python bench/adder_kernels.py --json OUT.json [--device cpu|cuda] [--batch N] [--load]

For each shape (ResNet-20's three stages, ResNet-18's 256-channel 14x14 stage) and each
implementation, measures the median forward time, the median forward+backward time, and
the peak memory of one forward+backward. Implementations:

- ``adder``: ``adderflow.nn.adder_conv2d`` (AdderNet backward; on CPU the compiled kernel
  of ``adderflow.nn.adder_cpu`` unless ``ADDERFLOW_ADDER_BACKEND=torch``);
- ``adder_torch``: the same with ``ADDERFLOW_ADDER_BACKEND=torch``, the pure-torch kernel
  of ``adderflow.nn.adder_kernels`` (the fallback, and the CPU kernel before the compiled one);
- ``cdist_addernet``: the kernel the torch kernel replaced (``torch.cdist(p=1)`` forward, AdderNet
  backward on ``[rows, O, K]`` chunks of 2**24 elements reduced with ``bmm``);
- ``cdist``: unfold then ``torch.cdist(p=1)`` with torch's own (sign) backward;
- ``unfold_bcast``: unfold then ``(x[:, None] - w[None]).abs().sum(-1)`` with autograd;
  skipped (nulls) where its ``N·O·K`` temporaries would exceed ``--max-temp-gb``;
- ``conv2d``: ``F.conv2d``, the multiply-accumulate floor.

Timing is interleaved: after a warm-up call of each, every round times each implementation
once (forward, then forward+backward) on the shape, and a cell is the median over the
rounds (at least 3, at most ``--rounds``, while the shape's ``--budget-s`` per cell lasts).
A shared machine's load then falls on all the implementations of a shape alike, so the
ratios of one run compare like with like; the 1-minute load average before and after each
shape goes to stderr.

Peak memory is the bytes allocated above what was live before the call, on CPU from the
torch profiler's allocation events (``profile_memory=True``: every tensor allocation and
free of the c10 CPU allocator, replayed in time order), on CUDA from
``torch.cuda.max_memory_allocated``. It is measured in a separate, untimed run because the
profiler slows the ops down.

``--clock cpu`` (with ``--threads 1``) times with the calling thread's CPU time instead of
the wall clock: on a shared machine, the figure other processes' load moves least.

``--load`` measures every shape twice, quiet and then with one CPU-bound process (a Python
busy loop) running beside the benchmark, and adds a table of each implementation's
slowdown (loaded over quiet fwd+bwd time): a kernel that needs all its threads at many
short synchronisation points slows down far more than one that can hand work around.
Under load the single calls' times are bimodal (a call that fits in a gap of the other
process runs at full speed, one that does not waits for a time slice), and the median then
favours the shorter calls (conv2d's), so the table also gives the ratio of the means, the
slowdown of a loop of calls. OpenMP's wait policy changes both. The bench runs with
training's (``adderflow.threads.openmp_waits``: ``GOMP_SPINCOUNT=10000``, a ~0.1 ms spin
before a waiting thread sleeps) unless the environment sets ``GOMP_SPINCOUNT`` or
``OMP_WAIT_POLICY``, and says which on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from adderflow.threads import WAIT_VARIABLES, openmp_waits

openmp_waits()  # libgomp reads it once, when torch loads it: time what training runs with

import torch  # noqa: E402
from torch import Tensor  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from adderflow.nn import adder_conv2d  # noqa: E402


@dataclass(frozen=True)
class Shape:
    name: str
    batch: int
    channels: int
    size: int
    out_channels: int

    def label(self, batch: int | None = None) -> str:
        n = batch or self.batch
        return f"{self.name} {n}x{self.channels}x{self.size}^2->{self.out_channels}"


SHAPES = [
    Shape("resnet20-stage1", 32, 16, 32, 16),
    Shape("resnet20-stage2", 32, 32, 16, 32),
    Shape("resnet20-stage3", 32, 64, 8, 64),
    Shape("resnet18-layer3", 64, 256, 14, 256),
]

Impl = Callable[[Tensor, Tensor], Tensor]


def _rows(x: Tensor) -> Tensor:
    cols = F.unfold(x, 3, padding=1)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def _to_image(rows: Tensor, x: Tensor) -> Tensor:
    n, _, h, w = x.shape
    return rows.reshape(n, h, w, -1).permute(0, 3, 1, 2)


class _CdistAdderNet(torch.autograd.Function):
    """The previous ``adderflow.nn.adder`` kernel, kept here as the baseline it was."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor) -> Tensor:
        ctx.save_for_backward(x, w)
        rows = max(1, 2**24 // w.numel())
        return torch.cat([torch.cdist(x[i : i + rows], w, p=1.0) for i in range(0, len(x), rows)])

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:
        x, w = ctx.saved_tensors
        grad = -grad
        gx = torch.empty_like(x)
        rows = max(1, 2**24 // w.numel())
        for i in range(0, len(x), rows):
            diff = (w[None] - x[i : i + rows, None, :]).clamp_(-1.0, 1.0)
            gx[i : i + rows] = torch.bmm(grad[i : i + rows, None, :], diff).squeeze(1)
        return gx, grad.t() @ x - grad.sum(0)[:, None] * w


def _torch_backend(x: Tensor, w: Tensor) -> Tensor:
    previous = os.environ.get(BACKEND)
    os.environ[BACKEND] = "torch"
    try:
        return adder_conv2d(x, w, padding=1)
    finally:
        if previous is None:
            del os.environ[BACKEND]
        else:
            os.environ[BACKEND] = previous


BACKEND = "ADDERFLOW_ADDER_BACKEND"
IMPLS: dict[str, Impl] = {
    "adder": lambda x, w: adder_conv2d(x, w, padding=1),
    "adder_torch": _torch_backend,
    "cdist_addernet": lambda x, w: _to_image(-_CdistAdderNet.apply(_rows(x), w.flatten(1)), x),
    "cdist": lambda x, w: _to_image(-torch.cdist(_rows(x), w.flatten(1), p=1.0), x),
    "unfold_bcast": lambda x, w: _to_image(
        -(_rows(x)[:, None, :] - w.flatten(1)[None]).abs().sum(-1), x
    ),
    "conv2d": lambda x, w: F.conv2d(x, w, padding=1),
}


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _interleaved_ms(
    fns: dict[str, Callable[[], None]], device: str, budget_s: float, rounds: int
) -> dict[str, list[float]]:
    """Each function's times (ms), timed in rounds that call every function once."""
    if not fns:
        return {}
    for fn in fns.values():
        fn()  # warm-up: allocator, thread pool, Triton compilation
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    spent = 0.0
    while (n := len(next(iter(times.values()), []))) < 3 or (
        n < rounds and spent < budget_s * len(fns)
    ):
        for name, fn in fns.items():
            start = CLOCK()
            fn()
            _sync(device)
            times[name].append(CLOCK() - start)
            spent += times[name][-1]
    return {name: [v * 1e3 for v in t] for name, t in times.items()}


def _cpu_peak_bytes(fn: Callable[[], None]) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        live += event.nbytes()  # negative for a free
        peak = max(peak, live)
    return peak


def _peak_mb(fn: Callable[[], None], device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    return _cpu_peak_bytes(fn) / 2**20


def _inputs(shape: Shape, batch: int | None, device: str) -> tuple[Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(0)
    n = batch or shape.batch
    x = torch.randn(n, shape.channels, shape.size, shape.size, generator=gen)
    w = 0.1 * torch.randn(shape.out_channels, shape.channels, 3, 3, generator=gen)
    g = torch.randn(n, shape.out_channels, shape.size, shape.size, generator=gen)
    return x.to(device), w.to(device), g.to(device)


def _bcast_gb(x: Tensor, w: Tensor) -> float:
    # forward keeps the difference for abs's backward, backward builds one more of it
    rows = x.shape[0] * x.shape[2] * x.shape[3]
    return 2 * rows * w.numel() * x.element_size() / 2**30


def measure(shape: Shape, impls: list[str], args: argparse.Namespace) -> list[dict]:
    """One record per implementation of ``shape``, timed interleaved (module docstring)."""
    x, w, g = _inputs(shape, args.batch, args.device)
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    skipped = {
        impl for impl in impls if impl == "unfold_bcast" and _bcast_gb(x, w) > args.max_temp_gb
    }
    calls: dict[str, Callable[[], None]] = {}
    for impl in impls:
        if impl in skipped:
            continue
        fn = IMPLS[impl]

        def fwd(fn: Impl = fn) -> None:
            with torch.no_grad():
                fn(x, w)

        def fwdbwd(fn: Impl = fn) -> None:
            torch.autograd.grad(fn(xr, wr), (xr, wr), g)

        calls[f"{impl} fwd"], calls[f"{impl} fwdbwd"] = fwd, fwdbwd
    load = os.getloadavg()[0]
    runs = _interleaved_ms(calls, args.device, args.budget_s, args.rounds)
    ms = {name: statistics.median(t) for name, t in runs.items()}
    print(f"{shape.name}: load average {load:.2f} -> {os.getloadavg()[0]:.2f}", file=sys.stderr)
    loaded = _loaded_ms(calls, args) if args.load else {}
    records = []
    for impl in impls:
        record = {"shape": shape.label(args.batch), "impl": impl}
        if loaded and impl not in skipped:
            quiet_run, loaded_run = runs[f"{impl} fwdbwd"], loaded[f"{impl} fwdbwd"]
            record["loaded_fwdbwd_ms"] = round(statistics.median(loaded_run), 2)
            record["fwdbwd_mean_ms"] = round(statistics.mean(quiet_run), 2)
            record["loaded_fwdbwd_mean_ms"] = round(statistics.mean(loaded_run), 2)
        if impl in skipped:
            records.append(record | {"fwd_ms": None, "fwdbwd_ms": None, "peak_mb": None})
            continue
        records.append(
            record
            | {
                "fwd_ms": round(ms[f"{impl} fwd"], 2),
                "fwdbwd_ms": round(ms[f"{impl} fwdbwd"], 2),
                "peak_mb": round(_peak_mb(calls[f"{impl} fwdbwd"], args.device), 1),
            }
        )
    return records


BUSY_LOOP = "while True: pass"
CLOCK = time.perf_counter  # --clock cpu: time.thread_time


def _loaded_ms(
    calls: dict[str, Callable[[], None]], args: argparse.Namespace
) -> dict[str, list[float]]:
    """The same interleaved timing with one CPU-bound process running beside it."""
    busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        time.sleep(0.5)  # let it get scheduled
        return _interleaved_ms(calls, args.device, args.budget_s, args.rounds)
    finally:
        busy.kill()
        busy.wait()


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a / b:.2f}"


def table(records: list[dict]) -> str:
    """Markdown table; ratios are this implementation's fwd+bwd time over cdist's and
    conv2d's, and its peak memory over conv2d's and unfold+broadcast's."""
    head = (
        "| shape | impl | fwd ms | fwd+bwd ms | peak MiB | fwd+bwd / cdist "
        "| fwd+bwd / conv2d | peak / conv2d | peak / unfold_bcast |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    by = {(r["shape"], r["impl"]): r for r in records}
    lines = [head]
    for r in records:
        ref = {name: by.get((r["shape"], name), {}) for name in ("cdist", "conv2d", "unfold_bcast")}
        cells = [
            r["shape"],
            r["impl"],
            *("-" if r[k] is None else f"{r[k]:g}" for k in ("fwd_ms", "fwdbwd_ms", "peak_mb")),
            _ratio(r["fwdbwd_ms"], ref["cdist"].get("fwdbwd_ms")),
            _ratio(r["fwdbwd_ms"], ref["conv2d"].get("fwdbwd_ms")),
            _ratio(r["peak_mb"], ref["conv2d"].get("peak_mb")),
            _ratio(r["peak_mb"], ref["unfold_bcast"].get("peak_mb")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_table(records: list[dict]) -> str:
    """Markdown table of fwd+bwd time quiet and beside a CPU-bound process (``--load``):
    medians, their ratio, and the ratio of the means (module docstring)."""
    lines = [
        "| shape | impl | quiet fwd+bwd ms | loaded fwd+bwd ms | slowdown | mean slowdown "
        "| loaded / conv2d |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    by = {(r["shape"], r["impl"]): r for r in records}
    for r in records:
        if "loaded_fwdbwd_ms" not in r:
            continue
        conv = by.get((r["shape"], "conv2d"), {}).get("loaded_fwdbwd_ms")
        cells = [
            r["shape"],
            r["impl"],
            f"{r['fwdbwd_ms']:g}",
            f"{r['loaded_fwdbwd_ms']:g}",
            _ratio(r["loaded_fwdbwd_ms"], r["fwdbwd_ms"]),
            _ratio(r["loaded_fwdbwd_mean_ms"], r["fwdbwd_mean_ms"]),
            _ratio(r["loaded_fwdbwd_ms"], conv),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", required=True, help="where to write the records")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--batch", type=int, default=None, help="override every shape's batch")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--shapes", nargs="*", default=None, help="subset of shape names")
    parser.add_argument("--impls", nargs="*", default=list(IMPLS), choices=list(IMPLS))
    parser.add_argument("--budget-s", type=float, default=2.0, help="timing budget per cell")
    parser.add_argument("--rounds", type=int, default=15, help="most timing rounds per shape")
    parser.add_argument("--max-temp-gb", type=float, default=4.0)
    parser.add_argument(
        "--load", action="store_true", help="also time beside one CPU-bound process"
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: the calling thread's CPU time (with --threads 1, where all the work runs "
        "in it; a measure that other processes' load barely moves)",
    )
    args = parser.parse_args(argv)
    if args.clock == "cpu" and (args.threads != 1 or args.device != "cpu"):
        parser.error("--clock cpu needs --threads 1 and --device cpu")
    global CLOCK
    CLOCK = time.thread_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    waits = {k: os.environ.get(k, "unset") for k in WAIT_VARIABLES}
    print(f"{args.threads} threads, " + ", ".join(f"{k} {v}" for k, v in waits.items()),
          file=sys.stderr)  # fmt: skip
    shapes = [s for s in SHAPES if args.shapes is None or s.name in args.shapes]
    records = []
    for shape in shapes:
        for record in measure(shape, args.impls, args):
            records.append(record)
            print(json.dumps(record), file=sys.stderr, flush=True)
    with open(args.json, "w") as f:
        json.dump(records, f, indent=1)
    print(table(records))
    if args.load:
        print()
        print(load_table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
