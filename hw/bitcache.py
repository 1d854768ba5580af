"""Bitstreams cached by design hash: synthesizing the same design again is instant.

The key is a SHA-256 over everything the flow reads: every input file (Verilog sources,
``$readmemh`` weight files, the board shim and constraints, by name and content), the yosys
script, the nextpnr and packer arguments, and each tool's identity (the YoWASP package
version, or a system binary's path, size and modification time). Training is deterministic
on one machine, so rerunning the main job yields the same design and the same key.

An entry holds the bitstream, the summary (utilization, timing) and the tools' logs. The
cache lives in ``cache_dir("bitstreams")``: ``$ADDERFLOW_CACHE/bitstreams``, else
``$XDG_CACHE_HOME/adderflow/bitstreams``, else ``~/.cache/adderflow/bitstreams``;
``ADDERFLOW_CACHE=off`` disables it (and the Verilator harness cache, ``cache_dir("verilator")``).
Entries are written into a temporary folder and renamed, so a killed build never leaves half
an entry; an entry whose summary cannot be read is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

LOGS = ("yosys.log", "nextpnr-ecp5.log", "nextpnr-ice40.log", "report.json", "stat.json")


def cache_dir(kind: str) -> Path | None:
    """Where adderflow's ``kind`` cache ("bitstreams", "verilator") lives, or None when
    ``ADDERFLOW_CACHE=off``. The one reading of the variable, for every cache."""
    chosen = os.environ.get("ADDERFLOW_CACHE", "")
    if chosen.lower() in ("off", "0", "no", "false"):
        return None
    if chosen:
        return Path(chosen).expanduser() / kind
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "adderflow" / kind


def tool_identity(command: list[str], package: str) -> str:
    """The YoWASP package's version, or a system tool's path, size and mtime."""
    path = Path(command[0])
    if path.name.startswith("yowasp-"):
        try:
            return f"{package}=={metadata.version(package)}"
        except metadata.PackageNotFoundError:
            pass
    stat = path.stat()
    return f"{path}:{stat.st_size}:{int(stat.st_mtime)}"


def design_key(build: Path, inputs: Iterable[str], settings: Iterable[str]) -> str:
    """SHA-256 over the named files of ``build`` (name and bytes) and the settings."""
    digest = hashlib.sha256()
    for name in sorted(inputs):
        data = (build / name).read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    for item in settings:
        digest.update(f"{item}\0".encode())
    return digest.hexdigest()


def _summary(entry: Path) -> dict[str, Any] | None:
    """An entry's summary, or None when it is missing or damaged."""
    try:
        summary = json.loads((entry / "summary.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(summary, dict) or not isinstance(summary.get("file"), str):
        return None
    return summary if (entry / summary["file"]).is_file() else None


def lookup(key: str) -> Path | None:
    """The entry for ``key``, or None (caching off, no entry, or a damaged one)."""
    root = cache_dir("bitstreams")
    if root is None or _summary(root / key) is None:
        return None
    return root / key


def store(key: str, build: Path, bitstream: str, summary: dict[str, Any]) -> Path | None:
    """Save ``build/bitstream``, the summary and the logs under ``key``; the entry, or None
    when caching is off or the cache is not writable (a cache never fails a build)."""
    root = cache_dir("bitstreams")
    if root is None:
        return None
    tmp: Path | None = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{key[:12]}."))
        shutil.copy2(build / bitstream, tmp / bitstream)
        for name in LOGS:
            if (build / name).is_file():
                shutil.copy2(build / name, tmp / name)
        (tmp / "summary.json").write_text(json.dumps({**summary, "file": bitstream}, indent=2))
        entry = root / key
        if not entry.exists():  # else another build stored it meanwhile: the same content
            tmp.rename(entry)
        return entry
    except OSError:
        return None
    finally:  # gone after a rename; otherwise never left behind
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def restore(entry: Path, build: Path) -> tuple[Path, dict[str, Any]]:
    """Copy an entry's bitstream and logs into ``build``; the bitstream and the summary."""
    summary = _summary(entry)
    if summary is None:
        raise OSError(f"{entry / 'summary.json'} is damaged")
    for item in entry.iterdir():
        if item.name != "summary.json":
            shutil.copy2(item, build / item.name)
    return build / summary.pop("file"), summary
