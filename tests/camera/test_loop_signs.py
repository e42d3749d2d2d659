"""The loop finding signs itself: locate, classify in one batch, track, announce, score; and bad input."""

from __future__ import annotations

import json
import logging

import cv2
import numpy as np
import pytest

from edgetl.camera.events import format_event
from edgetl.camera.loop import CameraLoop, LoopConfig, format_summary, run_loop
from edgetl.camera.overlay import GREEN, draw_overlay
from edgetl.camera.score import format_report, load_ground_truth
from edgetl.camera.sources import Capture, parse_source
from edgetl.errors import EdgetlError


def run_scene(runner, folder, truth=None, **config):
    events = []
    result = run_loop(runner, Capture(parse_source(str(folder)), drop=False), LoopConfig(**config), truth,
                      on_event=events.append)
    return result, events


def test_signs_are_found_tracked_announced_once_and_scored_without_help(colour_runner, sign_scene, tmp_path):
    folder, gt = sign_scene
    with colour_runner() as runner:
        result, announced = run_scene(runner, folder, load_ground_truth(gt), json=tmp_path / "f.jsonl",
                                      events=tmp_path / "e.jsonl", record=tmp_path / "o.avi")
    assert result.locator == "signs" and "has the 'background' class" in result.locate["why"], "the default rule"
    assert [e.announced_label for e in announced] == ["stop", "no_entry"] and result.events == 2
    assert all(not e.final for e in announced) and "sign #1: stop" in format_event(announced[0])

    logged = [json.loads(x) for x in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert [e["label"] for e in logged] == ["stop", "no_entry"], "one line per confirmed track"
    first = logged[0]
    for key in ("track_id", "confidence", "first_frame", "first_t", "last_frame", "last_t", "announced_frame",
                "announced_t", "best_box"):
        assert key in first, key
    assert first["first_frame"] == 2 and first["last_frame"] == 15 and first["final"]

    lines = [json.loads(x) for x in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert len(lines) == 28 and {"locate", "track"} <= set(lines[0]["ms"])
    both = lines[12]["boxes"]
    assert sorted((b["label"], b["track"]) for b in both) == [("no_entry", 2), ("stop", 1)]
    assert lines[12]["label"] in ("stop", "no_entry") and lines[0]["boxes"] == [] and lines[0]["label"] == "unknown"
    for stage in ("locate", "track"):
        assert result.stages[stage]["p50"] >= 0
    assert int(cv2.VideoCapture(str(tmp_path / "o.avi")).get(cv2.CAP_PROP_FRAME_COUNT)) == 28

    score = result.score
    assert score["kind"] == "signs" and score["frames"]["recall"] >= 0.9 and score["frames"]["precision"] >= 0.9
    assert score["tracks"]["once_right"] == 2 and score["tracks"]["false_events"] == 0
    text = "\n".join(format_report(score) + format_summary(result))
    assert "no help from the truth" in text and "2 signs announced" in text


def test_the_crops_of_a_frame_are_one_batch_and_a_small_profile_is_said_once_and_chunked(colour_runner, tmp_path,
                                                                                          caplog, scene):
    folder = tmp_path / "many"
    folder.mkdir()
    for f in range(3):
        img = scene.textured(480, 200, seed=f)
        for i in range(7):  # seven signs in one frame, one at the left edge
            scene.disc(img, scene.RED, 15 + 65 * i, 100, 30)
        cv2.imwrite(str(folder / f"{f}.png"), img)
    with colour_runner() as wide, colour_runner(batch_range=(1, 4)) as narrow:
        with caplog.at_level(logging.WARNING):
            loop = CameraLoop(narrow, Capture(parse_source(str(folder)), drop=False), LoopConfig(json=tmp_path / "n.jsonl"))
            assert any("at most 4 crops per batch" in n and "--max-boxes" in n for n in loop.notes)
            narrow_result = loop.run()
        run_scene(wide, folder, json=tmp_path / "w.jsonl")
    assert caplog.text.count("at most 4 crops per batch") == 1, "said once, at the start"
    assert set(wide.sizes[2:]) == {7}, "one batch per frame (after two warm-up runs)"
    assert max(narrow.sizes) == 4 and narrow_result.locate["frames_chunked"] == 3
    read = lambda p: [[(b["box"], b["label"]) for b in json.loads(x)["boxes"]] for x in p.read_text().splitlines()]  # noqa: E731
    assert read(tmp_path / "n.jsonl") == read(tmp_path / "w.jsonl"), "chunks give the same answers"
    assert all(len(boxes) == 7 for boxes in read(tmp_path / "w.jsonl")), "the sign at the frame's edge too"


def test_a_model_without_the_background_class_runs_with_a_warning(colour_runner, sign_scene, caplog):
    folder, _ = sign_scene
    with colour_runner(labels=("stop", "no_entry")) as runner, caplog.at_level(logging.WARNING):
        frame_result, _ = run_scene(runner, folder)
        assert frame_result.locator == "frame" and "no 'background' class" not in caplog.text, "default: today's"
        result, announced = run_scene(runner, folder, locate="signs")
    assert "has no 'background' class" in caplog.text and "false alarms cannot be rejected" in caplog.text
    assert result.frames == 28 and result.locator == "signs" and announced


def test_hundreds_of_red_blobs_are_capped_and_said_once(colour_runner, tmp_path, caplog, scene):
    folder = tmp_path / "blobs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for f in range(3):
        img = scene.textured(1280, 720, seed=f)
        for _ in range(300):
            scene.disc(img, scene.RED, rng.uniform(20, 1260), rng.uniform(20, 700), rng.uniform(22, 30))
        cv2.imwrite(str(folder / f"{f}.png"), img)
    with colour_runner() as runner, caplog.at_level(logging.WARNING):
        result, _ = run_scene(runner, folder, locate_options={"max_boxes": "5"})
    assert caplog.text.count("kept the best 5") == 1 and result.locate["frames_capped"] == 3
    assert result.locate["boxes_per_frame"] == 5.0 and "capped at --max-boxes on 3 frames" in "\n".join(format_summary(result))


def test_empty_and_one_colour_frames_do_not_stop_the_loop_and_outputs_are_complete(colour_runner, scripted_reader,
                                                                                    tmp_path):
    class Odd(scripted_reader):
        def read(self):
            image = super().read()
            if image is None:
                return None
            return [np.zeros((0, 0, 3), np.uint8), np.full((90, 160, 3), (40, 30, 200), np.uint8),
                    np.zeros((90, 160, 3), np.uint8)][(self.i - 1) % 3]

    for locate in ("signs", "frame"):
        cap = Capture(parse_source("0"), drop=False, reconnects=0, opener=lambda s: Odd(6, size=160))
        out = tmp_path / locate
        with colour_runner() as runner:
            result = run_loop(runner, cap, LoopConfig(locate=locate, json=out.with_suffix(".jsonl"), overlay=True,
                                                      record=out.with_suffix(".avi"), events=out.with_suffix(".ev.jsonl")))
        lines = [json.loads(x) for x in out.with_suffix(".jsonl").read_text().splitlines()]
        assert result.frames == 6 and len(lines) == 6 and lines[0]["boxes"] == [] and lines[0]["label"] == "unknown"
        assert out.with_suffix(".ev.jsonl").is_file() and out.with_suffix(".avi").is_file()
        if locate == "signs":
            assert all(x["boxes"] == [] for x in lines), "a frame of one colour has no sign"
        assert int(cv2.VideoCapture(str(out.with_suffix(".avi"))).get(cv2.CAP_PROP_FRAME_COUNT)) == 4


def test_frame_locator_options_and_smoothing_are_todays_and_box_options_belong_to_box_locators(colour_runner,
                                                                                              sign_scene):
    folder, gt = sign_scene
    with colour_runner() as runner:
        with pytest.raises(EdgetlError, match=r"takes no option max_boxes \(--max-boxes, an option of signs\)"):
            CameraLoop(runner, Capture(parse_source(str(folder))), LoopConfig(locate="frame",
                                                                              locate_options={"max_boxes": "4"}))
        with pytest.raises(EdgetlError, match="--roi-from-truth crops each frame to its ground-truth box"):
            CameraLoop(runner, Capture(parse_source(str(folder))), LoopConfig(roi_from_truth=True, locate="signs"),
                       load_ground_truth(gt))
        loop = CameraLoop(runner, Capture(parse_source(str(folder))), LoopConfig(roi=(0, 0, 160, 90)))
        assert loop.locator_name == "frame" and "--roi" in loop.describe() and "smoothing" in loop.describe()
        loop.capture.close()


def test_overlay_draws_each_box_with_its_label_and_track_id():
    img = np.zeros((360, 640, 3), np.uint8)
    draw_overlay(img, "stop", 0.9, 30.0, {"infer": 1.0}, boxes=[((300, 200, 340, 240), "stop", 7, True)])
    assert (img[200, 300:340] == GREEN).all() and (img[239, 300:340] == GREEN).all(), "the box, in green once confirmed"
    caption = img[180:199, 300:360].astype(int)
    greenish = (caption[..., 1] > 120) & (caption[..., 1] > caption[..., 0] + 60) & (caption[..., 1] > caption[..., 2] + 60)
    assert greenish.sum() > 20, "its caption above it"
    blank = np.zeros_like(img)
    draw_overlay(blank, "stop", 0.9, 30.0, {"infer": 1.0}, boxes=[((300, 200, 340, 240), "stop", 8, True)])
    assert not np.array_equal(blank[180:199, 300:360], caption), "the caption names the track"
    assert draw_overlay(np.zeros((0, 0, 3), np.uint8), "x", 0.5, None, {}).size == 0
