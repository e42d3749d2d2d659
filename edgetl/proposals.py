"""Where in a frame to look: sign proposals from colour and shape, sliding windows, the whole frame.

Pure image work on a BGR frame (OpenCV and numpy), returning ``Located``: candidate boxes in
full-resolution frame pixels, a score and a cue for each, and the square region (``crops``) a classifier
is given, padded the way its training images frame a sign. The camera loop's locate stage
(``edgetl.camera.locate``) wraps these as registry entries; the synthetic data generator uses the sign
proposer to collect the hard non-sign crops of its ``background`` class, so it lives below both.

- ``FrameLocator``: the whole frame, or a fixed ROI: one box;
- ``SignProposer``: the red, blue, yellow and white of sign designs masked in HSV on a reduced copy of
  the frame, contours filtered by shape (circle, triangle, octagon, diamond, rectangle), size and aspect,
  merged by non-maximum suppression, mapped back to full resolution;
- ``WindowLocator``: multi-scale sliding windows, for objects that have no colour cue.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from edgetl.errors import EdgetlError

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]

# The sign's share of a training crop's side. edgetl's road-sign images draw the sign at 62-86% of
# the square crop (centre 0.74); GTSRB crops keep a 10% border (at least 5 px) around the sign, i.e.
# about 0.83. A crop padded to 0.74 frames a proposal the way the default demo model was trained.
SIGN_FILL = 0.74


@dataclass(frozen=True)
class Located:
    """Candidates in one frame, best first.

    ``boxes`` (N, 4) int32 x1, y1, x2, y2 (exclusive) around the object itself, in frame pixels: what
    a tracker follows and a score compares with ground truth. ``crops`` (N, 4) int32: the region of
    the frame the classifier sees (the box padded to the training framing, clamped to the frame).
    ``scores`` (N,) float32 in 0..1; ``cues`` says what found each box ("red circle", "window 72px",
    "frame"). ``capped`` counts candidates dropped to keep at most the locator's ``max_boxes``.
    """

    boxes: np.ndarray
    crops: np.ndarray
    scores: np.ndarray
    cues: tuple[str, ...] = ()
    capped: int = 0

    def __len__(self) -> int:
        return len(self.boxes)

    @staticmethod
    def empty() -> "Located":
        z = np.zeros((0, 4), np.int32)
        return Located(z, z.copy(), np.zeros(0, np.float32))


# --- boxes -----------------------------------------------------------------------------------------

def as_bgr(frame: np.ndarray | None) -> np.ndarray | None:
    """A frame as (H, W, 3) uint8 BGR, or None when it has no pixels."""
    if frame is None or getattr(frame, "size", 0) == 0 or frame.ndim not in (2, 3):
        return None
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame if frame.shape[2] == 3 else None


def clamp_box(box: Sequence[int], width: int, height: int) -> Box:
    """``box`` clamped to the frame and at least one pixel, as ``preprocess.crop_roi`` crops it."""
    x1, y1, x2, y2 = (int(v) for v in box)
    x1, y1 = max(0, min(x1, width - 1)), max(0, min(y1, height - 1))
    return x1, y1, max(x1 + 1, min(x2, width)), max(y1 + 1, min(y2, height))


def pad_to_crops(boxes: np.ndarray, width: int, height: int, fill: float = SIGN_FILL) -> np.ndarray:
    """Square crops centred on ``boxes``, side = the box's longer side / ``fill``.

    A crop that runs past the frame's edge is shifted back inside (the object stays whole, a little
    off centre, and the square is kept so the classifier sees undistorted pixels); one larger than
    the frame is clipped to it.
    """
    if len(boxes) == 0:
        return np.zeros((0, 4), np.int32)
    b = boxes.astype(np.float64)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) / fill
    x1 = np.clip(np.round(cx - side / 2), 0, np.maximum(width - side, 0))
    y1 = np.clip(np.round(cy - side / 2), 0, np.maximum(height - side, 0))
    x2, y2 = np.minimum(x1 + np.round(side), width), np.minimum(y1 + np.round(side), height)
    return np.stack([x1, y1, np.maximum(x2, x1 + 1), np.maximum(y2, y1 + 1)], 1).astype(np.int32)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4): (N, M) float64."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


# --- the whole frame, or a fixed ROI -----------------------------------------------------------------

class FrameLocator:
    """One box: the whole frame, or ``roi`` clamped to it; the crop is the box itself, unpadded."""

    name = "frame"

    def __init__(self, roi: Sequence[int] | None = None):
        self.roi = None if roi is None else tuple(int(v) for v in roi)

    def locate(self, frame_bgr: np.ndarray) -> Located:
        if frame_bgr is None or getattr(frame_bgr, "size", 0) == 0:
            return Located.empty()
        h, w = frame_bgr.shape[:2]
        box = clamp_box(self.roi, w, h) if self.roi is not None else (0, 0, w, h)
        b = np.array([box], np.int32)
        return Located(b, b.copy(), np.ones(1, np.float32), ("roi" if self.roi else "frame",))


# --- sign proposals from colour and shape -------------------------------------------------------------

@dataclass(frozen=True)
class SignColour:
    """A paint colour of sign designs: how it is masked, the shapes it is painted in, how much larger
    the whole sign is than the colour's own outline (``grow``), and the least share of its bounding
    box a blob's outline must enclose (``min_fill``: 0 for colours painted as rings, more for colours
    painted as filled shapes; a cheap test before the shape is measured).

    A colour is masked by its HSV ranges (``ranges``, OpenCV: H 0-180), or, with ``contrast``, by
    how much more of it a pixel has than the mean of a box around it (``window``, a share of the
    reduced frame's height) by at least ``margin`` (0-255). Contrast finds the paint where glare has
    washed its saturation out and keeps a red ring apart from a red car or roof behind it, which an
    absolute range merges into one blob; it suits colours painted as rings and borders (a large
    filled area keeps its outline only)."""

    ranges: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...]  # () with ``contrast``
    shapes: tuple[str, ...]
    grow: float = 1.0
    min_fill: float = 0.0
    contrast: str | None = None  # a measure of ``CONTRASTS``
    window: float = 0.058
    margin: int = 25


def _redness(bgr: np.ndarray, hsv: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    b, g, r = cv2.split(bgr)
    return cv2.subtract(r, cv2.max(g, b)), None


def _whiteness(bgr: np.ndarray, hsv: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Brightness, kept only where the colour is pale (saturation at most 60)."""
    return np.ascontiguousarray(hsv[..., 2]), cv2.inRange(hsv[..., 1], 0, 60)


# How much of a colour each pixel has (uint8), and where it may count at all (None: everywhere), for
# colours masked by local contrast.
CONTRASTS = {"red": _redness, "white": _whiteness}

# Red: rings, discs, octagons, triangles (prohibitions, stop, warnings, yield); blue: discs and
# rectangles (mandatory, information); yellow: the diamond of the priority road, inside a white
# border of about a quarter of its size (hence grow); white: the disc of the end of restrictions.
# Red and white are masked by contrast: on three drive-by videos with glare, night, red cars and roofs
# and white discs against a pale sky (`edgetl data roadsigns-video`, seeds 0-2), boxes at IoU 0.5 were
# found for 89% of recognisable signs against 81% with HSV ranges (67% against 48% under glare);
# blue and yellow signs are filled, and keep their ranges (contrast lost 5 points on blue).
SIGN_COLOURS: dict[str, SignColour] = {
    "red": SignColour((), ("circle", "octagon", "triangle"), contrast="red", window=0.058, margin=25),
    "blue": SignColour((((98, 90, 40), (125, 255, 255)),), ("circle", "rectangle"), min_fill=0.35),
    "yellow": SignColour((((18, 120, 120), (32, 255, 255)),), ("diamond",), grow=1.35, min_fill=0.25),
    "white": SignColour((), ("circle",), min_fill=0.35, contrast="white", window=0.085, margin=30),
}

# A sign's box is at most this much taller than wide or wider than tall: a sign seen at a yaw of up to
# about 54 degrees. Recognisable signs in seven drive-by videos (2,407 boxes) stay under 1.41; at the
# former 2.0, the proposer also sent the parts of large red surfaces beside a post (about 50 x 90 px)
# that the demo model called a warning sign, 4 false events in 2.4 minutes of video. At 1.7 there were
# none, and no sign more was missed (benchmarks/signs_loop.py; at 1.6 one sign was missed).
MAX_ASPECT = 1.7

# Each shape's convex area as a share of its bounding box ("extent") and of its enclosing circle
# ("round"); a yawed sign keeps its extent and loses a little roundness.
SHAPES: dict[str, tuple[float, float]] = {
    "circle": (np.pi / 4, 1.0),
    "octagon": (0.83, 0.90),
    "triangle": (0.50, 0.41),
    "diamond": (0.50, 0.64),
    "rectangle": (1.0, 0.64),
}


@dataclass(frozen=True)
class SignConfig:
    """Settings of the ``signs`` proposer; sizes are in full-resolution frame pixels."""

    scale: float = 0.5  # the reduced copy the masks are computed on, as a fraction of the frame
    colours: tuple[str, ...] = ("red", "blue", "yellow", "white")
    min_side: int = 20
    max_side: float = 0.8  # of the frame's shorter side
    min_score: float = 0.5
    max_boxes: int = 16
    nms_iou: float = 0.3
    max_splits: int = 1  # large blobs of one colour per frame split along their inner edges
    split_area: float = 0.1  # ...if they cover at most this share of the frame
    fill: float = SIGN_FILL

    def __post_init__(self) -> None:
        unknown = [c for c in self.colours if c not in SIGN_COLOURS]
        if unknown or not self.colours:
            raise EdgetlError(f"sign colours {','.join(self.colours)!r}: use some of {', '.join(SIGN_COLOURS)}")
        if not 0.05 <= self.scale <= 1.0:
            raise EdgetlError(f"locate scale {self.scale} must be between 0.05 and 1")
        if not 0.0 < self.max_side <= 1.0 or not 0.0 <= self.min_score <= 1.0 or not 0.0 < self.nms_iou <= 1.0:
            raise EdgetlError("sign proposer: max_side, min_score and nms_iou are fractions between 0 and 1")
        if self.max_boxes < 1 or self.min_side < 1:
            raise EdgetlError("--max-boxes and the smallest box side must be at least 1")
        if not 0.1 <= self.fill <= 1.0:
            raise EdgetlError(f"sign fill {self.fill} must be between 0.1 and 1")


def shape_fit(hull: np.ndarray, shapes: Sequence[str]) -> tuple[float, str]:
    """How close a convex hull (``cv2.convexHull`` of an outline) is to the nearest of ``shapes``,
    0..1, and that shape.

    The hull is stretched to a square bounding box first, so a sign seen at an angle (narrower than
    tall) still matches its shape. A blob a few pixels wide only roughly has its shape, so the
    tolerance grows below 16 pixels. The hull ignores gaps in an outline: whether the blob has the
    outline it suggests is ``hull_coverage``'s test.
    """
    x, y, w, h = cv2.boundingRect(hull)
    if w < 3 or h < 3:
        return 0.0, ""
    area = cv2.contourArea(hull)
    square = hull.reshape(-1, 2).astype(np.float32)
    square[:, 0] *= (h - 1) / (w - 1)
    _, r = cv2.minEnclosingCircle(square)
    extent = area / ((w - 1) * (h - 1))
    roundness = area * (h - 1) / (w - 1) / (math.pi * r * r)
    dist, name = min((math.hypot(extent - SHAPES[s][0], roundness - SHAPES[s][1]), s) for s in shapes)
    return max(0.0, 1.0 - dist / (0.25 * max(1.0, 16 / min(w, h)))), name


def hull_coverage(mask: np.ndarray, hull: np.ndarray) -> float:
    """The share of a convex hull's outline that runs over ``mask`` (within a pixel): near 1 for a
    filled sign or a sign's painted border, even one broken by a pictogram or blur; lower for a
    ragged blob whose hull cuts across background."""
    x, y, w, h = cv2.boundingRect(hull)
    x0, y0 = max(0, x - 1), max(0, y - 1)
    roi = cv2.dilate(mask[y0:y + h + 1, x0:x + w + 1], None)
    line = np.zeros_like(roi)
    cv2.polylines(line, [hull - np.array([x0, y0], np.int32)], True, 255)
    on = cv2.countNonZero(line)
    return cv2.countNonZero(cv2.bitwise_and(line, roi)) / on if on else 0.0


def _bounding_rects(contours: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """x, y, w, h arrays of many contours at once (``cv2.boundingRect`` one by one costs more than
    the rest of the proposer on a textured frame with hundreds of specks)."""
    pts = np.concatenate(contours).reshape(-1, 2)
    lengths = np.fromiter(map(len, contours), np.intp, len(contours))
    starts = np.concatenate([[0], np.cumsum(lengths[:-1])])
    lo, hi = np.minimum.reduceat(pts, starts), np.maximum.reduceat(pts, starts)
    return lo[:, 0], lo[:, 1], hi[:, 0] - lo[:, 0] + 1, hi[:, 1] - lo[:, 1] + 1


class SignProposer:
    """Boxes around things painted and shaped like road signs.

    On a copy of the frame reduced by ``scale`` (0.5: measured, see benchmarks/locate_tune.py; a
    factor of 1/n also keeps ``cv2.resize``'s fast area path), each sign colour is masked (by its HSV
    ranges, or by its contrast with the pixels around it, ``SignColour``) and closed over one-pixel
    gaps; its outer outlines are filtered by size and aspect, then scored by
    how close their convex hull is to the colour's sign shapes and how much of that hull the colour
    covers. The boxes of all colours go through non-maximum suppression, the best ``max_boxes`` are
    kept, and each is mapped back to full resolution and padded to the training framing.
    """

    name = "signs"

    def __init__(self, config: SignConfig | None = None):
        self.config = config or SignConfig()
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))

    def locate(self, frame_bgr: np.ndarray) -> Located:
        img = as_bgr(frame_bgr)
        if img is None:
            return Located.empty()
        c = self.config
        h, w = img.shape[:2]
        small = img if c.scale >= 1.0 else cv2.resize(
            img, (max(1, round(w * c.scale)), max(1, round(h * c.scale))), interpolation=cv2.INTER_AREA)
        sx, sy = w / small.shape[1], h / small.shape[0]
        hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
        boxes, scores, cues = [], [], []
        for colour in c.colours:
            for box, score, shape in self._candidates(small, hsv, SIGN_COLOURS[colour], (sx, sy), (w, h)):
                boxes.append(box)
                scores.append(score)
                cues.append(f"{colour} {shape}")
        return self._select(np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float32),
                            cues, w, h)

    def _mask(self, bgr: np.ndarray, hsv: np.ndarray, colour: SignColour) -> np.ndarray:
        if colour.contrast is not None:
            amount, where = CONTRASTS[colour.contrast](bgr, hsv)
            k = max(3, 2 * round(colour.window * hsv.shape[0] / 2) + 1)
            mask = cv2.compare(cv2.subtract(amount, cv2.blur(amount, (k, k))), colour.margin, cv2.CMP_GT)
            if where is not None:
                mask = cv2.bitwise_and(mask, where)
        else:
            mask = None
            for lo, hi in colour.ranges:
                m = cv2.inRange(hsv, lo, hi)
                mask = m if mask is None else cv2.bitwise_or(mask, m)
        return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._kernel)

    def _candidates(self, bgr: np.ndarray, hsv: np.ndarray, colour: SignColour, scale: tuple[float, float],
                    size: tuple[int, int]):
        """(full-resolution box, score, shape) for each blob of the colour that looks like a sign.

        The largest blob that does not (up to ``max_splits`` of them, each at most ``split_area`` of the
        frame) is split along the brightness edges inside it and its parts are tried: a red sign in
        front of a red car merges with it in the mask, not in the picture.
        """
        mask = self._mask(bgr, hsv, colour)
        rejected: list[tuple[int, int, int, int]] = []
        yield from self._blobs(mask, (0, 0), colour, scale, size, rejected)
        for x, y, w, h in sorted(rejected, key=lambda r: -r[2] * r[3])[: self.config.max_splits]:
            edges = cv2.dilate(cv2.Canny(np.ascontiguousarray(hsv[y:y + h, x:x + w, 2]), 40, 120), self._cross)
            part = cv2.bitwise_and(mask[y:y + h, x:x + w], cv2.bitwise_not(edges))
            yield from self._blobs(part, (x, y), colour, scale, size, None)

    def _blobs(self, mask: np.ndarray, offset: tuple[int, int], colour: SignColour, scale: tuple[float, float],
               size: tuple[int, int], rejected: list | None):
        """Outlines of ``mask`` filtered on size and aspect all at once; the few left are compared with
        the sign shapes. Large blobs that fail go to ``rejected`` (x, y, w, h) when it is a list."""
        c, (sx, sy), (w, h) = self.config, scale, size
        lo, hi = c.min_side / colour.grow, c.max_side * min(w, h) / colour.grow
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return
        x, y, bw, bh = _bounding_rects(contours)
        fw, fh = bw * sx, bh * sy
        sized = ((np.minimum(fw, fh) >= lo) & (np.maximum(fw, fh) <= hi) & (fw <= MAX_ASPECT * fh)
                 & (fh <= MAX_ASPECT * fw))
        if rejected is not None:
            big = (~sized & (np.maximum(fw, fh) >= 2 * lo) & (np.minimum(fw, fh) >= lo)
                   & (bw * bh <= c.split_area * mask.size))
            rejected += [(x[i], y[i], bw[i], bh[i]) for i in np.flatnonzero(big)]
        for i in np.flatnonzero(sized):
            if colour.min_fill and cv2.contourArea(contours[i]) < colour.min_fill * (bw[i] - 1) * (bh[i] - 1):
                continue
            hull = cv2.convexHull(contours[i])
            fit, shape = shape_fit(hull, colour.shapes)
            score = fit * min(1.0, hull_coverage(mask, hull) / 0.9) if fit >= c.min_score else 0.0
            if score < c.min_score:
                if rejected is not None and min(fw[i], fh[i]) >= 2 * lo:
                    rejected.append((x[i], y[i], bw[i], bh[i]))
                continue
            cx, cy = (offset[0] + x[i] + bw[i] / 2) * sx, (offset[1] + y[i] + bh[i] / 2) * sy
            half_w, half_h = fw[i] * colour.grow / 2, fh[i] * colour.grow / 2
            yield (cx - half_w, cy - half_h, cx + half_w, cy + half_h), score, shape

    def _select(self, boxes: np.ndarray, scores: np.ndarray, cues: list[str], w: int, h: int) -> Located:
        """Non-maximum suppression (the blue disc inside a no-parking sign's red ring is that sign), then
        the best ``max_boxes``."""
        c = self.config
        if len(boxes) == 0:
            return Located.empty()
        xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
        keep = np.asarray(cv2.dnn.NMSBoxes(xywh, scores.tolist(), c.min_score, c.nms_iou), np.int64).reshape(-1)
        keep = keep[np.argsort(-scores[keep], kind="stable")]
        capped = max(0, len(keep) - c.max_boxes)
        if capped:
            log.debug("%d sign proposals, kept the best %d (max_boxes)", len(keep), c.max_boxes)
        keep = keep[: c.max_boxes]
        b = np.stack([np.floor(boxes[keep, 0]), np.floor(boxes[keep, 1]),
                      np.ceil(boxes[keep, 2]), np.ceil(boxes[keep, 3])], 1)
        b = np.array([clamp_box(r, w, h) for r in b], np.int32).reshape(-1, 4)
        return Located(b, pad_to_crops(b, w, h, c.fill), scores[keep], tuple(cues[i] for i in keep), capped)


