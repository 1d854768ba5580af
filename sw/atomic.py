"""Atomic file writes: a temporary file in the same folder, renamed into place.

Torch-free, so the hardware-side tools (import, energy, the RTL generator) write their
outputs the same way as the trainer writes checkpoints: a killed process never leaves a
half-written file. Every file adderflow writes goes through ``atomic_path``, and gets the
mode any other tool's file gets (0644 under the usual umask), not ``mkstemp``'s 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _read_umask() -> int:
    # os.umask can only read the mask by setting it, process-wide: done once, at import,
    # never while another thread (the early synthesis) may be creating files.
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


FILE_MODE = 0o666 & ~_read_umask()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; renamed onto ``path`` if the block ends
    normally, removed if it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
