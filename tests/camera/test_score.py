"""The rates say what a user would count by hand (reading ground truth: tests/data/test_groundtruth.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgetl.camera.score import Scorer, SignScorer, format_report
from edgetl.camera.smoothing import UNKNOWN
from edgetl.camera.track import Detection, Event
from edgetl.data.groundtruth import load_ground_truth


def write_gt(path, labels):
    frames = [{"frame": i, "label": lab, "box": None if lab is None else [10, 10, 50, 50]} for i, lab in enumerate(labels)]
    path.write_text(json.dumps({"video": "drive.mp4", "fps": 30, "width": 1280, "height": 720,
                                "num_frames": len(labels), "classes": ["stop", "yield", "speed_50"],
                                "synthetic": True, "frames": frames}))
    return path


def test_rates_count_frames_with_and_without_a_sign(tmp_path):
    truth = load_ground_truth(write_gt(tmp_path / "drive.gt.json", [None, None, "stop", "stop", "stop", "yield", None]))
    assert truth.boxes[2] == (10, 10, 50, 50) and truth.boxes[0] is None and (truth.width, truth.height) == (1280, 720)
    s = Scorer(truth, ["stop", "yield"])
    for frame, shown in [(0, UNKNOWN), (1, "stop"), (2, "stop"), (3, UNKNOWN), (5, "yield"), (6, UNKNOWN), (99, "stop")]:
        s.add(frame, shown)  # frame 4 was dropped; 99 has no truth
    r = s.report()
    assert (r["sign_frames"], r["recognised"], r["recognition_rate"]) == (3, 2, round(2 / 3, 4))
    assert (r["no_sign_frames"], r["false_alarms"], r["false_alarm_rate"]) == (3, 1, round(1 / 3, 4))
    assert r["per_class"]["stop"] == {"frames": 2, "recognised": 1, "recall": 0.5}
    assert r["frames_not_scored"] == 1 and r["frames_without_truth"] == 1
    assert r["classes_the_model_lacks"] == ["speed_50"]
    text = "\n".join(format_report(r))
    assert "2/3 = 66.7%" in text and "1/3 = 33.3%" in text and "--no-drop" in text and "speed_50" in text



# --- the detection and track score of box locators ------------------------------------------------------

def write_gt2(path, frames, fps=10.0):
    """Ground truth format 2 from {frame: [(box, label, track, recognisable), ...]}."""
    record = {"video": "drive.mp4", "fps": fps, "width": 640, "height": 360, "num_frames": len(frames),
              "classes": ["stop", "yield", "speed_50"], "synthetic": True, "format": 2,
              "frames": [{"frame": n, "signs": [{"box": list(b), "label": lab, "track": t, "recognisable": r}
                                                for b, lab, t, r in signs]} for n, signs in enumerate(frames)]}
    path.write_text(json.dumps(record))
    return load_ground_truth(path)


STOP, YIELD = (100, 100, 140, 140), (400, 100, 450, 150)


def det(box, label, track=None, conf=0.9):
    return (Detection(tuple(box), label, conf), track)


def test_frame_score_counts_hits_false_boxes_and_ignores_signs_not_yet_recognisable(tmp_path):
    truth = write_gt2(tmp_path / "d.gt.json", [
        [(STOP, "stop", 1, False), (YIELD, "yield", 2, True)],  # the stop sign is still too small
        [(STOP, "stop", 1, True), (YIELD, "yield", 2, True)],
        [],
    ])
    s = SignScorer(truth, ["stop", "yield", "background"], "signs")
    far = (500, 300, 520, 320)
    s.add(0, np.array([STOP, YIELD, far]), [det(STOP, "stop"), det(YIELD, "yield")])  # a box on the small sign: neither
    near = (102, 101, 141, 139)
    s.add(1, np.array([near, far]), [det(near, "yield"), det(far, "stop")])  # a wrong label; a false box
    s.add(2, np.array([far]), [det(far, "stop")])  # a false box in a frame without signs
    f = s.report([])["frames"]
    assert (f["signs"], f["hits"], f["recall"]) == (3, 2, round(2 / 3, 4))
    assert (f["boxes"], f["on_signs_not_recognisable"], f["false_alarms"]) == (5, 1, 2)
    assert f["precision"] == 0.5 and f["label_accuracy"] == 0.5
    assert f["located_recall"] == round(2 / 3, 4), "the locator missed YIELD in frame 1"
    assert f["confusion"] == {"stop": {"yield": 1}, "yield": {"yield": 1}}


def track_truth(tmp_path, n=40, fps=10.0):
    """Three signs: stop (frames 0-9, recognisable from 3), yield (10-19, from 10), speed_50 (25-34, from 27)."""
    frames = []
    for f in range(n):
        signs = []
        if f < 10:
            signs.append((STOP, "stop", 1, f >= 3))
        if 10 <= f < 20:
            signs.append((YIELD, "yield", 2, True))
        if 25 <= f < 35:
            signs.append(((200, 50, 240, 90), "speed_50", 3, f >= 27))
        frames.append(signs)
    return write_gt2(tmp_path / "t.gt.json", frames, fps)


def event(track, label, announced, first=0, last=None):
    return Event(track, label, 0.9, first, first / 10, last or announced, (last or announced) / 10, announced,
                 announced / 10, label, announced, announced / 10, (0, 0, 1, 1), 5, True)


def test_track_score_counts_each_sign_once_right_missed_twice_or_wrong_and_false_events(tmp_path):
    truth = track_truth(tmp_path)
    s = SignScorer(truth, ["stop", "yield", "speed_50", "background"], "signs")
    for f in range(40):
        dets = []
        if f < 10:
            dets.append(det(STOP, "stop", 11))  # one track on the stop sign
        if 10 <= f < 15:
            dets.append(det(YIELD, "yield", 12))  # the yield sign: two tracks, one after the other
        if 15 <= f < 20:
            dets.append(det(YIELD, "yield", 13))
        if 30 <= f < 40:
            dets.append(det((600, 300, 630, 330), "stop", 14))  # a track on nothing
        s.add(f, np.array([d.box for d, _ in dets]).reshape(-1, 4), dets)
    r = s.report([event(11, "stop", 5), event(12, "yield", 13), event(13, "yield", 17), event(14, "stop", 33)])
    t = r["tracks"]
    assert (t["signs"], t["once_right"], t["missed"], t["twice"], t["wrong"]) == (3, 1, 1, 1, 0)
    assert t["false_events"] == 1 and t["minutes"] == pytest.approx(40 / 10 / 60, abs=1e-4)
    assert t["false_events_per_min"] == pytest.approx(15.0, abs=0.01)
    assert [(e["track_id"], e["label"], e["announced_frame"]) for e in t["false"]] == [(14, "stop", 33)]
    by = {row["label"]: row for row in t["per_sign"]}
    assert by["stop"]["delay_frames"] == 2 and by["stop"]["recognisable_from"] == 3
    assert by["speed_50"]["outcome"] == "missed" and by["yield"]["outcome"] == "twice"
    assert t["delay_frames"]["p50"] == 2.5 and t["delay_ms"]["p50"] == pytest.approx(250.0)


def test_an_announced_label_other_than_the_signs_is_wrong_and_a_track_mostly_elsewhere_is_false(tmp_path):
    truth = track_truth(tmp_path)
    s = SignScorer(truth, ["stop", "yield", "speed_50"], "signs")
    for f in range(10):
        near = f < 3  # a track that touches the stop sign for 3 of its 10 frames only
        box = STOP if near else (300, 300, 330, 330)
        s.add(f, np.array([STOP]), [det(STOP, "yield", 21), det(box, "stop", 22)])
    r = s.report([event(21, "yield", 4), event(22, "stop", 6)])["tracks"]
    stop = next(row for row in r["per_sign"] if row["label"] == "stop")
    assert stop["outcome"] == "wrong" and r["false_events"] == 1
    assert r["signs"] == 1, "only signs recognisable in a processed frame are counted"


def test_format_1_ground_truth_still_scores_one_track_per_run_of_a_label(tmp_path):
    truth = load_ground_truth(write_gt(tmp_path / "old.gt.json", [None, "stop", "stop", "stop", None, "yield", "yield"]))
    s = SignScorer(truth, ["stop", "yield"], "signs")
    for f in range(7):
        lab = truth.labels[f]
        dets = [det((10, 10, 50, 50), lab, 1 if lab == "stop" else 2)] if lab else []
        s.add(f, np.array([d.box for d, _ in dets]).reshape(-1, 4), dets)
    r = s.report([event(1, "stop", 2), event(2, "yield", 6)])
    assert r["tracks"]["once_right"] == 2 and r["frames"]["recall"] == 1.0 and r["format"] == 1
    text = "\n".join(format_report(r))
    assert "announced once with the right label 2 (100.0%)" in text and "recall 100.0%" in text
