"""Run directories adderflow owns: where they are, whose they are, who writes them now.

adderflow writes only into a directory it made (it holds the ``.adderflow-run`` mark, or a
``config.yaml`` from before the mark existed) or into an empty one, which it then marks.
Any other directory is the user's, and is refused by name. Paths are made absolute with
symlinks resolved first (``--out runs/latest`` means the run ``latest`` points at). One
process writes a run at a time: ``.adderflow-lock`` is held with ``flock`` for the whole
command (the kernel drops it when the holder dies, so a killed run never stays locked)
and names the holder's PID for the refusal message.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from datetime import datetime
from pathlib import Path

from adderflow.errors import ConfigError, require_creatable
from adderflow.run_paths import RunPaths

# Locks this process holds, by run directory: a second command on the same run in the
# same process (tests drive the CLI in-process) reuses its lock instead of refusing itself.
_held: dict[Path, int] = {}
# Run directories this process started: True if it made them with mkdir, False if it
# adopted an empty one (which stays, emptied again, on cleanup).
_started: dict[Path, bool] = {}


def absolute(path: str | os.PathLike) -> Path:
    """``path`` absolute, ``~`` expanded and every symlink resolved."""
    return Path(path).expanduser().resolve()


def is_run_dir(path: Path) -> bool:
    paths = RunPaths(path)
    return paths.mark.is_file() or paths.config.is_file()


def check_writable_target(out: Path) -> None:
    """Refuse ``out`` unless it is a run, an empty directory, or not there yet."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"run directory {out} is a file, not a directory")
    require_creatable(out, "run directory")
    if out.is_dir() and not is_run_dir(out) and any(out.iterdir()):
        raise ConfigError(
            f"{out} is not empty and not an adderflow run: adderflow writes only into a run "
            "directory it made or an empty one; choose another --out"
        )


def create(out: Path, unique: bool = False) -> tuple[Path, bool]:
    """Make (or adopt) the run directory ``out``, marked; returns it and whether it is new.

    ``unique``: ``out`` is a default name; if it is taken, ``out-2``, ``out-3``, ... (made
    with an exclusive ``mkdir``, so two runs started in the same second never share one).
    """
    check_writable_target(out)
    try:
        if unique:
            out = _make_unique(out)
            fresh = True
        else:
            fresh = not out.exists() or not any(out.iterdir())
            made = not out.exists()
            out.mkdir(parents=True, exist_ok=True)
            if fresh:
                _started[out] = made
        if fresh:
            RunPaths(out).mark.write_text("adderflow run directory\n")
            RunPaths(out).mark.chmod(0o644)
    except OSError as exc:
        raise ConfigError(f"cannot create run directory {out}: {exc.strerror}") from exc
    return out, fresh


def _make_unique(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = out if n == 1 else out.with_name(f"{out.name}-{n}")
        try:
            candidate.mkdir()
            _started[candidate] = True
            return candidate
        except FileExistsError:
            continue
    raise ConfigError(f"no free run directory name next to {out}")


def default_name(root: Path = Path("runs")) -> Path:
    return absolute(root) / datetime.now().strftime("%Y%m%d-%H%M%S")


def lock(out: Path) -> None:
    """Hold ``out``'s lock until this process ends (or ``release_all``); refuse if taken."""
    if not is_main_process() or out in _held:
        return
    path = RunPaths(out).lock
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot lock run directory {out}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError(
            f"run {out} is in use by process {holder} (lock {path}); wait for it to finish "
            "or choose another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[out] = fd


def release(out: Path) -> None:
    """Drop this process's lock on ``out``, if it holds one."""
    fd = _held.pop(out, None)
    if fd is not None:
        os.close(fd)


def release_all() -> None:
    while _held:
        _, fd = _held.popitem()
        os.close(fd)  # closing the descriptor drops the flock


def remove_new(out: Path) -> None:
    """Remove a run directory this process started (only such a one) before anything
    worth keeping was in it."""
    if out not in _started:
        return
    fd = _held.pop(out, None)
    if fd is not None:
        os.close(fd)
    if _started.pop(out):
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in out.iterdir():  # an empty directory the user gave stays, empty again
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def is_main_process() -> bool:
    from adderflow.distributed import is_main

    return is_main()
