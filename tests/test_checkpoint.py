"""Checkpoints: atomic, weights-only, and a clear error for a corrupt or missing file."""

from __future__ import annotations

import datetime

import pytest
import torch

from adderflow.checkpoint import atomic_write_text, load_checkpoint, save_checkpoint
from adderflow.errors import CheckpointError


def test_round_trip_weights_only(tmp_path):
    path = tmp_path / "c.pt"
    state = {"model": {"w": torch.arange(4.0)}, "epoch": 3, "history": [{"loss": 0.5}]}
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["model"]["w"], torch.arange(4.0))
    assert loaded["epoch"] == 3 and loaded["history"] == [{"loss": 0.5}]
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind


@pytest.mark.parametrize("payload", [b"garbage", b"PK\x03\x04truncated-zip"])
def test_corrupt_checkpoint_is_one_clear_error(tmp_path, payload):
    path = tmp_path / "student.pt"
    path.write_bytes(payload)
    with pytest.raises(CheckpointError, match="student.pt is corrupt"):
        load_checkpoint(path)


def test_truncated_real_checkpoint(tmp_path):
    path = tmp_path / "t.pt"
    save_checkpoint(path, {"model": {"w": torch.randn(100)}})
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="t.pt"):
        load_checkpoint(path)


def test_non_weights_only_content_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    # Any class outside torch's weights-only allow-list would need arbitrary unpickling.
    torch.save({"model": datetime.datetime(2026, 1, 1)}, path)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_text(path, "first")
    atomic_write_text(path, "second")
    assert path.read_text() == "second"
    assert len(list(tmp_path.iterdir())) == 1


def test_atomic_write_never_touches_the_process_umask(tmp_path, monkeypatch):
    # Another thread may create files meanwhile: the umask must not flip to 0 for a moment.
    from adderflow import atomic

    def refuse(_mask: int) -> int:
        raise AssertionError("os.umask called while writing")

    monkeypatch.setattr(atomic.os, "umask", refuse)
    path = atomic_write_text(tmp_path / "out.txt", "text")
    assert path.stat().st_mode & 0o777 == atomic.FILE_MODE
