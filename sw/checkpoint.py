"""Atomic checkpoints that load with ``weights_only=True``.

Files are written to a temporary name in the same folder and renamed, so a run killed
mid-write never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from adderflow.atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from adderflow.errors import CheckpointError, require_file

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "load_checkpoint",
    "load_state",
    "save_checkpoint",
]


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save plain tensors, numbers and dicts; anything else would fail ``weights_only``."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    path = require_file(path, "checkpoint", CheckpointError)
    try:
        with warnings.catch_warnings():  # the refusal below is the message, not torch's
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for a damaged file
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a weights-only checkpoint "
            f"({type(exc).__name__}); delete it to retrain that stage"
        ) from exc
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"checkpoint {path} holds no model state")
    return state


def load_state(model: torch.nn.Module, state: dict[str, Any], path: Path) -> None:
    """``model.load_state_dict(state)``; a checkpoint of another model is one clear error."""
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else type(exc).__name__
        raise CheckpointError(
            f"checkpoint {path} is from another model ({detail}); delete it, or use the "
            "config it was trained with"
        ) from exc
