"""finetune's outputs when writing fails or a run was killed: one line naming the file and the cause,
the last complete epoch kept, no temporary file left, and nothing made that the user did not ask for."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from edgetl import checkpoint
from edgetl.cli.main import cli
from edgetl.errors import DataError, EdgetlError, OutputError
from edgetl.train.finetune import Callbacks, FinetuneConfig, finetune
from helpers import file_size_limit, fill_disk, leftovers, low_disk

FAST = dict(backbone="mobilenet_v3_small", weights="none", image_size=32, batch_size=12, workers=0, epochs=1)
FAST_CLI = ["--backbone", "mobilenet_v3_small", "--weights", "none", "--image-size", "32", "--batch-size", "12",
            "--workers", "0"]


def _cfg(data, run, **kw):
    return FinetuneConfig(data=str(data), out=str(run), **{**FAST, **kw})


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "EDGETL_OFFLINE": "1"}


class _Epochs(Callbacks):
    def __init__(self):
        self.started = 0

    def on_epoch_start(self, epoch, epochs, batches):
        self.started += 1


def test_resume_of_a_folder_that_does_not_exist_creates_nothing(tmp_path):
    with pytest.raises(EdgetlError, match="no such run folder"):
        finetune(_cfg(".", tmp_path / "nowhere"), resume=True)
    res = CliRunner().invoke(cli, ["finetune", "--resume", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and res.output.strip() == f"Error: --resume {tmp_path / 'nowhere'}: no such run folder"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("present", [("val", "test"), ("val",), ("test", "calib")])
def test_split_folders_without_train_are_a_missing_split_not_classes(tiny_data, tmp_path, present):
    root = tmp_path / "data"
    for name in present:
        shutil.copytree(tiny_data / name, root / name)
    with pytest.raises(DataError, match=r"has .*but no train/"):
        finetune(_cfg(root, tmp_path / "run"))
    assert not (tmp_path / "run" / "model.pt").exists()


def test_outputs_of_a_run_folder_that_are_folders_are_refused_before_training(tiny_data, tmp_path):
    (tmp_path / "run" / "checkpoint.pt").mkdir(parents=True)
    with pytest.raises(OutputError, match=r"checkpoint\.pt: it is a folder, not a file"):
        finetune(_cfg(tiny_data, tmp_path / "run"))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.pt"]


def test_a_disk_without_room_for_the_model_is_refused_before_training(tiny_data, tmp_path, monkeypatch):
    epochs = _Epochs()
    low_disk(monkeypatch, free=2_000_000)  # tiny for a model with a million parameters
    with pytest.raises(OutputError, match=r"model\.pt and checkpoint\.pt: disk full \(2\.0 MB free, about .* needed"):
        finetune(_cfg(tiny_data, tmp_path / "run"), epochs)
    assert epochs.started == 0 and not (tmp_path / "run" / "model.pt").exists()


def test_disk_full_while_saving_keeps_the_last_epoch_and_says_how_to_resume(tiny_data, tmp_path, monkeypatch):
    run = tmp_path / "run"
    fill_disk(monkeypatch, ("checkpoint.pt",), after=1)  # epoch 1 is saved, epoch 2's checkpoint is not
    with pytest.raises(OutputError) as err:
        finetune(_cfg(tiny_data, run, epochs=3))
    msg = str(err.value)
    assert msg.startswith(f"cannot write {run / 'checkpoint.pt'}: disk full") and "\n" not in msg
    assert f"edgetl finetune --resume {run}" in msg
    assert checkpoint.load_train_state(run / "checkpoint.pt")["epoch"] == 1
    checkpoint.load_model(run / "model.pt")
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    finetune(_cfg(tiny_data, run, epochs=2), resume=True)  # room again: it continues from epoch 1
    assert [e["epoch"] for e in json.loads((run / "metrics.json").read_text())["epochs"]] == [1, 2]


def test_stale_temporaries_are_removed_by_the_next_run_and_nothing_else(tiny_data, tmp_path):
    run = tmp_path / "run"
    finetune(_cfg(tiny_data, run))
    stale = [run / ".model.pt.k2j4h5g6.tmp", run / ".checkpoint.pt.a_b1c2d3.tmp", run / ".metrics.json.zzzzzzzz.tmp"]
    kept = [run / ".model.pt.keep", run / "my.tmp", run / "notes.txt"]
    for p in stale + kept:
        p.write_bytes(b"x" * 1000)
    finetune(_cfg(tiny_data, run, epochs=2), resume=True)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    log = (run / "train.log").read_text()
    assert "removed 3 temporary file(s) an interrupted run left" in log and ".model.pt.k2j4h5g6.tmp" in log


KILL_DURING_SECOND_SAVE = """
import os, sys
from edgetl import checkpoint
from edgetl.train.finetune import FinetuneConfig, finetune
real, calls = checkpoint.torch.save, []
def save(obj, f):
    calls.append(1)
    if len(calls) == 3:  # epoch 2: the first write after a complete epoch 1
        f.write(b"half a model" * 1000); f.flush(); os.kill(os.getpid(), 9)
    real(obj, f)
checkpoint.torch.save = save
finetune(FinetuneConfig(data=sys.argv[1], out=sys.argv[2], backbone="mobilenet_v3_small", weights="none",
                        image_size=32, batch_size=12, workers=0, epochs=3))
"""


def test_kill_9_during_a_model_write_leaves_no_litter_after_resume(tiny_data, tmp_path):
    run = tmp_path / "run"
    res = subprocess.run([sys.executable, "-c", KILL_DURING_SECOND_SAVE, str(tiny_data), str(run)], env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == -9, res.stderr[-2000:]
    assert leftovers(run), "the killed write should have left its temporary file"
    assert checkpoint.load_train_state(run / "checkpoint.pt")["epoch"] == 1
    res = CliRunner().invoke(cli, ["finetune", "--resume", str(run), "--epochs", "2"])
    assert res.exit_code == 0, res.output
    assert leftovers(run) == []
    assert json.loads((run / "metrics.json").read_text())["complete"]


def test_a_full_disk_in_a_real_process_is_one_line_and_keeps_model_pt(tiny_data, tiny_model, tmp_path):
    """The kernel refuses the write (a file-size limit stands in for a full disk): checkpoint.pt, which
    holds the optimizer too, does not fit; model.pt does."""
    run = tmp_path / "run"
    limit = int(tiny_model.stat().st_size * 1.3)
    res = subprocess.run([sys.executable, "-m", "edgetl", "finetune", str(tiny_data), "-o", str(run), "--epochs",
                          "1", *FAST_CLI], env=_env(), capture_output=True, text=True, timeout=300,
                         preexec_fn=file_size_limit(limit))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "inline_container" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: cannot write {run / 'checkpoint.pt'}: file too large (the file system or a "
                      f"file-size limit allows no more)"], res.stderr
    checkpoint.load_model(run / "model.pt")
    assert leftovers(run) == []
