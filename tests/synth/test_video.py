"""The drive-by video: a real mp4 with per-frame ground truth of every sign in view, which the camera
loop can score against."""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest

from edgetl.data.groundtruth import load_ground_truth
from edgetl.errors import DataError
from edgetl.proposals import SignProposer, box_iou
from edgetl.synth.video import (GLARE_LOST, MIN_INSIDE, MIN_LABEL_PX, NIGHT_FULL, VideoConfig, generate_video,
                                plan_passes, render_frames)

CFG = VideoConfig(seconds=16, fps=10, width=640, height=360, seed=1, classes=("stop", "no_entry"))
N = 160


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    out = tmp_path_factory.mktemp("vid") / "drive.mp4"
    generate_video(out, CFG)
    return out


@pytest.fixture(scope="module")
def gt(drive):
    return json.loads(drive.with_name("drive.gt.json").read_text())


@pytest.fixture(scope="module")
def frames(drive):
    cap = cv2.VideoCapture(str(drive))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    return out


def _in(segments, kind, frame) -> bool:
    return any(s["kind"] == kind and s["start"] <= frame < s["end"] for s in segments)


def test_video_and_ground_truth_agree(gt, frames):
    assert {"video", "fps", "width", "height", "num_frames", "classes", "seed", "generator_version", "synthetic",
            "format", "recognisable_rule", "segments", "frames"} == set(gt)
    assert gt["video"] == "drive.mp4" and gt["synthetic"] is True and gt["fps"] == 10 and gt["format"] == 2
    assert len(frames) == gt["num_frames"] == N == len(gt["frames"])
    assert frames[0].shape == (360, 640, 3)
    assert [f["frame"] for f in gt["frames"]] == list(range(N))
    assert any(not f["signs"] for f in gt["frames"]) and any(f["signs"] for f in gt["frames"])  # gaps and signs
    red = 0
    for f in gt["frames"]:
        for s in f["signs"]:
            x1, y1, x2, y2 = s["box"]
            assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 360 and s["label"] in CFG.classes
            if not s["recognisable"]:
                continue
            assert min(x2 - x1, y2 - y1) >= MIN_LABEL_PX
            crop = frames[f["frame"]][y1:y2, x1:x2].astype(np.float32)
            c = crop[crop.shape[0] // 4: -crop.shape[0] // 4, crop.shape[1] // 4: -crop.shape[1] // 4]
            b, g, r = c.reshape(-1, 3).mean(0)
            red += r > g + 25 and r > b + 25
    recognisable = sum(s["recognisable"] for f in gt["frames"] for s in f["signs"])
    assert red >= 0.95 * recognisable > 0  # the red sign really is where the box says


def test_two_signs_at_once_on_both_sides_at_different_heights(gt):
    two = [f for f in gt["frames"] if sum(s["recognisable"] for s in f["signs"]) >= 2]
    assert two
    centres = [((s["box"][0] + s["box"][2]) / 2, s["box"][3]) for f in gt["frames"] for s in f["signs"]
               if s["recognisable"]]
    assert any(x < 320 for x, _ in centres) and any(x > 320 for x, _ in centres)
    passes = plan_passes(CFG)
    assert len({p.track for p in passes}) == len(passes)
    sites = {}
    for p in passes:
        sites.setdefault(p.site, []).append(p)
    assert any(len(s) == 2 for s in sites.values())
    assert len({round(p.height, 1) for p in passes}) > 3


def test_recognisable_turns_true_as_a_sign_grows(gt):
    tracks: dict[int, list] = {}
    for f in gt["frames"]:
        for s in f["signs"]:
            tracks.setdefault(s["track"], []).append((f["frame"], s))
    assert len(tracks) == len(plan_passes(CFG))
    turned = 0
    for views in tracks.values():
        frames_in_view = [n for n, _ in views]
        assert frames_in_view == list(range(frames_in_view[0], frames_in_view[-1] + 1))  # in view without a gap
        first = views[0][1]
        assert not first["recognisable"]  # it comes into view far away, too small to recognise
        sides = [min(s["box"][2] - s["box"][0], s["box"][3] - s["box"][1]) for _, s in views]
        whole = [sd for sd, (_, s) in zip(sides, views) if s["box"][0] > 0 and s["box"][1] > 0 and s["box"][2] < 640]
        assert all(b >= a - 1 for a, b in zip(whole, whole[1:])) and whole[-1] > 2 * whole[0]  # it grows (to a pixel)
        flags = [s["recognisable"] for _, s in views]
        turned += any(flags) and flags.index(True) > 0
    assert turned >= 3


def test_night_glare_and_blur_segments(gt, frames):
    segments = gt["segments"]
    assert {s["kind"] for s in segments} == {"night", "glare", "blur"}
    assert all(s["px"] > 0 for s in segments if s["kind"] == "blur")
    mean = [float(f.mean()) for f in frames]
    plain = [m for n, m in enumerate(mean) if not any(s["start"] - 5 <= n < s["end"] + 5 for s in segments
                                                        if s["kind"] != "blur")]
    night = [m for n, m in enumerate(mean) if _in(segments, "night", n) and _in(segments, "night", n - 5)
             and _in(segments, "night", n + 5)]
    glare = [m for n, m in enumerate(mean) if _in(segments, "glare", n) and _in(segments, "glare", n - 5)
             and _in(segments, "glare", n + 5)]
    assert night and glare and np.mean(night) < 0.6 * np.mean(plain) < np.mean(glare)
    for f in gt["frames"]:  # a sign in the dark too far for the headlights is in view, not recognisable
        if _in(segments, "night", f["frame"] - 5) and _in(segments, "night", f["frame"] + 5):
            for s in f["signs"]:
                side = min(s["box"][2] - s["box"][0], s["box"][3] - s["box"][1])
                if side < 0.5 * NIGHT_FULL * 360 and s["box"][0] > 0 and s["box"][2] < 640:
                    assert not s["recognisable"], (f["frame"], s)
    assert 0 < GLARE_LOST < 1 and 0 < MIN_INSIDE <= 1


def test_things_that_are_not_signs_are_in_view(gt, frames):
    proposer = SignProposer()
    away = 0
    for f, img in zip(gt["frames"][::4], frames[::4]):
        located = proposer.locate(img)
        boxes = np.asarray([s["box"] for s in f["signs"]], np.float64).reshape(-1, 4)
        for b in located.boxes:
            away += len(boxes) == 0 or box_iou(b[None], boxes).max() == 0
    assert away >= 5  # the proposer finds red and blue things where no sign is


def test_same_seed_same_frames():
    cfg = VideoConfig(seconds=3, fps=10, width=320, height=180, seed=4)

    def digest():
        h = hashlib.sha256()
        for img, truth in render_frames(cfg):
            h.update(img.tobytes())
            h.update(json.dumps(truth).encode())
        return h.hexdigest()

    assert digest() == digest()


def test_the_ground_truth_reader_takes_what_the_generator_writes(drive, gt):
    truth = load_ground_truth(drive.with_name("drive.gt.json"))
    assert truth.num_frames == N and truth.synthetic and truth.classes == CFG.classes and truth.format == 2
    assert (truth.width, truth.height, truth.fps) == (640, 360, 10)
    assert len(truth.tracks()) == len(plan_passes(CFG))
    labelled = [n for n, label in truth.labels.items() if label]
    assert labelled and all(any(s["recognisable"] for s in gt["frames"][n]["signs"]) for n in labelled)


def test_existing_video_needs_overwrite_and_no_partials_are_left(drive):
    with pytest.raises(DataError, match="--overwrite"):
        generate_video(drive, CFG)
    assert sorted(p.name for p in drive.parent.iterdir()) == ["drive.gt.json", "drive.mp4"]


def test_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="unknown road-sign class 'stopp'"):
        generate_video(tmp_path / "a.mp4", VideoConfig(seconds=1, classes=("stopp",)))
    with pytest.raises(DataError, match=".mp4"):
        generate_video(tmp_path / "a.avi", VideoConfig(seconds=1))
