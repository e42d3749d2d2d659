"""The finetune command as a user runs it: CLI output, Ctrl-C in a real process, torchrun with DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


from click.testing import CliRunner

from edgetl import checkpoint
from edgetl.cli.main import cli
from helpers import default_sigint

FAST = ["--backbone", "mobilenet_v3_small", "--weights", "none", "--image-size", "32", "--batch-size", "12",
        "--workers", "0"]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "EDGETL_OFFLINE": "1"}


def test_cli_prints_parameters_result_and_next_command(tiny_data, tmp_path):
    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["finetune", str(tiny_data), "-o", str(run), "--epochs", "1", *FAST])
    assert res.exit_code == 0, res.output
    assert "trainable" in res.output and "frozen: 2 of 6 stages" in res.output
    assert f"edgetl export {run}" in res.output
    again = CliRunner().invoke(cli, ["finetune", str(tiny_data), "-o", str(run), "--epochs", "1", *FAST])
    assert again.exit_code == 1 and "already holds a trained model" in again.output
    assert "Traceback" not in again.output


def test_piped_output_has_lines_not_bar_frames(tiny_data, tmp_path):
    """``edgetl finetune ... 2>&1 | cat > log``: the log gets the setup, one line per epoch and the result."""
    cmd = [sys.executable, "-m", "edgetl", "finetune", str(tiny_data), "-o", str(tmp_path / "run"), "--epochs", "3",
           *FAST]
    res = subprocess.run(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:]
    assert "\r" not in res.stdout and "batch/s" not in res.stdout and "it/s" not in res.stdout
    lines = res.stdout.splitlines()
    assert [ln.split()[1] for ln in lines if ln.startswith("epoch ")] == ["1", "2", "3"]
    assert any(ln.startswith("data: imagefolder, 3 classes") for ln in lines)
    assert len(lines) < 30


def test_cli_needs_data_and_out():
    res = CliRunner().invoke(cli, ["finetune"])
    assert res.exit_code == 2 and "DATA and -o RUN" in res.output


def test_ctrl_c_leaves_last_complete_epoch_and_resume_finishes(tiny_data, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "edgetl", "finetune", str(tiny_data), "-o", str(run), "--epochs", "40", *FAST]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=default_sigint)
    deadline = time.time() + 180
    while time.time() < deadline and not (run / "checkpoint.pt").exists():
        time.sleep(0.2)
    assert (run / "checkpoint.pt").exists(), "no epoch finished in time"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "interrupted" in out and "Traceback" not in out
    state = checkpoint.load_train_state(run / "checkpoint.pt")
    done = state["epoch"]
    assert 1 <= done < 40
    checkpoint.load_model(run / "model.pt")
    res = CliRunner().invoke(cli, ["finetune", "--resume", str(run), "--epochs", str(done + 1)])
    assert res.exit_code == 0, res.output
    m = json.loads((run / "metrics.json").read_text())
    assert m["complete"] and [e["epoch"] for e in m["epochs"]] == list(range(1, done + 2))


def test_torchrun_two_processes_gloo(tiny_data, tmp_path):
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "edgetl", "finetune", str(tiny_data), "-o", str(run), "--epochs", "1", "--device", "cpu", *FAST]
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    m = json.loads((run / "metrics.json").read_text())
    assert m["complete"] and len(m["epochs"]) == 1
    assert res.stdout.count("next:") == 1  # rank 0 alone reports and writes
    checkpoint.load_model(run / "model.pt")
