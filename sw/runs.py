"""A run: its directory, resolved config and metrics; opening, reopening and deriving one.

Torch-free: the hardware commands reopen runs without PyTorch. Only ``open_run`` (which
checks that the models build) and ``derive_run`` (which checks the trained student) reach
the training side, lazily.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adderflow import rundir
from adderflow.atomic import atomic_write_json, atomic_write_text
from adderflow.config import (
    USER_ARCH_PREFIX,
    Config,
    config_from_tree,
    dump_config,
    load_config,
    read_yaml,
    user_arch,
)
from adderflow.distributed import is_main
from adderflow.errors import AdderflowError, ConfigError
from adderflow.progress import STATUS
from adderflow.run_paths import RunPaths

# Config sections whose change means training again (a derived run may change the rest).
TRAINING_SECTIONS = ("seed", "data", "model", "teacher", "student", "distill")


@dataclass
class Run:
    """A run directory, its resolved config, and the metrics gathered so far."""

    out: Path
    cfg: Config
    log_lines: list[str] = field(default_factory=list)
    _data: Any = None

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.out)

    def log(self, message: str, echo: bool = True) -> None:
        """Print ``message`` (unless ``echo`` is off) and append it to ``log.txt``."""
        if not is_main():  # under torchrun, rank 0 speaks for every process
            return
        if echo:
            STATUS.echo(message)
        with open(self.paths.log, "a") as handle:
            handle.write(message + "\n")

    def metrics(self) -> dict[str, Any]:
        if not self.paths.metrics.exists():
            return {}
        return read_json(self.paths.metrics, "rerun the run's stages to rewrite it")

    def update_metrics(self, **entries: Any) -> None:
        if not is_main():
            return
        metrics = self.metrics()
        for key, value in entries.items():
            if isinstance(value, dict) and isinstance(metrics.get(key), dict):
                metrics[key].update(value)
            else:
                metrics[key] = value
        atomic_write_json(self.paths.metrics, metrics)

    @property
    def data(self):
        if self._data is None:
            self._data = load_data(self.cfg)
        return self._data


def load_data(cfg: Config):
    from adderflow.data import load_dataset

    d = cfg.data
    return load_dataset(d.name, d.root, test_fraction=d.test_fraction, seed=d.seed)


def read_json(path: Path, remedy: str) -> Any:
    """A JSON file of the run; a damaged one is an error naming it and what to do."""
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is damaged (not valid JSON): delete it and {remedy}") from exc


def default_out_dir(root: Path = Path("runs")) -> Path:
    """``runs/<timestamp>``; ``open_run(..., unique=True)`` adds ``-2``, ... if it is taken."""
    return rundir.default_name(root)


def config_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two config trees."""
    keys = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += config_differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            keys.append(f"{prefix}{key}")
    return keys


def open_run(out: Path, cfg: Config, unique: bool = False) -> Run:
    """Create ``out`` or reopen it; reopening with a different config is refused.

    Everything that can be checked first is: the target directory (a run, an empty folder
    or a new one), the data, and that the models build and take the data, so a bad setting
    leaves no run directory behind. ``unique``: ``out`` is a default name, never reused.
    """
    from adderflow.train_flow import check_models

    out = rundir.absolute(out)
    cfg = with_absolute_paths(cfg)
    rundir.check_writable_target(out)
    data = load_data(cfg)
    check_models(cfg, data)
    if unique or not rundir.is_run_dir(out):
        out, _ = rundir.create(out, unique)
    rundir.lock(out)
    paths = RunPaths(out)
    if paths.config.is_file():
        _check_same_config(out, cfg)
    elif is_main():
        atomic_write_text(paths.config, dump_config(cfg))
    return Run(out=out, cfg=cfg, _data=data)


def with_absolute_paths(cfg: Config) -> Config:
    """``cfg`` with ``data.root`` and a ``model.arch=module:FILE.py:FACTORY`` file absolute
    (from the working directory), so the run's ``config.yaml`` names the same files from
    anywhere."""
    if cfg.data.root:
        cfg.data.root = os.path.abspath(os.path.expanduser(cfg.data.root))
    user = user_arch(cfg.model.arch)
    if user is not None and user[0].endswith(".py"):
        path = os.path.abspath(os.path.expanduser(user[0]))
        cfg.model.arch = f"{USER_ARCH_PREFIX}{path}:{user[1]}"
    return cfg


def _check_same_config(out: Path, cfg: Config) -> None:
    changed = config_differences(saved_config(out), cfg.to_dict())
    if changed:
        raise ConfigError(
            f"run {out} was started with a different config ({', '.join(changed)}); "
            "resume it without overrides or choose a new --out"
        )


def saved_config(out: Path) -> dict:
    """The config tree ``out`` was started with."""
    saved = RunPaths(out).config
    tree = read_yaml(saved)
    if not tree:
        raise ConfigError(f"{saved} is empty: the run's config is lost; start a new run")
    return tree


def reopen_run(out: Path) -> Run:
    """A finished or interrupted run, with the config it was started with."""
    out = rundir.absolute(out)
    if not out.exists():
        raise ConfigError(f"run directory {out} does not exist")
    if not out.is_dir():
        raise ConfigError(f"{out} is a file, not a run directory")
    paths = RunPaths(out)
    if not paths.config.is_file():
        raise ConfigError(f"{out} is not a run directory (no {paths.config.name})")
    cfg = config_from_tree(saved_config(out), str(paths.config))
    rundir.lock(out)
    run = Run(out=out, cfg=cfg)
    run.metrics()  # a damaged metrics.json stops the command before it writes anything
    return run


def derive_run(source: Path, out: Path, overrides: list[str]) -> Run:
    """A new run at ``out`` that reuses ``source``'s trained checkpoints under new settings.

    Only quantization and later stages may differ (``quant.*``, ``verify.*``, ...): the
    copied teacher and student were trained under ``source``'s config.
    """
    from adderflow.train_flow import trained_model

    base = reopen_run(source)
    cfg = load_config(base.paths.config, overrides)
    changed = config_differences(base.cfg.to_dict(), cfg.to_dict())
    trained = [k for k in changed if k.split(".")[0] in TRAINING_SECTIONS]
    if trained:
        raise ConfigError(f"{', '.join(trained)} change training: train a new run instead")
    if not base.paths.checkpoint("student").is_file():
        raise AdderflowError(f"{source} has no trained student: run `adderflow train` first")
    trained_model(base, "student")  # a refused checkpoint stops here, before `out` exists
    run = open_run(out, cfg)
    run.paths.checkpoints.mkdir(parents=True, exist_ok=True)
    for path in base.paths.checkpoints.glob("*"):
        target = run.paths.checkpoints / path.name
        if path.stem in ("teacher", "student") and not target.exists():
            shutil.copy2(path, target)
    previous = base.metrics()
    run.update_metrics(**{k: previous[k] for k in ("teacher", "student") if k in previous})
    return run


def discard_if_empty(run: Run) -> None:
    """After an error: remove a run directory this command made if no stage finished in it
    (the error was in the settings, so the folder could not even be resumed)."""
    if not is_main() or run.metrics().get("seconds"):
        return
    link = run.out.parent / "latest"
    rundir.remove_new(run.out)
    if link.is_symlink() and not link.exists():
        link.unlink()


def link_latest(out: Path) -> None:
    """Point ``<parent>/latest`` at ``out`` atomically (symlink, then rename)."""
    if not is_main():
        return
    out = rundir.absolute(out)
    link = out.parent / "latest"
    tmp = out.parent / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(out.name)
    os.replace(tmp, link)