# --- multi-scale sliding windows -----------------------------------------------------------------------

@dataclass(frozen=True)
class WindowConfig:
    """Square windows of side ``scale`` x the frame's height, stepped by ``stride`` x their side."""

    scales: tuple[float, ...] = (0.1, 0.2, 0.4)
    stride: float = 0.5
    fill: float = SIGN_FILL

    def __post_init__(self) -> None:
        if not self.scales or not all(0.0 < s <= 1.0 for s in self.scales):
            raise EdgetlError(f"window scales {self.scales}: each must be in (0, 1], a fraction of the frame height")
        if not 0.0 < self.stride <= 1.0:
            raise EdgetlError(f"window stride {self.stride} must be in (0, 1], a fraction of the window side")
        if not 0.1 <= self.fill <= 1.0:
            raise EdgetlError(f"sign fill {self.fill} must be between 0.1 and 1")


def window_grid(width: int, height: int, config: WindowConfig) -> tuple[np.ndarray, list[str]]:
    """Every window (x1, y1, x2, y2) of every scale, the last row and column flush with the frame's
    edges so the whole frame is covered; and each window's cue ("window 72px")."""
    out, cues = [], []
    for s in config.scales:
        side = max(1, min(round(s * height), width, height))
        step = max(1, round(config.stride * side))
        xs = sorted(set(range(0, width - side + 1, step)) | {width - side})
        ys = sorted(set(range(0, height - side + 1, step)) | {height - side})
        gx, gy = np.meshgrid(np.asarray(xs), np.asarray(ys))
        x1, y1 = gx.ravel(), gy.ravel()
        out.append(np.stack([x1, y1, x1 + side, y1 + side], 1))
        cues += [f"window {side}px"] * len(x1)
    return np.concatenate(out).astype(np.int32), cues


