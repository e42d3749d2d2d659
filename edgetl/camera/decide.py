"""The postprocess stage: a frame's logits -> one detection per box, and what the frame shows.

Two ways, by the kind of locator:

- ``SmoothedAnswer`` (the ``frame`` locator: one crop per frame, the whole frame or ``--roi``): the
  crop's probabilities are smoothed over frames (``smoothing.LabelSmoother``: moving average or vote,
  threshold, hysteresis) into the label the frame shows, exactly as the loop always has; its tracks
  are the runs of a shown label (``smoothing.ShownRuns``).
- ``BoxAnswers`` (box locators: ``signs``, ``windows``): each box gets its own label, and a label under
  the threshold or the background label means "no sign here". Nothing is smoothed per box: the
  tracker's confidence-weighted vote over a track's frames takes that place (``track.IouTracker``).
  A frame shows the most confident sign of a confirmed track in view, else "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edgetl.camera.smoothing import UNKNOWN, LabelSmoother, ShownRuns, SmoothingConfig
from edgetl.camera.track import Detection, IouTracker, TrackConfig, TrackStep
from edgetl.proposals import Located
from edgetl.runtime import softmax

TopK = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Decided:
    """A frame after postprocessing: a detection per located box, each box's probabilities (the top-k
    is taken only of the box the frame shows), and the answer the frame shows so far (a box locator
    settles it after tracking, ``show``)."""

    detections: tuple[Detection, ...]
    probs: np.ndarray | None = None
    label: str = UNKNOWN
    confidence: float = 0.0


@dataclass(frozen=True)
class Shown:
    """What a frame shows: a label, its confidence, its top-k, and the boxes worth reporting with the
    track each belongs to (None: not tracked)."""

    label: str
    confidence: float
    topk: TopK
    boxes: tuple[tuple[Detection, int | None], ...]


def _topk(probs: np.ndarray, labels: Sequence[str], k: int) -> TopK:
    order = np.argsort(-probs)[: max(1, min(k, len(labels)))]
    return tuple((labels[j], float(probs[j])) for j in order)


class SmoothedAnswer:
    """The frame locator's postprocessing: the one crop's probabilities, smoothed."""

    def __init__(self, labels: Sequence[str], smoothing: SmoothingConfig, background: str, topk: int):
        self.labels, self.k = tuple(labels), topk
        self.smoother = LabelSmoother(self.labels, smoothing)
        self.tracker = ShownRuns(background)

    def decide(self, located: Located, logits: np.ndarray) -> Decided:
        if len(logits) == 0:  # a frame with no pixels: nothing to smooth
            return Decided((), None, UNKNOWN, 0.0)
        probs = softmax(logits)[0]
        d = self.smoother.update(probs)
        box = tuple(int(v) for v in located.boxes[0])
        return Decided((Detection(box, d.label, d.confidence),), probs[None], d.label, d.confidence)

    def show(self, decided: Decided, step: TrackStep) -> Shown:
        topk = _topk(decided.probs[0], self.labels, self.k) if decided.probs is not None else ()
        boxes = tuple(zip(decided.detections, step.track_ids))
        return Shown(decided.label, decided.confidence, topk, boxes)


class BoxAnswers:
    """A box locator's postprocessing: a label per box; the IoU tracker votes across frames."""

    def __init__(self, labels: Sequence[str], tracking: TrackConfig, topk: int):
        self.labels, self.k = tuple(labels), topk
        self.tracker = IouTracker(tracking)

    def decide(self, located: Located, logits: np.ndarray) -> Decided:
        if len(logits) == 0:
            return Decided(())
        probs = softmax(logits)
        top = probs.argmax(axis=1)
        dets = tuple(Detection(tuple(int(v) for v in b), self.labels[j], float(p[j]))
                     for b, j, p in zip(located.boxes, top, probs))
        return Decided(dets, probs)

    def show(self, decided: Decided, step: TrackStep) -> Shown:
        """The sign boxes with their tracks; the frame shows the most confident one in a confirmed track."""
        confirmed = {v.track_id for v in step.tracks if v.confirmed}
        boxes, best = [], None
        for i, (d, tid) in enumerate(zip(decided.detections, step.track_ids)):
            if not self.tracker.is_sign(d):
                continue
            boxes.append((d, tid))
            if tid in confirmed and (best is None or d.confidence > decided.detections[best].confidence):
                best = i
        if best is None:
            return Shown(UNKNOWN, 0.0, (), tuple(boxes))
        d = decided.detections[best]
        return Shown(d.label, d.confidence, _topk(decided.probs[best], self.labels, self.k), tuple(boxes))
