"""The loop with a real tiny model: outputs complete, stages timed, ROI applied, drop-outs survived."""

from __future__ import annotations

import json
import os
import threading

import cv2
import numpy as np
import pytest

from edgetl.camera import outputs
from edgetl.camera.loop import LoopConfig, format_summary, roi_from_xywh, run_loop
from edgetl.camera.score import load_ground_truth
from edgetl.camera.smoothing import SmoothingConfig
from edgetl.camera.sources import Capture, SourceError, parse_source
from edgetl.errors import EdgetlError
from edgetl.runtime import open_runner
from helpers import draw_class_image

CLASSES = ["circle_red", "square_green", "triangle_blue"]
PER_FRAME = SmoothingConfig("none", hold=1, threshold=0.0)


@pytest.fixture(scope="module")
def runner(tiny_model):
    with open_runner(tiny_model) as r:
        yield r


def test_every_frame_is_logged_recorded_and_scored(runner, clip, tmp_path):
    truth = load_ground_truth(clip.with_name("clip.gt.json"))
    cfg = LoopConfig(roi_from_truth=True, smoothing=PER_FRAME, record=tmp_path / "out.mp4", json=tmp_path / "out.jsonl")
    result = run_loop(runner, Capture(parse_source(str(clip)), drop=False), cfg, truth)

    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(18)) and result.frames == 18 and result.dropped == 0
    assert set(lines[0]) == {"frame", "t", "label", "confidence", "topk", "boxes", "ms"}
    assert set(lines[0]["ms"]) == {"capture", "locate", "preprocess", "infer", "postprocess", "track", "output"}
    assert [b["box"] for b in lines[5]["boxes"]] == [[0, 0, 64, 64]], "the frame locator's one box: the crop"
    assert len(lines[0]["topk"]) == 3 and lines[0]["topk"][0][0] in CLASSES
    video = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 18 and int(video.get(cv2.CAP_PROP_FRAME_WIDTH)) == 64
    assert not list(tmp_path.glob(".out*"))  # no temporary file left behind
    mask = os.umask(0)
    os.umask(mask)
    assert all((tmp_path / n).stat().st_mode & 0o777 == 0o666 & ~mask for n in ("out.jsonl", "out.mp4"))

    for stage in ("wait", "capture", "locate", "preprocess", "infer", "postprocess", "track", "output", "latency"):
        s = result.stages[stage]
        assert 0 <= s["p50"] <= s["p90"] <= s["p99"], (stage, s)
    assert result.fps > 0 and 0 < result.own_work_share < 1 and result.end_reason == "end of source"
    score = result.score
    assert score["sign_frames"] == 15 and score["no_sign_frames"] == 3 and score["frames_not_scored"] == 0
    assert score["recognition_rate"] >= 0.6, score  # the tiny model recognises its classes
    assert "ground-truth box" in score["roi"] and "ground-truth box" in "\n".join(format_summary(result))


def test_the_frame_locator_gives_each_frame_todays_answer(runner, clip, tmp_path):
    cfg = LoopConfig(roi=roi_from_xywh("8,4,48,56"), smoothing=PER_FRAME, topk=3, json=tmp_path / "f.jsonl")
    result = run_loop(runner, Capture(parse_source(str(clip)), drop=False), cfg)
    lines = [json.loads(x) for x in (tmp_path / "f.jsonl").read_text().splitlines()]
    video, expected = cv2.VideoCapture(str(clip)), []
    while (got := video.read())[0]:
        expected.append(runner.predict([got[1][4:60, 8:56]], topk=3)[0])  # the ROI cropped by hand, classified whole
    assert result.locator == "frame" and len(lines) == len(expected) == 18
    for line, pred in zip(lines, expected):
        assert [lab for lab, _ in line["topk"]] == [lab for lab, _ in pred.topk]
        assert line["label"] == pred.label and line["confidence"] == pytest.approx(pred.confidence, abs=1e-4)
        assert line["boxes"] == [{"box": [8, 4, 56, 60], "label": pred.label, "confidence": line["confidence"],
                                  "track": line["boxes"][0]["track"]}]


