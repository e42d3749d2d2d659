"""Atomic writes: all or nothing, and with the permissions a plain write would give."""

from __future__ import annotations

import os
import stat

import pytest

from edgetl.fileio import atomic_path, sha256_file, write_json, write_text


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_written_file_has_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_sha256_file(tmp_path):
    p = write_text(tmp_path / "t.txt", "abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
