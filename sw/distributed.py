"""Multi-process data-parallel training under ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node N -m adderflow.cli train --out RUN ...`` starts N copies of the
command; torchrun sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in each, and
``adderflow.train.fit`` sees them: it joins the process group (gloo on CPU, NCCL on CUDA),
wraps the model in ``DistributedDataParallel`` and gives each process one contiguous slice
of every global batch (``data.batch_size`` stays the *global* batch). Every process draws
the same shuffled global batches from the same seed, so no sampler state has to be shared,
and a run on N processes follows the single-process run on the same global batch: the
gradient each process contributes is weighted by its share of the batch, so their average
is the gradient of the global batch mean (equal up to floating-point summation order).

Without those variables (a plain ``python`` or ``adderflow`` command) nothing here is
active and every helper is the single-process identity.

Only rank 0 writes checkpoints, CSV and TensorBoard logs, metrics and the run log.
This module imports torch only inside the functions that need it, so the pipeline can ask
``is_main()`` without pulling torch in.
"""

from __future__ import annotations

import atexit
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import Tensor

_STATE = {"initialized_here": False}


def env_world_size() -> int:
    """``WORLD_SIZE`` as torchrun sets it; 1 outside torchrun."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def env_rank() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def local_rank() -> int:
    try:
        return int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return 0


def active() -> bool:
    """True inside a multi-process group (initialized, more than one process)."""
    import sys

    if "torch" not in sys.modules:  # no torch yet: no process group either
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main() -> bool:
    """Rank 0, or the only process: the one that writes files and logs."""
    if active():
        import torch.distributed as dist

        return dist.get_rank() == 0
    return env_rank() == 0


def world() -> tuple[int, int]:
    """``(rank, world size)`` of the current process group; ``(0, 1)`` alone."""
    if active():
        import torch.distributed as dist

        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env(device: torch.device) -> bool:
    """Join the torchrun process group if the environment asks for one; True when joined.

    The backend is NCCL for CUDA devices and gloo otherwise. Idempotent.
    """
    import torch.distributed as dist

    if env_world_size() <= 1 or not dist.is_available():
        return False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        _STATE["initialized_here"] = True
        atexit.register(_shutdown)
    return dist.get_world_size() > 1


def _shutdown() -> None:
    import torch.distributed as dist

    if _STATE["initialized_here"] and dist.is_initialized():
        dist.destroy_process_group()
        _STATE["initialized_here"] = False


def barrier() -> None:
    if active():
        import torch.distributed as dist

        dist.barrier()


def all_sum(values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over every process (the values themselves alone)."""
    if not active():
        return list(values)
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def any_true(flag: bool) -> bool:
    """True on every process when ``flag`` is true on any of them."""
    if not active():
        return flag
    return all_sum([1.0 if flag else 0.0])[0] > 0


def shard(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """This process's contiguous slice of a global batch (sizes differ by at most one)."""
    import torch

    rank, size = world()
    if size == 1:
        return x, y
    return torch.tensor_split(x, size)[rank], torch.tensor_split(y, size)[rank]
