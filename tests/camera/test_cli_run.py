"""``edgetl run`` from the command line: summary, score, one-line errors, and Ctrl-C leaving complete files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import pytest
from click.testing import CliRunner

from edgetl.camera.sources import SOURCES, SourceKind, SourceSpec
from edgetl.cli.main import cli
from helpers import default_sigint


def invoke(*args: str):
    return CliRunner().invoke(cli, ["run", *map(str, args)])


def test_run_prints_stage_percentiles_fps_and_the_score(tiny_model, clip, tmp_path):
    summary = tmp_path / "summary.json"
    res = invoke(tiny_model, clip, "--headless", "--no-drop", "--ground-truth", clip.with_name("clip.gt.json"),
                 "--smooth", "vote", "--window", "3", "--summary", summary)
    assert res.exit_code == 0, res.output
    for word in ("p50", "p90", "p99", "preprocess", "infer", "FPS", "ended: end of source", "recognised", "false alarms"):
        assert word in res.output
    data = json.loads(summary.read_text())
    assert data["frames"] == 18 and data["smoothing"]["method"] == "vote" and data["score"]["frames_scored"] == 18
    assert data["score"]["roi"] == "whole frame" and set(data["stages"]["infer"]) == {"p50", "p90", "p99", "mean", "min"}


def test_sources_that_cannot_be_opened_fail_in_one_line(tiny_model, tmp_path):
    res = invoke(tiny_model, tmp_path / "nope.mp4", "--headless")
    assert res.exit_code == 1 and "no such file or folder" in res.output and "Traceback" not in res.output
    res = invoke(tiny_model, "csi://0?width=1280&height=720&fps=30&flip=2", "--headless")
    assert res.exit_code == 1 and "GStreamer" in res.output and len(res.output.strip().splitlines()) == 1
    res = invoke(tiny_model, "rtsp://admin:hunter2@127.0.0.1:9/live", "--headless")
    assert res.exit_code == 1 and "hunter2" not in res.output and "rtsp://***@127.0.0.1:9/live" in res.output


def test_ctrl_c_stops_cleanly_with_complete_json_and_video(tiny_model, make_clip, tmp_path):
    video = make_clip(tmp_path / "long.mp4", [0, 1, 2] * 200)
    out_json, out_mp4 = tmp_path / "out.jsonl", tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "edgetl", "run", str(tiny_model), str(video), "--headless",
                             "--no-drop", "--json", str(out_json), "--record", str(out_mp4)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            partial = list(tmp_path.glob(".out.jsonl.*"))
            if partial and len(partial[0].read_text().splitlines()) >= 5:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert not out_json.exists() and not out_mp4.exists()  # still being written under temporary names
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stderr
    assert "stopped by SIGINT" in stdout and "p99" in stdout
    lines = [json.loads(x) for x in out_json.read_text().splitlines()]
    assert 5 <= len(lines) < 600 and [x["frame"] for x in lines] == list(range(len(lines)))
    video = cv2.VideoCapture(str(out_mp4))
    frames = 0
    while video.read()[0]:
        frames += 1
    assert frames == len(lines)
    assert not list(tmp_path.glob(".out*"))


def test_rebuild_stale_is_refused_for_a_model_that_is_no_engine(tiny_model, tmp_path):
    from click.testing import CliRunner

    from edgetl.cli.main import cli

    res = CliRunner().invoke(cli, ["run", str(tiny_model), str(tmp_path), "--rebuild-stale", "--headless"])
    assert res.exit_code == 1 and "does not take option(s) rebuild_stale" in res.output


@pytest.mark.parametrize("url, secrets", [
    ("rtsp://admin:hunter2@S3CRETX@127.0.0.1:9/live", ["hunter2", "S3CRETX"]),
    ("rtsp://127.0.0.1:9/live?user=admin&password=QuerySecret9", ["QuerySecret9"]),
    ("rtsp://127.0.0.1:9/live?token=T0kenValue&channel=1", ["T0kenValue"]),
])
def test_stream_secrets_are_never_printed(tiny_model, url, secrets):
    res = CliRunner().invoke(cli, ["-vv", "run", str(tiny_model), url, "--headless"])
    assert res.exit_code == 1 and "127.0.0.1:9/live" in res.output and "Traceback" not in res.output
    assert not any(s in res.output for s in secrets), res.output


def test_secrets_stay_out_of_logs_summary_and_jsonl(tiny_model, scripted_reader, tmp_path):
    url = "fake://cam/live?user=admin&password=QuerySecret9"

    def reader(spec):
        opened.append(spec)
        return scripted_reader(3 if len(opened) == 1 else 0)

    opened: list = []  # three frames on the first open, none after: the camera drops out for good
    kind = SourceKind(name="fake", example="fake://...", description="for tests", noun="fake://",
                      parse=lambda uri: SourceSpec("fake", uri, uri) if uri.startswith("fake://") else None,
                      open=reader, live=True)
    with SOURCES.temporarily("fake", kind):
        res = CliRunner().invoke(cli, ["-v", "run", str(tiny_model), url, "--headless", "--reconnects", "1",
                                       "--summary", str(tmp_path / "s.json"), "--json", str(tmp_path / "f.jsonl")])
    assert res.exit_code == 3 and "reconnect 1/1" in res.output, res.output  # a warning that names the source
    written = (tmp_path / "s.json").read_text() + (tmp_path / "f.jsonl").read_text()
    assert "QuerySecret9" not in res.output + written and "password=***" in res.output + written


# --- where to look: --locate and the locators' options -------------------------------------------------

def test_a_registered_locator_is_a_choice_with_its_options_in_run_help(tiny_model, clip):
    from edgetl.camera.locate import LOCATORS, LocatorEntry, LocatorOption
    from edgetl.proposals import FrameLocator

    corner = LocatorEntry("corner", "the top-left quarter, for tests",
                          lambda side: FrameLocator((0, 0, int(side), int(side))),
                          (LocatorOption("side", "--corner-side", 32, int, "side of the corner in pixels", "PX"),))
    with LOCATORS.temporarily("corner", corner):
        text = " ".join(invoke("--help").output.split())
        assert "corner: the top-left quarter, for tests" in text and "[corner] side of the corner" in text
        assert "[default: 32]" in text and "--max-boxes" in text and "[signs, windows]" in text
        res = invoke(tiny_model, clip, "--headless", "--no-drop", "--locate", "corner", "--corner-side", "16")
        assert res.exit_code == 0 and "locate: corner" in res.output, res.output
    assert "corner" not in invoke("--help").output


def test_the_default_locator_follows_the_models_labels_and_says_why(tiny_model, clip, tmp_path):
    res = invoke(tiny_model, clip, "--headless", "--no-drop", "--json", tmp_path / "f.jsonl")
    assert res.exit_code == 0, res.output
    assert "locate: frame" in res.output and "without a 'background' class" in res.output
    res = invoke(tiny_model, clip, "--headless", "--no-drop", "--locate", "signs", "--events", tmp_path / "e.jsonl")
    assert res.exit_code == 0, res.output
    assert "has no 'background' class" in res.output and "false alarms cannot be rejected" in res.output
    assert "locate: signs (asked for with --locate)" in res.output
    announced = [ln for ln in res.output.splitlines() if ln.startswith("sign #")]
    assert len(announced) == len((tmp_path / "e.jsonl").read_text().splitlines()), "one line per sign, both places"
    res = invoke(tiny_model, clip, "--headless", "--no-drop", "--background-label", "circle_red", "--max-frames", "3")
    assert res.exit_code == 0 and "locate: signs (the default: the model has the 'circle_red' class" in res.output


def test_the_frame_locator_announces_each_run_of_a_shown_label(tiny_model, clip, tmp_path):
    res = invoke(tiny_model, clip, "--headless", "--no-drop", "--smooth", "none", "--hold", "1", "--threshold", "0",
                 "--events", tmp_path / "e.jsonl")
    assert res.exit_code == 0, res.output
    events = [json.loads(x) for x in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert events and all(e["final"] for e in events)
    assert sum(ln.startswith("sign #") for ln in res.output.splitlines()) == len(events)
    assert [e["first_frame"] for e in events] == sorted(e["first_frame"] for e in events)


@pytest.mark.parametrize("args, words", [
    (["--locate", "signs", "--smooth", "vote"], "--smooth: smoothing decides the frame locator's one answer"),
    (["--confirm-after", "2"], "--confirm-after: the tracker follows the boxes of a box locator"),
    (["--max-boxes", "4"], "takes no option max_boxes (--max-boxes, an option of signs)"),
    (["--locate", "signs", "--roi", "0,0,32,32"], "takes no option roi (--roi, an option of frame)"),
    (["--locate", "signs", "--roi-from-truth", "--ground-truth", "GT"], "--roi-from-truth crops each frame"),
    (["--locate", "nope"], "Invalid value for '--locate'"),
    (["--locate", "signs", "--max-boxes", "many"], "'many': expected an integer"),
])
def test_options_for_another_locator_are_refused_in_one_line(tiny_model, clip, args, words):
    args = [str(clip.with_name("clip.gt.json")) if a == "GT" else a for a in args]
    res = invoke(tiny_model, clip, "--headless", *args)
    assert res.exit_code in (1, 2) and words in res.output, res.output
    assert "Traceback" not in res.output
