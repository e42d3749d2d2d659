"""Score the loop against a video's per-frame ground truth (``edgetl.data.groundtruth``, its one reader).

Two scores, by the kind of locator:

``Scorer``, the frame score (the ``frame`` locator: one answer per frame, the whole frame, ``--roi``,
or the ground-truth box with ``--roi-from-truth``, which scores the classifier alone). A frame with a
recognisable sign has a label: it counts as recognised when the shown label equals it. A frame
without one counts as a false alarm when the shown label is anything but "unknown".

``SignScorer``, the detection and track score (box locators: the loop finds the signs itself, with no
help from the truth). Per frame, the boxes the classifier calls a sign are matched one to one with
the signs in view at IoU >= 0.5, best overlaps first: a recognisable sign matched is a hit (detection
recall = hits / recognisable signs), a box matched to nothing is a false alarm (precision = hits /
(boxes - boxes on signs not recognisable)); a box on a sign in view that is not recognisable is
neither. Label accuracy is the share of hits with the sign's label. Per track, each tracker track
belongs to the sign its boxes overlap (IoU >= 0.3) in the most frames, if that is at least half of
its frames; then, per sign that was recognisable in a processed frame, its events (confirmed tracks)
are counted: one with the right announced label ("once, right"), none ("missed"), two or more
("twice"), one with another label ("wrong"). An event that belongs to no sign is a false event
(reported per minute of video); one that belongs to a sign never recognisable is neither. The delay
runs from a sign's first recognisable frame to its first announcement, in frames and in video
milliseconds (frames / fps).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Iterable, Sequence

import numpy as np

from edgetl.camera.smoothing import UNKNOWN
from edgetl.camera.track import Detection, Event, greedy_pairs
from edgetl.data.groundtruth import GroundTruth, SignTruth, load_ground_truth
from edgetl.errors import EdgetlError
from edgetl.proposals import box_iou

__all__ = ["GroundTruth", "Scorer", "SignScorer", "check_truth_fits", "format_report",
           "load_ground_truth"]  # the loader, for `edgetl run` and the demo

MATCH_IOU = 0.5  # a box matches a sign in view
TRACK_IOU = 0.3  # a track's box lies on a sign (a track's boxes are scored frame by frame)
TRACK_SHARE = 0.5  # ...in at least this share of its frames for the track to belong to the sign


def check_truth_fits(truth: GroundTruth, size: Sequence[int] | None, num_frames: int | None, source: str) -> None:
    """Refuse, in one line, ground truth made for another video (another frame size or frame count)."""
    problems = []
    if size and truth.width and truth.height and (truth.width, truth.height) != tuple(size):
        problems.append(f"it is for {truth.width}x{truth.height} frames, the source gives {size[0]}x{size[1]}")
    if num_frames and truth.num_frames and num_frames != truth.num_frames:
        problems.append(f"it has {truth.num_frames} frames, the source {num_frames}")
    if problems:
        raise EdgetlError(f"{truth.path.name} is the ground truth of another video: {'; '.join(problems)} "
                          f"({source}): use the video it was made for")


class Scorer:
    """Accumulates (frame, shown label) pairs and reports rates a user can compare between runs."""

    kind = "frame"

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
            "kind": self.kind, "ground_truth": str(self.truth.path), "roi": self.roi_note,
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


class SignScorer:
    """Accumulates each processed frame's boxes and their tracks; ``report(events)`` scores the run."""

    kind = "signs"

    def __init__(self, truth: GroundTruth, model_labels: Sequence[str], note: str, fps: float | None = None):
        self.truth, self.model_labels, self.note = truth, tuple(model_labels), note
        self.fps = float(truth.fps or fps or 30.0)
        self.frames: list[int] = []
        self.without_truth = 0
        self.counts = Counter()  # signs, hits, located, right_label, boxes, ignored
        self.confusion: dict[str, Counter] = defaultdict(Counter)
        self.track_votes: dict[int, Counter] = defaultdict(Counter)  # tracker id -> truth track -> frames
        self.track_frames: Counter = Counter()

    def add(self, frame: int, located: np.ndarray, signs: Sequence[tuple[Detection, int | None]]) -> None:
        """One processed frame: every located box, and the boxes called a sign with their track ids."""
        truth = self.truth.signs.get(frame)
        if truth is None:
            self.without_truth += 1
            return
        self.frames.append(frame)
        placed = [s for s in truth if s.box is not None]
        tboxes = np.asarray([s.box for s in placed], np.float64).reshape(-1, 4)
        recognisable = [s.recognisable for s in placed]
        c = self.counts
        c["signs"] += sum(recognisable)
        if len(located) and len(placed):
            hit = (box_iou(np.asarray(located, np.float64), tboxes) >= MATCH_IOU).any(axis=0)
            c["located"] += int(sum(h and r for h, r in zip(hit, recognisable)))
        dboxes = np.asarray([d.box for d, _ in signs], np.float64).reshape(-1, 4)
        iou = box_iou(dboxes, tboxes) if len(placed) and len(signs) else np.zeros((len(signs), len(placed)))
        matched = greedy_pairs(iou, iou >= MATCH_IOU)
        c["boxes"] += len(signs)
        for di, ti in matched:
            if not recognisable[ti]:
                c["ignored"] += 1
                continue
            label = signs[di][0].label
            c["hits"] += 1
            c["right_label"] += label == placed[ti].label
            self.confusion[placed[ti].label][label] += 1
        for di, (_, tid) in enumerate(signs):
            if tid is None:
                continue
            self.track_frames[tid] += 1
            if len(placed) and iou[di].max() >= TRACK_IOU:
                self.track_votes[tid][placed[int(iou[di].argmax())].track] += 1

    def _owner(self, track_id: int) -> int | None:
        votes = self.track_votes.get(track_id)
        if not votes:
            return None
        truth_track, n = votes.most_common(1)[0]
        return truth_track if n >= TRACK_SHARE * max(1, self.track_frames[track_id]) else None

    def _signs(self) -> dict[int, tuple[int, SignTruth]]:
        """Each truth track recognisable in a processed frame: its first such frame and that truth."""
        seen = set(self.frames)
        out: dict[int, tuple[int, SignTruth]] = {}
        for track, views in self.truth.tracks().items():
            first = next(((n, s) for n, s in views if s.recognisable and s.box is not None and n in seen), None)
            if first is not None:
                out[track] = first
        return out

    def report(self, events: Iterable[Event]) -> dict[str, Any]:
        c = self.counts
        frames = {"signs": c["signs"], "hits": c["hits"], "recall": _rate(c["hits"], c["signs"]),
                  "located_recall": _rate(c["located"], c["signs"]), "boxes": c["boxes"],
                  "on_signs_not_recognisable": c["ignored"], "false_alarms": c["boxes"] - c["hits"] - c["ignored"],
                  "precision": _rate(c["hits"], c["boxes"] - c["ignored"]),
                  "label_accuracy": _rate(c["right_label"], c["hits"]),
                  "confusion": {k: dict(v.most_common()) for k, v in sorted(self.confusion.items())}}
        return {"kind": self.kind, "ground_truth": str(self.truth.path), "locator": self.note,
                "format": self.truth.format, "frames_in_truth": self.truth.num_frames,
                "frames_scored": len(self.frames), "frames_not_scored": self.truth.num_frames - len(self.frames),
                "frames_without_truth": self.without_truth, "fps": self.fps, "frames": frames,
                "tracks": self._track_report(list(events)),
                "classes_the_model_lacks": [k for k in self.truth.classes if k not in self.model_labels]}

    def _track_report(self, events: list[Event]) -> dict[str, Any]:
        signs = self._signs()
        by_sign: dict[int, list[Event]] = {t: [] for t in signs}
        false: list[dict[str, Any]] = []
        for e in sorted(events, key=lambda e: e.announced_frame):
            owner = self._owner(e.track_id)
            if owner in by_sign:
                by_sign[owner].append(e)
            elif owner is None:  # which ones, so a user can look at the frames
                false.append({"track_id": e.track_id, "label": e.announced_label, "announced_frame": e.announced_frame,
                              "best_frame": e.best_frame, "best_box": list(e.best_box)})
        rows, delays = [], []
        for track, (first, truth) in sorted(signs.items(), key=lambda kv: kv[1][0]):
            evs = by_sign[track]
            outcome = ("missed" if not evs else "twice" if len(evs) > 1 else
                       "once_right" if evs[0].announced_label == truth.label else "wrong")
            delay = evs[0].announced_frame - first if evs else None
            if delay is not None:
                delays.append(delay)
            rows.append({"track": track, "label": truth.label, "recognisable_from": first, "outcome": outcome,
                         "announced": [[e.announced_frame, e.announced_label] for e in evs], "delay_frames": delay})
        n = Counter(r["outcome"] for r in rows)
        minutes = (max(self.frames) - min(self.frames) + 1) / self.fps / 60 if self.frames else 0.0
        return {"signs": len(rows), "once_right": n["once_right"], "missed": n["missed"], "twice": n["twice"],
                "wrong": n["wrong"], "once_right_rate": _rate(n["once_right"], len(rows)), "events": len(events),
                "false_events": len(false), "minutes": round(minutes, 4),
                "false_events_per_min": round(len(false) / minutes, 3) if minutes else None,
                "delay_frames": _spread(delays), "delay_ms": _spread([1e3 * d / self.fps for d in delays]),
                "per_sign": rows, "false": false}


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    a = np.asarray(values, np.float64)
    return {k: round(float(v), 1) for k, v in (("p50", np.median(a)), ("p90", np.percentile(a, 90)),
                                                ("min", a.min()), ("max", a.max()))}


