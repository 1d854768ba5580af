"""Atomic checkpoints that load with ``weights_only=True``.

Files are written to a temporary name in the same folder and renamed, so a run killed
mid-write never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from adderflow.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from adderflow.errors import CheckpointError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "load_checkpoint",
    "save_checkpoint",
]


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save plain tensors, numbers and dicts; anything else would fail ``weights_only``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for a damaged file
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a weights-only checkpoint "
            f"({type(exc).__name__}); delete it to retrain that stage"
        ) from exc
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"checkpoint {path} holds no model state")
    return state
