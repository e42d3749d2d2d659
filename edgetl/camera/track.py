"""Follow classified boxes across frames; each sign seen long enough becomes one event.

An IoU tracker: each frame, every live track predicts its box from its last few boxes (``predict_box``:
a sign the car approaches grows as the inverse of its distance and slides outwards along a line as it
grows, so a sign missed for a second is still found where it has got to), sign detections are matched
greedily by IoU with the prediction or the last box seen, whichever overlaps more (then, for what is
left, by centre), and what is left starts new tracks. A detection labelled ``background`` (or a sign label
under ``min_confidence``) means "no sign here": it neither moves, feeds nor starts a track, so a
track cannot drift onto a post or a red wall; a sign that flickers to background for a frame is a
frame without a match, which ``drop_after`` tolerates. A track's label is a vote over its frames
weighted by confidence. A track is confirmed, and announced once as an ``Event``, when its leading
label has been a frame's label ``confirm_after`` times; it ends after ``drop_after`` processed frames
without a match, and a confirmed track's event is then finalised (last frame, final label, best
view). Unconfirmed tracks produce no event.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from edgetl.proposals import box_iou
from edgetl.errors import EdgetlError

Box = tuple[int, int, int, int]
BACKGROUND = "background"


@dataclass(frozen=True)
class Detection:
    """One classified box of one frame, in frame pixels."""

    box: Box
    label: str
    confidence: float


@dataclass(frozen=True)
class TrackConfig:
    """``confirm_after`` and ``drop_after`` count processed frames (with frame dropping, the frame
    index may advance by more than one between them)."""

    # The defaults were measured with the default demo's INT8 model on six 24 s drive-by videos (seeds
    # 1-6), replaying the tracker on the boxes it classified (benchmarks/signs_loop.py --sweep): 64 of
    # 65 signs announced once and right, no false event in 2.4 minutes. Confirming after 4 frames
    # announced one more sign twice; dropping after 15 two more (signs the locator missed for half a
    # second) and missed one. A threshold of 0.6 let five times as many false events through as 0.7
    # with a model whose background class lacked the proposer's contrast-masked boxes.
    confirm_after: int = 5
    drop_after: int = 30
    iou_min: float = 0.3  # a detection continues a track when it overlaps its predicted or last box this much
    min_confidence: float = 0.7  # a sign label less confident than this counts as background
    background: str = BACKGROUND

    def __post_init__(self) -> None:
        if self.confirm_after < 1 or self.drop_after < 1:
            raise EdgetlError("--confirm-after and --drop-after must be at least 1 frame")
        if not 0.0 < self.iou_min <= 1.0:
            raise EdgetlError(f"track IoU {self.iou_min} must be in (0, 1]")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise EdgetlError(f"track confidence threshold {self.min_confidence} must be between 0 and 1")


@dataclass(frozen=True)
class Event:
    """One sign, announced once. ``confidence`` is the track's mean probability for ``label`` over
    the frames that gave it a sign label (a frame that said another sign counts 0). The best view is
    the frame where ``label`` was most confident (to two decimals), the larger box on a tie.
    ``final`` is False for the announcement (the track goes on) and True once the track has ended;
    ``announced_label`` is the label announced, which the vote may have changed since."""

    track_id: int
    label: str
    confidence: float
    first_frame: int
    first_t: float
    last_frame: int
    last_t: float
    announced_frame: int
    announced_t: float
    announced_label: str
    best_frame: int
    best_t: float
    best_box: Box
    frames: int  # frames that gave the track a sign label
    final: bool

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["best_box"] = list(self.best_box)
        for k in ("confidence", "first_t", "last_t", "announced_t", "best_t"):
            d[k] = round(float(d[k]), 4)
        return d


@dataclass(frozen=True)
class TrackView:
    """A track as seen in one frame, for the overlay and the per-frame record."""

    track_id: int
    box: Box
    label: str  # the vote's leader so far
    confidence: float
    confirmed: bool


@dataclass(frozen=True)
class TrackStep:
    """What one frame did: the track of each detection (None: background, no track), the tracks
    seen, and the events announced and finalised in this frame."""

    track_ids: tuple[int | None, ...]
    tracks: tuple[TrackView, ...]
    announced: tuple[Event, ...] = ()
    ended: tuple[Event, ...] = ()


@dataclass
class _Best:
    key: tuple[float, int]
    frame: int
    t: float
    box: Box


HISTORY = 8  # boxes a track's motion is fitted to
GROWTH_MAX = 4.0  # a prediction grows or shrinks a box at most this much
GAP_WIDEN = 0.1  # a lost track's centre test widens by this share of its box per frame missed
LOST_AFTER = 2  # frames missed after which only a detection of the track's label takes it up again


def _line(x: np.ndarray, y: np.ndarray, at: float) -> float:
    """The least-squares line through (x, y), evaluated at ``at`` (the mean of y when x does not vary)."""
    dx = x - x.mean()
    var = float(dx @ dx)
    return float(y.mean()) if var < 1e-9 else float(y.mean() + (dx @ (y - y.mean())) / var * (at - x.mean()))


def predict_box(frames: Sequence[int], boxes: Sequence[Sequence[float]], frame: int) -> np.ndarray:
    """Where a track's object should be at ``frame``, from its recent ``boxes`` seen at ``frames``.

    The size follows an object approached at a steady speed: the inverse of its side is a straight
    line in time. While the size changes (by more than 15% over the history) the centre moves along a
    straight line as a function of the size, as a sign does about the focus of expansion; otherwise it
    moves at a steady velocity. Both are least-squares fits, so one jittery box does not throw the
    prediction off. The last box's aspect ratio is kept."""
    f = np.asarray(frames, np.float64)
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    w, h = np.maximum(b[:, 2] - b[:, 0], 1.0), np.maximum(b[:, 3] - b[:, 1], 1.0)
    side = np.sqrt(w * h)
    if len(f) < 2:
        return b[-1].copy()
    inv = _line(f, 1.0 / side, frame)
    s = float(np.clip(1.0 / inv if inv > 0 else np.inf, side[-1] / GROWTH_MAX, side[-1] * GROWTH_MAX))
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    if side.max() > 1.15 * side.min():
        px, py = _line(side, cx, s), _line(side, cy, s)
    else:
        px, py = _line(f, cx, frame), _line(f, cy, frame)
    aspect = np.sqrt(w[-1] / h[-1])
    half_w, half_h = s * aspect / 2, s / aspect / 2
    return np.array([px - half_w, py - half_h, px + half_w, py + half_h])


