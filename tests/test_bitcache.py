"""The bitstream cache and the one place that says where adderflow's caches live."""

from __future__ import annotations

import json
from pathlib import Path

from adderflow.hw import bitcache, harness


def test_cache_dir_reads_the_variable_one_way(monkeypatch, tmp_path):
    monkeypatch.setenv("ADDERFLOW_CACHE", "off")
    assert bitcache.cache_dir("bitstreams") is None and bitcache.cache_dir("verilator") is None
    monkeypatch.setenv("ADDERFLOW_CACHE", str(tmp_path / "c"))
    assert bitcache.cache_dir("verilator") == tmp_path / "c" / "verilator"
    monkeypatch.delenv("ADDERFLOW_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert bitcache.cache_dir("bitstreams") == tmp_path / "xdg" / "adderflow" / "bitstreams"


def test_harness_with_cache_off_builds_in_a_temp_folder_not_in_cwd(monkeypatch, tmp_path):
    monkeypatch.setenv("ADDERFLOW_CACHE", "off")
    monkeypatch.chdir(tmp_path)
    root = harness._build_root()
    assert root.is_dir() and tmp_path not in root.parents and root != tmp_path
    assert not (tmp_path / "off").exists()


def _build(tmp_path: Path) -> Path:
    build = tmp_path / "build"
    build.mkdir()
    (build / "top.bit").write_bytes(b"bits")
    (build / "yosys.log").write_text("log")
    return build


def test_store_lookup_restore_and_a_damaged_summary_is_a_miss(monkeypatch, tmp_path):
    monkeypatch.setenv("ADDERFLOW_CACHE", str(tmp_path / "cache"))
    entry = bitcache.store("k" * 64, _build(tmp_path), "top.bit", {"luts": 3})
    assert entry is not None and bitcache.lookup("k" * 64) == entry
    out = tmp_path / "out"
    out.mkdir()
    bit, summary = bitcache.restore(entry, out)
    assert bit.read_bytes() == b"bits" and summary == {"luts": 3}
    for damaged in ("{trunc", "[]", json.dumps({"luts": 3}), "\xff"):
        (entry / "summary.json").write_text(damaged, errors="surrogateescape")
        assert bitcache.lookup("k" * 64) is None, damaged


def test_a_failed_store_leaves_no_temp_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("ADDERFLOW_CACHE", str(tmp_path / "cache"))
    build = _build(tmp_path)

    def collide(self: Path, target: Path) -> Path:
        raise OSError("another process renamed first")

    monkeypatch.setattr(Path, "rename", collide)
    assert bitcache.store("k" * 64, build, "top.bit", {}) is None
    assert bitcache.store("j" * 64, build, "missing.bit", {}) is None  # copy fails
    assert list((tmp_path / "cache" / "bitstreams").iterdir()) == []
