"""kzoo.runtime.files: the one durable writer (bytes, text, JSON)."""

import json
import os
import threading

import pytest

from kzoo.runtime import files


def test_writes_bytes_text_and_json(tmp_path):
    files.atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    files.atomic_write_text(tmp_path / "b.txt", "héllo")
    files.atomic_write_json(tmp_path / "c.json", {"x": [1, 2]})
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo"
    assert json.loads((tmp_path / "c.json").read_text()) == {"x": [1, 2]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt", "c.json"]


def test_a_failed_rename_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    files.atomic_write_json(target, {"v": 1})

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space"):
        files.atomic_write_json(target, {"v": 2})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_file_and_directory_are_fsynced(tmp_path, monkeypatch):
    # Only this thread's calls: a checkpoint writer thread an earlier test left
    # running in the process may fsync too.
    synced, me, real = [], threading.get_ident(), os.fsync

    def fsync(fd):
        if threading.get_ident() == me:
            synced.append(fd)
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    files.atomic_write_text(tmp_path / "t.txt", "x")
    assert len(synced) == 2  # the file, then its directory
