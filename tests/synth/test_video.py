"""The drive-by video: a real mp4 with per-frame ground truth the camera loop can score against."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgetl.data.groundtruth import load_ground_truth
from edgetl.synth.video import MIN_LABEL_PX, VideoConfig, generate_video
from edgetl.errors import DataError

CFG = VideoConfig(seconds=7, fps=15, width=320, height=240, seed=2, classes=("stop",))


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    out = tmp_path_factory.mktemp("vid") / "drive.mp4"
    generate_video(out, CFG)
    return out


def test_video_and_ground_truth_agree(drive):
    gt = json.loads(drive.with_name("drive.gt.json").read_text())
    assert set(gt) == {"video", "fps", "width", "height", "num_frames", "classes", "seed", "generator_version",
                       "synthetic", "frames"}
    assert gt["video"] == "drive.mp4" and gt["synthetic"] is True and gt["fps"] == 15
    cap = cv2.VideoCapture(str(drive))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    assert len(frames) == gt["num_frames"] == 105 == len(gt["frames"])
    assert frames[0].shape == (240, 320, 3)
    assert [f["frame"] for f in gt["frames"]] == list(range(105))
    labelled = [f for f in gt["frames"] if f["label"]]
    assert labelled and len(labelled) < 105  # signs in view, and gaps without
    for f in gt["frames"]:
        assert (f["label"] is None) == (f["box"] is None)
    for f in labelled:
        x1, y1, x2, y2 = f["box"]
        assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 240
        assert min(x2 - x1, y2 - y1) >= MIN_LABEL_PX
        crop = frames[f["frame"]][y1:y2, x1:x2].astype(np.float32)
        c = crop[crop.shape[0] // 4: -crop.shape[0] // 4, crop.shape[1] // 4: -crop.shape[1] // 4]
        b, g, r = c.reshape(-1, 3).mean(0)
        assert r > g + 40 and r > b + 40, f["frame"]  # the stop sign really is where the box says


def test_signs_grow_as_they_approach(drive):
    gt = load_ground_truth(drive)
    runs, cur = [], []
    for _, box in sorted(gt.boxes.items()):  # contiguous labelled frames: one sign passing
        if box:
            cur.append(box[2] - box[0])
        elif cur:
            runs, cur = runs + [cur], []
    runs += [cur] if cur else []
    assert runs
    for widths in runs:
        assert widths == sorted(widths) and widths[-1] > widths[0]


def test_the_ground_truth_reader_takes_what_the_generator_writes(drive):
    truth = load_ground_truth(drive.with_name("drive.gt.json"))
    assert truth.num_frames == 105 and truth.synthetic and truth.classes == ("stop",)
    assert (truth.width, truth.height, truth.fps) == (320, 240, 15)


def test_existing_video_needs_overwrite_and_no_partials_are_left(drive):
    with pytest.raises(DataError, match="--overwrite"):
        generate_video(drive, CFG)
    assert sorted(p.name for p in drive.parent.iterdir()) == ["drive.gt.json", "drive.mp4"]


def test_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="unknown road-sign class 'stopp'"):
        generate_video(tmp_path / "a.mp4", VideoConfig(seconds=1, classes=("stopp",)))
    with pytest.raises(DataError, match=".mp4"):
        generate_video(tmp_path / "a.avi", VideoConfig(seconds=1))