def percent(v: float | None) -> str:
    """A rate as the reports print it: one decimal, or n/a."""
    return "n/a" if v is None else f"{100 * v:.1f}%"


def announced_when(frames: float, ms: float) -> str:
    """'N frames (M ms) after' or '... before': when a sign was announced against when it became
    recognisable (a sign can be named before the truth counts it as large enough)."""
    return f"{abs(frames):g} frames ({abs(ms):.0f} ms) {'after' if frames >= 0 else 'before'}"


def format_report(r: dict[str, Any]) -> list[str]:
    """The score as a few lines of text for the terminal."""
    if r.get("kind") == SignScorer.kind:
        return format_sign_report(r)
    lines = [f"ground truth {r['ground_truth']} ({r['roi']}): scored {r['frames_scored']} of "
             f"{r['frames_in_truth']} frames",
             f"  sign in view: recognised {r['recognised']}/{r['sign_frames']} = {percent(r['recognition_rate'])}",
             f"  no sign:      false alarms {r['false_alarms']}/{r['no_sign_frames']} = {percent(r['false_alarm_rate'])}"]
    for c, v in r["per_class"].items():
        lines.append(f"  recall {c}: {v['recognised']}/{v['frames']} = {percent(v['recall'])}")
    return lines + _caveats(r, ": their recall is 0")