def test_roi_decides_what_is_recognised(runner, tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):  # triangle on the left half, circle on the right half
        cv2.imwrite(str(folder / f"{i}.png"), np.hstack([draw_class_image(2, rng, 64), draw_class_image(0, rng, 64)]))

    def top1(roi):
        cfg = LoopConfig(roi=roi_from_xywh(roi), smoothing=PER_FRAME, json=tmp_path / "r.jsonl")
        run_loop(runner, Capture(parse_source(str(folder)), drop=False), cfg)
        return [json.loads(x)["topk"][0][0] for x in (tmp_path / "r.jsonl").read_text().splitlines()]

    assert top1("0,0,64,64").count("triangle_blue") >= 3
    assert top1("64,0,64,64").count("circle_red") >= 3


def test_camera_that_drops_out_ends_with_a_summary_and_complete_files(runner, tmp_path, scripted_reader):
    calls = []

    def opener(spec):
        calls.append(spec)
        if len(calls) > 1:
            raise SourceError(f"cannot open source {spec.display!r}")
        return scripted_reader(5, size=32)

    cap = Capture(parse_source("rtsp://u:pw@cam.local/live"), drop=False, reconnects=2, backoff_s=0.01, opener=opener)
    result = run_loop(runner, cap, LoopConfig(json=tmp_path / "o.jsonl", record=tmp_path / "o.avi"))
    assert result.source_lost and "gave up after 2 reconnect" in result.end_reason and result.frames == 5
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 5
    assert int(cv2.VideoCapture(str(tmp_path / "o.avi")).get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    assert "pw@" not in "\n".join(format_summary(result)) and len(calls) == 3


def test_a_hanging_read_counts_as_a_lost_source(runner, scripted_reader):
    release = threading.Event()

    class Hangs(scripted_reader):
        def read(self):
            if self.i >= self.n:
                release.wait(5)
            return super().read()

    cap = Capture(parse_source("0"), reconnects=0, opener=lambda s: Hangs(2))
    try:
        result = run_loop(runner, cap, LoopConfig(frame_timeout_s=0.3))
    finally:
        release.set()
    assert result.frames + result.dropped == 2  # a busy machine may drop the first of two back-to-back frames
    assert result.source_lost and "no frame for 0.3 s" in result.end_reason


def test_inputs_that_cannot_work_are_refused_up_front(runner, clip, monkeypatch):
    with pytest.raises(EdgetlError, match="does not fit in the 64x64 frame"):
        run_loop(runner, Capture(parse_source(str(clip))), LoopConfig(roi=roi_from_xywh("32,0,64,64")))
    with pytest.raises(EdgetlError, match="x,y,w,h"):
        roi_from_xywh("1,2,3")
    with pytest.raises(EdgetlError, match="--roi-from-truth needs --ground-truth"):
        run_loop(runner, Capture(parse_source(str(clip))), LoopConfig(roi_from_truth=True))
    monkeypatch.setattr(outputs, "has_gui", lambda: False)
    with pytest.raises(EdgetlError, match="--headless"):
        run_loop(runner, Capture(parse_source(str(clip))), LoopConfig(show=True))


@pytest.mark.parametrize("roi_from_truth", [True, False])
def test_ground_truth_of_another_video_is_refused_in_one_line_before_the_loop(runner, tmp_path, make_clip,
                                                                               roi_from_truth):
    truth = load_ground_truth(make_clip(tmp_path / "small.mp4", [0, 1], size=64).with_name("small.gt.json"))
    big = make_clip(tmp_path / "big.mp4", [0, 1], size=96)
    longer = make_clip(tmp_path / "long.mp4", [0, 1, 2], size=64)
    out = tmp_path / "never.jsonl"
    cfg = LoopConfig(roi_from_truth=roi_from_truth, json=out)
    for video, words in ((big, "is for 64x64 frames, the source gives 96x96"), (longer, "has 2 frames, the source 3")):
        with pytest.raises(EdgetlError, match=words) as err:
            run_loop(runner, Capture(parse_source(str(video))), cfg, truth)
        assert "small.gt.json is the ground truth of another video" in str(err.value) and "\n" not in str(err.value)
    assert not out.exists() and not list(tmp_path.glob(".never*")), "refused before any output was opened"
