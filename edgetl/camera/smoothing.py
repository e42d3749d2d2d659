"""Temporal smoothing of per-frame probabilities into a label that does not flicker.

Three steps per frame: combine the last ``window`` frames (a moving average of the probabilities, or
a vote of each frame's thresholded answer), call the result "unknown" when its confidence is under
``threshold``, and show a new answer only once it has won ``hold`` frames in a row (hysteresis).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Sequence

import numpy as np

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
