"""Export when RUN cannot take its files: one line naming the file and the cause, before the work where it
can be seen then, and earlier exports kept; staging folders a killed export left are cleared."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from edgetl.cli.main import cli
from edgetl.errors import OutputError
from edgetl.export import ExportConfig, export_run
from edgetl.fileio import staging_folder
from helpers import file_size_limit, fill_disk, leftovers, low_disk

EARLIER = {"model.onnx": b"an earlier export", "export.json": b"{}"}


def _plant(run):
    for name, data in EARLIER.items():
        (run / name).write_bytes(data)


def _kept(run) -> bool:
    return all((run / name).read_bytes() == data for name, data in EARLIER.items())


def test_disk_full_while_writing_the_model_keeps_the_earlier_export(run_dir, monkeypatch):
    _plant(run_dir)
    fill_disk(monkeypatch, ("model.onnx",))
    with pytest.raises(OutputError) as err:
        export_run(ExportConfig(run=run_dir, latency_iters=5))
    assert str(err.value) == f"cannot write {run_dir / 'model.onnx'}: disk full; nothing in {run_dir} was replaced"
    assert _kept(run_dir) and leftovers(run_dir) == []


def test_a_disk_without_room_is_refused_before_the_export(run_dir, monkeypatch):
    _plant(run_dir)
    low_disk(monkeypatch, free=100_000)
    res = CliRunner().invoke(cli, ["export", str(run_dir), "--int8"])
    assert res.exit_code == 1 and res.output.count("\n") == 1, res.output
    assert f"cannot write to the output folder {run_dir}: disk full (100 kB free, about" in res.output
    assert _kept(run_dir) and leftovers(run_dir) == []


def test_a_run_folder_without_write_permission_is_refused_before_the_export(run_dir, monkeypatch):
    _plant(run_dir)
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: not mode & os.W_OK and real(path, mode))
    res = CliRunner().invoke(cli, ["export", str(run_dir)])
    assert res.exit_code == 1 and res.output.strip() == f"Error: cannot write to the output folder {run_dir}: " \
                                                        "permission denied", res.output
    assert _kept(run_dir)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_a_read_only_run_folder_is_one_line(run_dir):
    _plant(run_dir)
    run_dir.chmod(0o500)
    try:
        res = CliRunner().invoke(cli, ["export", str(run_dir)])
    finally:
        run_dir.chmod(0o700)
    assert res.exit_code == 1 and "permission denied" in res.output and "Traceback" not in res.output
    assert _kept(run_dir) and leftovers(run_dir) == []


def test_staging_folders_of_a_killed_export_are_removed_and_a_running_one_is_not(run_dir):
    stale = run_dir / ".export-k1ll3d_9"
    stale.mkdir()
    (stale / "model.onnx").write_bytes(b"half")
    with staging_folder(run_dir, ".export-") as running:
        export_run(ExportConfig(run=run_dir, verify=False, latency_iters=5))
        assert running.is_dir() and not stale.exists()
    assert leftovers(run_dir) == [] and (run_dir / "model.onnx").is_file()


def test_a_full_disk_in_a_real_process_is_one_line(run_dir):
    """The kernel refuses the write: a file-size limit smaller than the model stands in for a full disk."""
    _plant(run_dir)
    res = subprocess.run([sys.executable, "-m", "edgetl", "export", str(run_dir)], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=file_size_limit(200_000))
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        f"Error: cannot write {run_dir / 'model.onnx'}: file too large (the file system or a file-size limit "
        f"allows no more); nothing in {run_dir} was replaced")
    assert _kept(run_dir) and leftovers(run_dir) == []
