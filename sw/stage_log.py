"""Which stages of a run have finished: ``stages.json``, the record a rerun skips by.

A stage's entry is written (atomically) only after it succeeds, and holds the digest of
the run's config and the SHA-256 of each file the stage wrote. It counts as finished
while both still match: a changed config, or an output deleted or rewritten since (say by
``adderflow rtl --target-cycles 4``), makes the stage run again. A stage that succeeds
with other outputs than its entry names makes every later stage's entry void.
Under ``adderflow run`` (which skips by these entries) a stage also forgets its own and the
later entries when it starts, so one killed halfway never looks finished; a refused
single-stage command (``adderflow export``, ``report``) leaves the file as it was.
Torch-free.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from adderflow.atomic import atomic_write_json
from adderflow.config import Config
from adderflow.distributed import is_main
from adderflow.errors import ConfigError
from adderflow.run_paths import RunPaths


def _files(folder: Path, skip: tuple[str, ...] = ()) -> list[Path]:
    """Every file under ``folder`` (none if it is not there), outside the ``skip`` folders."""
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not any(part in skip for part in p.relative_to(folder).parts[:-1])
    )  # fmt: skip


# The files each stage writes (those that exist afterwards are recorded). Build folders
# (the simulators', the hls4ml projects', yosys's) are caches, not results.
OUTPUTS: dict[str, Callable[[RunPaths], list[Path]]] = {
    "teacher": lambda p: [p.checkpoint("teacher")],
    "student": lambda p: [p.checkpoint("student")],
    "quantize": lambda p: [p.model, p.standard_model, p.network, p.qat_checkpoint],
    "verify": lambda p: [],
    "rtl": lambda p: _files(p.rtl, skip=("build",)),
    "hls": lambda p: [],
    "synth": lambda p: [f for f in _files(p.fpga) if f.parent == p.fpga],
    "report": lambda p: [p.report_md, p.report_html],
}


def config_digest(cfg: Config) -> str:
    text = json.dumps(cfg.to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class StageLog:
    """The finished stages of one run, as recorded in its ``stages.json``."""

    def __init__(self, paths: RunPaths, cfg: Config) -> None:
        self.paths = paths
        self.config = config_digest(cfg)
        self.entries: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        path = self.paths.stages
        if not path.is_file():
            return {}
        try:
            entries = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            entries = None
        if not isinstance(entries, dict):
            raise ConfigError(
                f"{path} is damaged (not a JSON object): delete it and every stage runs again"
            )
        return entries

    def finished(self, stage: str) -> bool:
        """``stage`` succeeded under this config and its outputs are unchanged since."""
        entry = self.entries.get(stage)
        if not isinstance(entry, dict) or entry.get("config") != self.config:
            return False
        outputs = entry.get("outputs", {})
        return isinstance(outputs, dict) and all(
            (self.paths.root / name).is_file() and file_digest(self.paths.root / name) == digest
            for name, digest in outputs.items()
        )

    def forget(self, stages: Iterable[str]) -> None:
        dropped = [s for s in stages if s in self.entries]
        for stage in dropped:
            del self.entries[stage]
        if dropped:
            self._write()

    def record(self, stage: str) -> bool:
        """``stage`` has just succeeded: its config digest and its outputs' digests.
        Whether its outputs differ from the ones recorded before (or none were)."""
        root = self.paths.root
        outputs = {
            str(path.relative_to(root)): file_digest(path)
            for path in OUTPUTS[stage](self.paths) if path.is_file()
        }  # fmt: skip
        entry = {"config": self.config, "outputs": outputs}
        changed = self.entries.get(stage) != entry
        self.entries[stage] = entry
        self._write()
        return changed

    def _write(self) -> None:
        if is_main():
            atomic_write_json(self.paths.stages, self.entries)
