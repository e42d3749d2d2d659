"""Temporal smoothing of per-frame probabilities into a label that does not flicker.

Three steps per frame: combine the last ``window`` frames (a moving average of the probabilities, or
a vote of each frame's thresholded answer), call the result "unknown" when its confidence is under
``threshold``, and show a new answer only once it has won ``hold`` frames in a row (hysteresis).

This is how the frame locator (the whole frame or ``--roi``: one crop per frame) decides what a frame
shows. Box locators (``--locate signs``) do not smooth: each box is judged on its own, and the
tracker's confidence-weighted vote over a track's frames (``track.IouTracker``) takes the smoother's
place, since a box moves and one smoother per position would mix signs. ``ShownRuns`` turns the
smoothed answers into tracks and events, so both kinds feed the same events stage.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edgetl.camera.track import BACKGROUND, Detection, Event, TrackStep, TrackView
from edgetl.errors import EdgetlError

UNKNOWN = "unknown"
METHODS = ("none", "mean", "vote")


@dataclass(frozen=True)
class SmoothingConfig:
    """How frames are combined; ``method`` "none" judges every frame on its own (window 1)."""

    method: str = "mean"
    window: int = 5
    hold: int = 2
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise EdgetlError(f"smoothing {self.method!r} is not one of {', '.join(METHODS)}")
        if self.window < 1 or self.hold < 1:
            raise EdgetlError("smoothing window and hold must be at least 1 frame")
        if not 0.0 <= self.threshold <= 1.0:
            raise EdgetlError(f"threshold {self.threshold} must be between 0 and 1")

    def describe(self) -> str:
        how = "per frame" if self.method == "none" else f"{self.method} over {self.window} frames"
        return f"{how}, hold {self.hold}, threshold {self.threshold:g}"


@dataclass(frozen=True)
class Decision:
    """The answer shown for a frame: ``index`` None means "unknown" (then ``confidence`` is the best score)."""

    index: int | None
    label: str
    confidence: float


class LabelSmoother:
    """Feed one probability vector per frame to ``update``; it returns the label to show."""

    def __init__(self, labels: Sequence[str], config: SmoothingConfig | None = None):
        self.labels = tuple(labels)
        self.config = config or SmoothingConfig()
        window = 1 if self.config.method == "none" else self.config.window
        self._probs: deque[np.ndarray] = deque(maxlen=window)
        self._votes: deque[int | None] = deque(maxlen=window)
        self.shown: int | None = None
        self._pending: int | None = None
        self._pending_count = 0

    def reset(self) -> None:
        """Forget the past (after a gap in the stream, for instance)."""
        self._probs.clear()
        self._votes.clear()
        self.shown, self._pending, self._pending_count = None, None, 0

    def update(self, probs: np.ndarray) -> Decision:
        probs = np.asarray(probs, dtype=np.float32).reshape(-1)
        top = int(np.argmax(probs))
        self._probs.append(probs)
        self._votes.append(top if probs[top] >= self.config.threshold else None)
        mean = np.mean(self._probs, axis=0) if len(self._probs) > 1 else probs
        candidate = self._vote() if self.config.method == "vote" else self._thresholded(mean)
        self._apply_hysteresis(candidate)
        if self.shown is None:
            return Decision(None, UNKNOWN, float(mean.max()))
        return Decision(self.shown, self.labels[self.shown], float(mean[self.shown]))

    def _thresholded(self, scores: np.ndarray) -> int | None:
        best = int(np.argmax(scores))
        return best if scores[best] >= self.config.threshold else None

    def _vote(self) -> int | None:
        counts = Counter(self._votes)
        most = max(counts.values())
        tied = [v for v, c in counts.items() if c == most]
        if len(tied) == 1:
            return tied[0]
        if self.shown in tied:  # a tie keeps what is shown: part of not flickering
            return self.shown
        return next(v for v in reversed(self._votes) if v in tied)

    def _apply_hysteresis(self, candidate: int | None) -> None:
        if candidate == self.shown:
            self._pending, self._pending_count = None, 0
            return
        if candidate == self._pending:
            self._pending_count += 1
        else:
            self._pending, self._pending_count = candidate, 1
        if self._pending_count >= self.config.hold:
            self.shown, self._pending, self._pending_count = candidate, None, 0


class ShownRuns:
    """The frame locator's tracks: each run of frames that shows one label (not "unknown", not the
    background class) is one track, announced on its first frame (the hysteresis has confirmed it
    already) and ended when the shown label changes. It takes the one detection per frame that
    ``LabelSmoother`` decided and returns what ``track.IouTracker`` returns, so the events stage and
    the outputs treat both locator kinds alike."""

    def __init__(self, background: str = BACKGROUND):
        self.background = background
        self.events: list[Event] = []
        self.next_id = 1
        self._run: dict | None = None

    def update(self, frame: int, t: float, detections: Sequence[Detection]) -> TrackStep:
        d = detections[0] if detections else None
        sign = d is not None and d.label not in (UNKNOWN, self.background)
        ended: tuple[Event, ...] = ()
        run = self._run
        if run is not None and (not sign or d.label != run["label"]):
            ended = (self._event(final=True),)
            self.events += ended
            self._run = run = None
        if not sign:
            return TrackStep(tuple(None for _ in detections), (), (), ended)
        announced: tuple[Event, ...] = ()
        if run is None:
            run = self._run = {"id": self.next_id, "label": d.label, "first": (frame, t), "sum": 0.0, "frames": 0,
                               "best": (-1.0, frame, t), "box": d.box}
            self.next_id += 1
        run["sum"] += d.confidence
        run["frames"] += 1
        run["last"], run["box"] = (frame, t), d.box
        if round(d.confidence, 2) > run["best"][0]:
            run["best"] = (round(d.confidence, 2), frame, t)
        if run["frames"] == 1:
            announced = (self._event(final=False),)
        view = TrackView(run["id"], d.box, d.label, run["sum"] / run["frames"], True)
        return TrackStep((run["id"],), (view,), announced, ended)

    def _event(self, final: bool) -> Event:
        r = self._run
        assert r is not None
        (f0, t0), (f1, t1), (_, fb, tb) = r["first"], r["last"], r["best"]
        return Event(track_id=r["id"], label=r["label"], confidence=r["sum"] / r["frames"], first_frame=f0,
                     first_t=t0, last_frame=f1, last_t=t1, announced_frame=f0, announced_t=t0,
                     announced_label=r["label"], best_frame=fb, best_t=tb, best_box=tuple(r["box"]),
                     frames=r["frames"], final=final)

    def finish(self) -> list[Event]:
        """End the run in progress (the stream is over); its final event."""
        if self._run is None:
            return []
        ended = [self._event(final=True)]
        self._run = None
        self.events += ended
        return ended
