"""``edgetl data``: what a user types and sees, errors included."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edgetl.cli.main import cli

SMALL = ["--per-class", "8", "--views-per-track", "2", "--classes", "stop,yield", "--image-size", "32",
         "--workers", "1"]


def _run(*args):
    return CliRunner().invoke(cli, ["data", *map(str, args)])


def test_roadsigns_writes_a_set_and_says_it_is_synthetic(tmp_path):
    r = _run("roadsigns", tmp_path / "signs", *SMALL)
    assert r.exit_code == 0, r.output
    assert "synthetic" in r.output and "next: edgetl finetune" in r.output
    assert "\r" not in r.output and "img/s" not in r.output  # no bar frames where output is not a terminal
    m = json.loads((tmp_path / "signs" / "manifest.json").read_text())
    assert m["classes"] == ["stop", "yield", "background"] and m["num_images"] == 16 + 16


def test_background_option(tmp_path):
    from edgetl.synth.roadsigns import BACKGROUND_PER_CLASS

    r = _run("roadsigns", tmp_path / "a", *SMALL, "--background", "1.5x")
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert m["classes"] == ["stop", "yield", "background"] and m["background"]["images"] == 12
    assert "background" in r.output
    r = _run("roadsigns", tmp_path / "b", *SMALL, "--background", "0")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["classes"] == ["stop", "yield"]
    r = _run("roadsigns", tmp_path / "c", *SMALL, "--background", "lots")
    assert r.exit_code == 2 and "--background" in r.output
    help_text = " ".join(_run("roadsigns", "--help").output.split())
    assert f"default: {BACKGROUND_PER_CLASS:g}x" in help_text  # the help states the default the code uses


def test_image_size_range(tmp_path):
    import cv2

    r = _run("roadsigns", tmp_path / "s", *SMALL[:-4], "--image-size", "24-40", "--workers", "1")
    assert r.exit_code == 0, r.output
    sizes = {cv2.imread(str(p)).shape[0] for p in (tmp_path / "s").rglob("*.png")}
    assert len(sizes) > 1 and min(sizes) >= 24 and max(sizes) <= 40


@pytest.mark.parametrize("extra, msg", [
    (["--classes", "stop,no_such_sign"], "unknown road-sign class 'no_such_sign'"),
    (["--per-class", "3"], "too few to fill train/val/test/calib"),
])
def test_user_errors_are_one_line(tmp_path, extra, msg):
    r = _run("roadsigns", tmp_path / "x", *SMALL, *extra)
    assert r.exit_code == 1
    assert msg in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_non_empty_folder_is_refused_without_overwrite(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("keep")
    r = _run("roadsigns", tmp_path / "x", *SMALL)
    assert r.exit_code == 1 and "--overwrite" in r.output
    assert _run("roadsigns", tmp_path / "x", *SMALL, "--overwrite").exit_code == 0
    assert not (tmp_path / "x" / "notes.txt").exists()


def test_bad_image_size_is_a_usage_error(tmp_path):
    r = _run("roadsigns", tmp_path / "x", "--image-size", "big")
    assert r.exit_code == 2 and "--image-size" in r.output


def test_video_command(tmp_path):
    out = tmp_path / "drive.mp4"
    r = _run("roadsigns-video", out, "--seconds", "3", "--fps", "10", "--resolution", "320x180")
    assert r.exit_code == 0, r.output
    gt = json.loads((tmp_path / "drive.gt.json").read_text())
    assert gt["num_frames"] == 30 and gt["width"] == 320 and out.stat().st_size > 0 and gt["format"] == 2
    assert "synthetic" in r.output and "recognisable sign" in r.output and "segments: night" in r.output
    r = _run("roadsigns-video", out, "--seconds", "3")
    assert r.exit_code == 1 and "--overwrite" in r.output


@pytest.mark.parametrize("command, name, what", [("roadsigns-video", "drive.mp4", ""),
                                                 ("roadsigns", "signs", "to the output folder ")])
def test_an_output_under_a_file_is_one_line_before_any_work(tmp_path, command, name, what):
    (tmp_path / "X").write_text("a file")
    r = _run(command, tmp_path / "X" / name, *(["--seconds", "1"] if command == "roadsigns-video" else SMALL))
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert r.output.strip() == f"Error: cannot write {what}{tmp_path / 'X' / name}: not a folder: {tmp_path / 'X'} is a file"
    assert (tmp_path / "X").read_text() == "a file" and sorted(p.name for p in tmp_path.iterdir()) == ["X"]


def test_a_disk_that_fills_while_generating_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    import errno
    import pathlib

    real, calls = pathlib.Path.write_bytes, []

    def write_bytes(self, data):
        calls.append(self)
        if len(calls) > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)
    r = _run("roadsigns", tmp_path / "signs", *SMALL)
    assert r.exit_code == 1 and r.output.strip().splitlines()[-1] == f"Error: cannot write {tmp_path / 'signs'}: disk full"
    assert "Traceback" not in r.output and list(tmp_path.iterdir()) == []
