"""Atomic writes: all or nothing, with the permissions a plain write would give; output checks before
work; a failed write is one OutputError naming the path and the cause; stale temporaries are cleared."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys

import pytest

from edgetl.errors import OutputError
from edgetl.fileio import (atomic_path, check_output, describe_os_error, remove_stale_temps, sha256_file,
                           staging_folder, temp_beside, write_bytes, write_json, write_text, writing)
from helpers import file_size_limit, fill_disk, leftovers, low_disk


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


# --- output checks and failed writes: one OutputError naming the path and the cause -----------------------

@pytest.mark.parametrize("rel", ["blocker/out.json", "blocker/deeper/still/out.json"])
def test_a_file_where_a_folder_should_be_is_named(tmp_path, rel):
    (tmp_path / "blocker").write_text("I am a file")
    with pytest.raises(OutputError, match=r"not a folder: .*blocker is a file"):
        check_output(tmp_path / rel)
    with pytest.raises(OutputError, match=r"not a folder: .*blocker is a file"):
        write_bytes(tmp_path / rel, b"x")  # the writer says the same, not FileExistsError
    with pytest.raises(OutputError, match="blocker is a file"):
        check_output(tmp_path / rel, kind="folder")
    assert (tmp_path / "blocker").read_text() == "I am a file"


def test_check_output_creates_nothing_and_accepts_folders_yet_to_be_made(tmp_path):
    assert check_output(tmp_path / "a" / "b" / "out.json") == tmp_path / "a" / "b" / "out.json"
    check_output(tmp_path / "new" / "run", kind="folder")
    assert list(tmp_path.iterdir()) == []


def test_check_output_refuses_a_folder_as_a_file_and_a_file_as_a_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="it is a folder"):
        check_output(tmp_path)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output(tmp_path / "f", kind="folder")
    with pytest.raises(OutputError, match="/dev/null is a file"):
        check_output("/dev/null/run", kind="folder")


def test_check_output_says_disk_full_when_the_disk_has_no_room(tmp_path, monkeypatch):
    check_output(tmp_path / "model.onnx", need_bytes=10_000)
    low_disk(monkeypatch, free=5_000)
    with pytest.raises(OutputError, match=r"model\.onnx: disk full \(5 kB free, about .* needed\)"):
        check_output(tmp_path / "model.onnx", need_bytes=10_000_000)
    with pytest.raises(OutputError, match="disk full"):  # even when the size is unknown, 5 kB is full
        check_output(tmp_path / "bench.json")


def test_check_output_says_permission_denied(tmp_path, monkeypatch):
    real = os.access  # as for a user without write permission
    monkeypatch.setattr(os, "access", lambda path, mode: not mode & os.W_OK and real(path, mode))
    with pytest.raises(OutputError, match=r"cannot write .*out\.jsonl: permission denied"):
        check_output(tmp_path / "out.jsonl")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_folder_is_refused_before_work(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="permission denied"):
            check_output(ro / "x.json")
        with pytest.raises(OutputError, match="permission denied"):
            write_bytes(ro / "x.json", b"x")
    finally:
        ro.chmod(0o700)


def test_disk_full_while_writing_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "export.json"
    target.write_text("old")
    fill_disk(monkeypatch)
    with pytest.raises(OutputError, match=r"cannot write .*export\.json: disk full$"):
        write_json(target, {"big": "x" * 100_000})
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_torch_save_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    import torch

    from edgetl import checkpoint

    fill_disk(monkeypatch)
    with pytest.raises(OutputError, match=r"checkpoint\.pt: disk full"):
        checkpoint.save_train_state(tmp_path / "checkpoint.pt", model={"w": torch.zeros(100_000)})
    assert list(tmp_path.iterdir()) == []


def test_file_size_limit_of_the_kernel_is_one_line(tmp_path):
    code = ("import torch, sys\nfrom edgetl import checkpoint\nfrom edgetl.errors import OutputError\n"
            "try:\n    checkpoint.save_train_state(sys.argv[1], model={'w': torch.zeros(100_000)})\n"
            "except OutputError as exc:\n    print(exc)\n")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "checkpoint.pt")], capture_output=True,
                         text=True, timeout=120, preexec_fn=file_size_limit(50_000))
    assert res.returncode == 0, res.stderr
    assert "checkpoint.pt: file too large" in res.stdout and "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_input_inside_a_write_is_not_called_a_write_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        with writing(tmp_path / "out.json"):
            open(tmp_path / "missing-input.txt")


@pytest.mark.parametrize("code, cause", [(errno.ENOSPC, "disk full"), (errno.EACCES, "permission denied"),
                                         (errno.EROFS, "read-only file system"), (errno.EDQUOT, "quota")])
def test_causes_are_named_in_words(code, cause):
    assert cause in describe_os_error(OSError(code, os.strerror(code)))


def test_stale_temporaries_of_the_named_targets_are_removed_and_nothing_else(tmp_path):
    keep = ["model.pt", ".model.pt.keep", "notes.tmp", ".other.json.abcd1234.tmp", ".export-mine", "user.tmp"]
    for name in keep:
        (tmp_path / name).write_text("x")
    stale = [temp_beside(tmp_path / "model.pt"), temp_beside(tmp_path / "record.mp4", ".part.mp4")]
    (tmp_path / ".export-abcd_123").mkdir()
    (tmp_path / ".export-abcd_123" / "model.onnx").write_text("half")
    with staging_folder(tmp_path, ".export-") as live:  # an export still running keeps its folder
        removed = remove_stale_temps(tmp_path, ["model.pt", "record.mp4"], [".export-"])
        assert live.is_dir()
    assert sorted(p.name for p in removed) == sorted([".export-abcd_123", *(p.name for p in stale)])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_device_is_written_in_place_and_never_replaced():
    write_json("/dev/null", {"x": 1})
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    check_output("/dev/full")
    with pytest.raises(OutputError, match=r"^cannot write /dev/full: disk full$"):
        write_json("/dev/full", {"x": 1})
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)