@dataclass
class Track:
    """A live track (mutable, owned by the tracker)."""

    id: int
    box: Box
    frame: int
    t: float
    first_frame: int
    first_t: float
    seen: deque = field(default_factory=lambda: deque(maxlen=HISTORY))  # (frame, box) of the last matches
    misses: int = 0
    frames: int = 0
    votes: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    best: dict[str, _Best] = field(default_factory=dict)
    announced: Event | None = None

    @property
    def leader(self) -> str | None:
        return max(self.votes, key=lambda k: (self.votes[k], self.counts[k])) if self.votes else None

    def predict(self, frame: int) -> np.ndarray:
        return predict_box([f for f, _ in self.seen], [b for _, b in self.seen], frame)

    def add(self, frame: int, t: float, d: Detection) -> None:
        """Take sign detection ``d`` of ``frame``: move the track and count its vote."""
        self.box, self.frame, self.t, self.misses = tuple(int(v) for v in d.box), frame, t, 0
        self.seen.append((frame, self.box))
        self.frames += 1
        self.votes[d.label] = self.votes.get(d.label, 0.0) + d.confidence
        self.counts[d.label] = self.counts.get(d.label, 0) + 1
        area = (d.box[2] - d.box[0]) * (d.box[3] - d.box[1])
        key = (round(d.confidence, 2), area)
        if d.label not in self.best or key > self.best[d.label].key:
            self.best[d.label] = _Best(key, frame, t, self.box)

    def event(self, final: bool) -> Event:
        label = self.leader
        assert label is not None
        best = self.best[label]
        ann = self.announced
        return Event(
            track_id=self.id, label=label, confidence=self.votes[label] / max(1, self.frames),
            first_frame=self.first_frame, first_t=self.first_t, last_frame=self.frame, last_t=self.t,
            announced_frame=ann.announced_frame if ann else self.frame, announced_t=ann.announced_t if ann else self.t,
            announced_label=ann.announced_label if ann else label, best_frame=best.frame, best_t=best.t,
            best_box=best.box, frames=self.frames, final=final)