class WindowLocator:
    """Multi-scale sliding windows: every window is a crop; its box is the object a crop of that size
    frames (the window shrunk to ``fill``), for tracking and scoring. The grid depends only on the
    frame size and is computed once per size."""

    name = "windows"

    def __init__(self, config: WindowConfig | None = None):
        self.config = config or WindowConfig()
        self._grid: dict[tuple[int, int], Located] = {}

    def locate(self, frame_bgr: np.ndarray) -> Located:
        if frame_bgr is None or getattr(frame_bgr, "size", 0) == 0:
            return Located.empty()
        h, w = frame_bgr.shape[:2]
        if (w, h) not in self._grid:
            crops, cues = window_grid(w, h, self.config)
            c = crops.astype(np.float64)
            cx, cy, half = (c[:, 0] + c[:, 2]) / 2, (c[:, 1] + c[:, 3]) / 2, (c[:, 2] - c[:, 0]) * self.config.fill / 2
            boxes = np.stack([np.floor(cx - half), np.floor(cy - half), np.ceil(cx + half), np.ceil(cy + half)], 1)
            arrays = boxes.astype(np.int32), crops, np.ones(len(crops), np.float32)
            for a in arrays:
                a.flags.writeable = False  # shared by every frame of this size
            self._grid[(w, h)] = Located(*arrays, tuple(cues))
        return self._grid[(w, h)]
