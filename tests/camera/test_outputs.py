"""What the loop writes when writing fails: one line naming the file, earlier files kept, no temporary left;
and bad output paths refused before the model loads."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from edgetl.camera.loop import LoopConfig, run_loop
from edgetl.camera.outputs import JsonlWriter, VideoRecorder
from edgetl.camera.smoothing import SmoothingConfig
from edgetl.camera.sources import Capture, parse_source
from edgetl.cli.main import cli
from edgetl.errors import OutputError
from edgetl.runtime import open_runner
from helpers import fill_disk, leftovers, low_disk

PER_FRAME = SmoothingConfig("none", hold=1, threshold=0.0)


@pytest.fixture(scope="module")
def runner(tiny_model):
    with open_runner(tiny_model) as r:
        yield r


def _loop(runner, video, **cfg):
    return run_loop(runner, Capture(parse_source(str(video)), drop=False), LoopConfig(smoothing=PER_FRAME, **cfg))


def test_disk_full_while_logging_json_keeps_the_earlier_log(runner, clip, tmp_path, monkeypatch):
    out = tmp_path / "out.jsonl"
    out.write_text('{"frame": 0, "from": "an earlier run"}\n')
    fill_disk(monkeypatch, ("out.jsonl",))
    with pytest.raises(OutputError, match=r"cannot write .*out\.jsonl: disk full"):
        _loop(runner, clip, json=out, record=tmp_path / "rec.avi")
    assert "an earlier run" in out.read_text() and leftovers(tmp_path) == []
    assert (tmp_path / "rec.avi").is_file()  # the output that did not fail is finished as usual


def test_disk_filling_while_recording_stops_in_one_line(runner, make_clip, tmp_path, monkeypatch):
    video = make_clip(tmp_path / "long.mp4", [0, 1, 2] * 30)
    rec = tmp_path / "rec.avi"
    rec.write_bytes(b"an earlier recording")
    calls = []

    def nearly_full(path):  # plenty of room for the first checks, then nearly none
        calls.append(path)
        from types import SimpleNamespace

        return SimpleNamespace(total=10**12, used=10**12, free=10**12 if len(calls) < 2 else 1000)

    monkeypatch.setattr("shutil.disk_usage", nearly_full)
    with pytest.raises(OutputError, match=r"cannot write .*rec\.avi: disk full"):
        _loop(runner, video, record=rec, json=tmp_path / "frames.jsonl")
    assert rec.read_bytes() == b"an earlier recording" and leftovers(tmp_path) == []
    lines = (tmp_path / "frames.jsonl").read_text().splitlines()  # the log up to there is complete
    assert len(lines) == 2 * VideoRecorder.CHECK_EVERY - 1 and json.loads(lines[-1])["frame"] == len(lines) - 1


def test_writers_name_a_parent_that_is_a_file(tmp_path):
    (tmp_path / "DIR").write_text("a file")
    with pytest.raises(OutputError, match="not a folder: .*DIR is a file"):
        JsonlWriter(tmp_path / "DIR" / "out.jsonl")


def run_cli(*args):
    return CliRunner().invoke(cli, ["run", *map(str, args)])


@pytest.mark.parametrize("option, name", [("--json", "out.jsonl"), ("--record", "out.mp4"),
                                          ("--summary", "summary.json")])
def test_output_under_a_file_fails_in_one_line_before_the_model_loads(tiny_model, clip, tmp_path, option, name):
    (tmp_path / "DIR").write_text("a file")
    res = run_cli(tiny_model, clip, "--headless", option, tmp_path / "DIR" / name)
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert res.output.strip().splitlines() == [f"Error: cannot write {tmp_path / 'DIR' / name}: not a folder: "
                                              f"{tmp_path / 'DIR'} is a file"]


def test_output_in_a_folder_without_permission_fails_before_the_model_loads(tiny_model, clip, tmp_path,
                                                                            monkeypatch):
    real = os.access  # what a folder without write permission looks like to a user
    monkeypatch.setattr(os, "access", lambda path, mode: not mode & os.W_OK and real(path, mode))
    res = run_cli(tiny_model, clip, "--headless", "--record", tmp_path / "ro" / "out.mp4")
    assert res.exit_code == 1 and res.output.count("\n") == 1 and "permission denied" in res.output, res.output
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_record_into_a_read_only_folder_is_one_line(tiny_model, clip, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        res = run_cli(tiny_model, clip, "--headless", "--record", ro / "out.mp4", "--json", ro / "out.jsonl")
    finally:
        ro.chmod(0o700)
    assert res.exit_code == 1 and res.output.count("\n") == 1 and "permission denied" in res.output, res.output
    assert list(ro.iterdir()) == []


def test_a_full_disk_is_refused_before_the_model_loads(tiny_model, clip, tmp_path, monkeypatch):
    low_disk(monkeypatch)
    res = run_cli(tiny_model, clip, "--headless", "--json", tmp_path / "out.jsonl")
    assert res.exit_code == 1 and "out.jsonl: disk full" in res.output and res.output.count("\n") == 1


def test_a_folder_of_stills_is_processed_whole_without_no_drop(tiny_model, tmp_path):
    import cv2
    import numpy as np

    from helpers import draw_class_image

    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        cv2.imwrite(str(frames / f"{i:03d}.png"), draw_class_image(i % 3, rng, 32))
    res = run_cli(tiny_model, frames, "--headless", "--json", tmp_path / "out.jsonl")
    assert res.exit_code == 0, res.output
    assert "24 frames processed (24 captured, 0 dropped" in res.output
    assert [json.loads(x)["frame"] for x in (tmp_path / "out.jsonl").read_text().splitlines()] == list(range(24))
    assert not Capture(parse_source(str(frames)), drop=True).drop  # stills are never dropped


def test_a_killed_recording_is_removed_by_the_next_and_a_killed_log_is_kept(tiny_model, clip, tmp_path):
    dead = tmp_path / ".out.avi.k1ll3d00.part.avi"  # unplayable: the container was never finished
    log = tmp_path / ".frames.jsonl.k1ll3d00.tmp"  # readable line by line: kept for the user
    for p in (dead, log):
        p.write_bytes(b"x" * 100)
    res = run_cli(tiny_model, clip, "--headless", "--no-drop", "--record", tmp_path / "out.avi")
    assert res.exit_code == 0, res.output
    assert not dead.exists() and log.exists() and (tmp_path / "out.avi").is_file()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("option", ["--json", "--summary"])
def test_a_device_that_is_full_is_one_line(tiny_model, clip, option):
    res = run_cli(tiny_model, clip, "--headless", "--no-drop", option, "/dev/full")
    assert res.exit_code == 1 and res.output.strip().splitlines()[-1] == "Error: cannot write /dev/full: disk full"
    assert "Traceback" not in res.output
