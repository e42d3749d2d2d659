"""Score the loop's answers against a video's per-frame ground truth (``edgetl.data.groundtruth``).

A frame with a label has a sign in view: it counts as recognised when the shown label equals it. A
frame without one counts as a false alarm when the shown label is anything but "unknown".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Sequence

from edgetl.camera.smoothing import UNKNOWN
from edgetl.data.groundtruth import GroundTruth, load_ground_truth

__all__ = ["GroundTruth", "Scorer", "format_report", "load_ground_truth"]  # the loader, for `edgetl run` and the demo


class Scorer:
    """Accumulates (frame, shown label) pairs and reports rates a user can compare between runs."""

    def __init__(self, truth: GroundTruth, model_labels: Sequence[str], roi_note: str = "whole frame"):
        self.truth = truth
        self.model_labels = tuple(model_labels)
        self.roi_note = roi_note
        self.confusion: dict[str | None, Counter] = defaultdict(Counter)
        self.without_truth = 0

    def add(self, frame: int, shown: str) -> None:
        if frame not in self.truth.labels:
            self.without_truth += 1
            return
        self.confusion[self.truth.labels[frame]][shown] += 1

    def report(self) -> dict[str, Any]:
        sign = {c: n for c, n in self.confusion.items() if c is not None}
        in_view = sum(sum(n.values()) for n in sign.values())
        recognised = sum(n[c] for c, n in sign.items())
        empty = self.confusion.get(None, Counter())
        no_sign = sum(empty.values())
        alarms = no_sign - empty[UNKNOWN]
        scored = in_view + no_sign
        per_class = {c: {"frames": sum(sign[c].values()), "recognised": sign[c][c],
                         "recall": _rate(sign[c][c], sum(sign[c].values()))}
                     for c in sorted(sign, key=str)}
        missing = [c for c in self.truth.classes if c not in self.model_labels]
        return {
            "ground_truth": str(self.truth.path), "roi": self.roi_note,
            "frames_in_truth": self.truth.num_frames, "frames_scored": scored,
            "frames_not_scored": self.truth.num_frames - scored, "frames_without_truth": self.without_truth,
            "sign_frames": in_view, "recognised": recognised, "recognition_rate": _rate(recognised, in_view),
            "no_sign_frames": no_sign, "false_alarms": alarms, "false_alarm_rate": _rate(alarms, no_sign),
            "per_class": per_class,
            "confusion": {str(c): dict(n.most_common()) for c, n in self.confusion.items()},
            "classes_the_model_lacks": missing,
        }


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def format_report(r: dict[str, Any]) -> list[str]:
    """The score as a few lines of text for the terminal."""
    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{100 * v:.1f}%"

    lines = [f"ground truth {r['ground_truth']} ({r['roi']}): scored {r['frames_scored']} of "
             f"{r['frames_in_truth']} frames",
             f"  sign in view: recognised {r['recognised']}/{r['sign_frames']} = {pct(r['recognition_rate'])}",
             f"  no sign:      false alarms {r['false_alarms']}/{r['no_sign_frames']} = {pct(r['false_alarm_rate'])}"]
    for c, v in r["per_class"].items():
        lines.append(f"  recall {c}: {v['recognised']}/{v['frames']} = {pct(v['recall'])}")
    if r["frames_not_scored"]:
        lines.append(f"  {r['frames_not_scored']} frames were not processed (dropped to keep up, or the run "
                     f"stopped early); use --no-drop to score every frame")
    if r["classes_the_model_lacks"]:
        lines.append(f"  the model has no label for {', '.join(r['classes_the_model_lacks'])}: their recall is 0")
    return lines