def format_sign_report(r: dict[str, Any]) -> list[str]:
    """The detection and track score as a few lines of text."""
    f, t = r["frames"], r["tracks"]
    lines = [f"ground truth {r['ground_truth']} (located by {r['locator']}, no help from the truth): scored "
             f"{r['frames_scored']} of {r['frames_in_truth']} frames",
             f"  frames: detection recall {percent(f['recall'])} ({f['hits']}/{f['signs']} recognisable signs boxed "
             f"at IoU >= {MATCH_IOU}; the locator alone {percent(f['located_recall'])}), precision {percent(f['precision'])}"
             f" ({f['false_alarms']} false boxes), label accuracy {percent(f['label_accuracy'])} of matched boxes",
             f"  tracks: {t['signs']} signs: announced once with the right label {t['once_right']} "
             f"({percent(t['once_right_rate'])}), missed {t['missed']}, twice {t['twice']}, wrong label {t['wrong']}; "
             f"false events {t['false_events']} ({_per_min(t['false_events_per_min'])} per minute)"]
    if t["delay_frames"]:
        d, ms = t["delay_frames"], t["delay_ms"]
        lines.append(f"  announced p50 {announced_when(d['p50'], ms['p50'])}, p90 "
                     f"{announced_when(d['p90'], ms['p90'])} a sign became recognisable")
    return lines + _caveats(r, "")


def _caveats(r: dict[str, Any], lacking_note: str) -> list[str]:
    """The lines both reports end with: frames not scored, and labels the model lacks."""
    lines = []
    if r["frames_not_scored"]:
        lines.append(f"  {r['frames_not_scored']} frames were not processed (dropped to keep up, or the run stopped "
                     f"early); use --no-drop to score every frame")
    if r["classes_the_model_lacks"]:
        lines.append(f"  the model has no label for {', '.join(r['classes_the_model_lacks'])}{lacking_note}")
    return lines


def _per_min(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"
