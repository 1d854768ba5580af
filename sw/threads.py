"""How many threads torch trains with (config key ``threads``, ``--threads N``).

Why a policy: torch's default is one OpenMP thread per core, and its threads wait for each
other at the end of every parallel region (an adder layer's step has hundreds of short
ones). When another job holds a core, every region waits for a descheduled thread; on the
2-core machine student epochs went from 0.5 s to 9-25 s with two other jobs running.

``threads = 0`` (auto) takes ``OMP_NUM_THREADS`` where it is set, else half the cores this
process may run on, at least one: on 2 cores one thread, which a second CPU-bound job
slows by at most about 2× (it leaves that job a core), measured by
``bench/threads_under_load.py`` (docs/benchmarks.md). The count comes from the machine, not
from its momentary load, because it changes the float rounding of training: the same run
on the same machine must give the same weights (a resumed run included), and 1 and 2
threads give different ones. ``threads = N`` pins N.

OpenMP's idle threads spin briefly, then sleep (``GOMP_SPINCOUNT=10000``, about 0.1 ms of
spinning, set before torch is imported unless the environment already sets
``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY``). Measured with ``bench/adder_kernels.py --load``
(docs/benchmarks.md, "Beside a CPU-bound process"), two threads, ResNet-20 stages:

- libgomp's default (spin ~3 ms) is fastest alone, but next to a CPU-bound process a
  parallel region's end waits for a descheduled thread while its partner burns the core:
  the mean adder step slowed 5.8-8.7x, ``conv2d`` 12-16x;
- ``OMP_WAIT_POLICY=PASSIVE`` (sleep at once, the earlier policy) costs the quiet machine
  1.3x on the adder kernel and 1.5x on ``conv2d`` (stage 3: 6.06 / 3.03 ms against 4.6 / 2.0):
  every region's end wakes a sleeping thread;
- the short spin keeps the quiet times of the default (4.62 / 2.01 ms) and bounds what a
  waiting thread takes from another job: loaded slowdown 2.0-2.7x for the adder kernel,
  2.9-3.8x for ``conv2d``.
"""

from __future__ import annotations

import os

from adderflow.errors import ConfigError

#: libgomp spins this many iterations (~0.1 ms) at a region's end before it sleeps
SPIN_COUNT = "10000"
#: the environment variables that choose how OpenMP threads wait: a user's setting wins
WAIT_VARIABLES = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")


def openmp_waits() -> None:
    """Idle OpenMP threads spin ~0.1 ms, then sleep (only effective before torch is imported).

    The user's own ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` wins.
    """
    if not any(name in os.environ for name in WAIT_VARIABLES):
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def auto_threads(cores: int | None = None) -> int:
    """``OMP_NUM_THREADS`` where the environment sets it, else half the cores (at least 1)."""
    pinned = os.environ.get("OMP_NUM_THREADS", "")
    if pinned.isdigit() and int(pinned) > 0:
        return int(pinned)
    return max(1, (usable_cores() if cores is None else cores) // 2)


def resolve_threads(requested: int) -> int:
    """The thread count for config ``threads`` (0: auto)."""
    if requested < 0:
        raise ConfigError(f"threads must be 0 (auto) or a positive count, got {requested}")
    return requested or auto_threads()


def apply_threads(requested: int) -> int:
    """Set torch's intra-op threads from config ``threads``; the count used."""
    import torch

    count = resolve_threads(requested)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
