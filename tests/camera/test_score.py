"""The rates say what a user would count by hand (reading ground truth: tests/data/test_groundtruth.py)."""

from __future__ import annotations

import json

from edgetl.camera.score import Scorer, format_report
from edgetl.camera.smoothing import UNKNOWN
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

