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

OpenMP's idle threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``, set before
torch is imported unless the environment already chooses), so the spare threads of a
multi-thread run do not burn the cores another job needs.
"""

from __future__ import annotations

import os

from adderflow.errors import ConfigError


def passive_openmp() -> None:
    """Idle OpenMP threads sleep (only effective before torch is first imported)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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