def greedy_pairs(value: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) pairs, highest ``value`` first, each row and column used once, ``allowed`` only."""
    pairs = np.argwhere(allowed)
    pairs = pairs[np.argsort(-value[pairs[:, 0], pairs[:, 1]], kind="stable")]
    used_r, used_c, out = set(), set(), []
    for r, c in pairs.tolist():
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            out.append((r, c))
    return out


class IouTracker:
    """Tracks across frames; feed it every processed frame with ``update``, then call ``finish``."""

    def __init__(self, config: TrackConfig | None = None):
        self.config = config or TrackConfig()
        self.tracks: list[Track] = []
        self.next_id = 1
        self.events: list[Event] = []  # the final event of every confirmed track that has ended

    def is_sign(self, d: Detection) -> bool:
        return d.label != self.config.background and d.confidence >= self.config.min_confidence

    def update(self, frame: int, t: float, detections: Sequence[Detection]) -> TrackStep:
        """Match the sign detections of ``frame`` (at ``t`` seconds) to the live tracks; a background
        detection only takes the id of a track seen in this frame that it overlaps (for display)."""
        ids: list[int | None] = [None] * len(detections)
        signs = [i for i, d in enumerate(detections) if self.is_sign(d)]
        matched = [(ti, signs[k]) for ti, k in self._match(frame, [detections[i] for i in signs])]
        for ti, di in matched:
            self.tracks[ti].add(frame, t, detections[di])
            ids[di] = self.tracks[ti].id
        seen = {ti for ti, _ in matched}
        for di in signs:
            if ids[di] is None:
                ids[di] = self._duplicate_of(detections[di], seen)
            if ids[di] is None:
                self.tracks.append(Track(self.next_id, detections[di].box, frame, t, frame, t))
                self.tracks[-1].add(frame, t, detections[di])
                seen.add(len(self.tracks) - 1)
                ids[di] = self.next_id
                self.next_id += 1
        for di, d in enumerate(detections):
            if ids[di] is None:
                ids[di] = self._duplicate_of(d, seen)
        announced = self._announce(seen)
        views = tuple(self._view(self.tracks[i]) for i in sorted(seen))
        return TrackStep(tuple(ids), views, announced, self._age(seen))

    def _match(self, frame: int, detections: Sequence[Detection]) -> list[tuple[int, int]]:
        """Greedy matching by IoU with each track's predicted box or its last box (the larger), best
        pairs first; then, for what is left, a detection whose centre lies in a track's predicted box
        at a similar size (within 2x): a sign close to the car can move more than its width between
        frames. A track not seen for a while is less sure of where its sign went: its box for the
        centre test widens by ``GAP_WIDEN`` of its side per frame missed (up to 3x), and once it has
        missed more than ``LOST_AFTER`` frames only a detection with its label can take it up again
        (another sign may stand where it would be)."""
        if not self.tracks or not detections:
            return []
        pred = np.stack([t.predict(frame) for t in self.tracks])
        last = np.asarray([t.box for t in self.tracks], np.float64)
        det = np.asarray([d.box for d in detections], np.float64)
        iou = np.maximum(box_iou(pred, det), box_iou(last, det))
        gap = np.asarray([frame - t.frame - 1 for t in self.tracks], np.float64)
        leaders = [t.leader for t in self.tracks]
        same = np.asarray([[lead == d.label for d in detections] for lead in leaders], bool)
        allowed = (gap[:, None] <= LOST_AFTER) | same
        out = greedy_pairs(iou, (iou >= self.config.iou_min) & allowed)
        cx, cy = (det[:, 0] + det[:, 2]) / 2, (det[:, 1] + det[:, 3]) / 2
        widen = np.minimum(1.0 + GAP_WIDEN * np.maximum(gap, 0), 3.0)[:, None]
        pcx, pcy = (pred[:, 0] + pred[:, 2]) / 2, (pred[:, 1] + pred[:, 3]) / 2
        half_w, half_h = (pred[:, 2] - pred[:, 0])[:, None] / 2, (pred[:, 3] - pred[:, 1])[:, None] / 2
        inside = ((np.abs(cx[None, :] - pcx[:, None]) <= half_w * widen)
                  & (np.abs(cy[None, :] - pcy[:, None]) <= half_h * widen))
        ratio = (det[None, :, 2] - det[None, :, 0]) / np.maximum(pred[:, None, 2] - pred[:, None, 0], 1.0)
        near = inside & (ratio >= 0.5) & (ratio <= 2.0) & allowed
        for ti, di in out:
            near[ti, :] = False
            near[:, di] = False
        closeness = -np.hypot(pcx[:, None] - cx[None, :], pcy[:, None] - cy[None, :])
        return out + greedy_pairs(closeness, near)

    def _duplicate_of(self, d: Detection, seen: set[int]) -> int | None:
        """The id of a track matched in this frame that ``d`` overlaps: a second box on one sign."""
        if not seen:
            return None
        idx = sorted(seen)
        iou = box_iou(np.asarray([d.box], np.float64), np.asarray([self.tracks[i].box for i in idx], np.float64))[0]
        best = int(np.argmax(iou))
        return self.tracks[idx[best]].id if iou[best] >= self.config.iou_min else None

    def _announce(self, seen: set[int]) -> tuple[Event, ...]:
        out = []
        for i in sorted(seen):
            tr = self.tracks[i]
            label = tr.leader
            if tr.announced is None and label is not None and tr.counts[label] >= self.config.confirm_after:
                tr.announced = tr.event(final=False)
                out.append(tr.announced)
        return tuple(out)

    def _age(self, seen: set[int]) -> tuple[Event, ...]:
        """Count a miss for every track not seen; end those missed ``drop_after`` times in a row."""
        ended, live = [], []
        for i, tr in enumerate(self.tracks):
            if i not in seen:
                tr.misses += 1
            if tr.misses >= self.config.drop_after:
                if tr.announced is not None:
                    ended.append(tr.event(final=True))
            else:
                live.append(tr)
        self.tracks = live
        self.events += ended
        return tuple(ended)

    def _view(self, tr: Track) -> TrackView:
        label = tr.leader
        assert label is not None  # a track starts with a sign detection
        return TrackView(tr.id, tr.box, label, tr.votes[label] / max(1, tr.frames), tr.announced is not None)

    def finish(self) -> list[Event]:
        """End every live track (the stream is over); the final events of the confirmed ones."""
        ended = [tr.event(final=True) for tr in self.tracks if tr.announced is not None]
        self.tracks = []
        self.events += ended
        return ended
