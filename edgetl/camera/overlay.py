"""Draw the answer, the FPS, the per-stage milliseconds and the located boxes onto a frame (in place, cheaply)."""

from __future__ import annotations

from typing import Mapping, Sequence

import cv2
import numpy as np

from edgetl.camera.smoothing import UNKNOWN

FONT = cv2.FONT_HERSHEY_SIMPLEX
GREEN, GREY, WHITE, YELLOW = (60, 220, 60), (160, 160, 160), (255, 255, 255), (0, 220, 255)
ORANGE = (0, 140, 255)

# (box x1,y1,x2,y2, label, track id or None, confirmed)
OverlayBox = tuple[Sequence[int], str, "int | None", bool]


def draw_overlay(frame: np.ndarray, label: str, confidence: float, fps: float | None,
                 ms: Mapping[str, float], roi: Sequence[int] | None = None,
                 boxes: Sequence[OverlayBox] = ()) -> np.ndarray:
    """Write a small panel in the top-left corner, outline the ROI and each box with its label and
    track id (green once its track is confirmed, orange before); returns ``frame``."""
    h, w = frame.shape[:2]
    if h == 0 or w == 0:
        return frame
    scale = max(0.4, min(w, h) / 720 * 0.8)
    thick = max(1, int(round(scale * 2)))
    step = int(30 * scale) + 4
    stages = " ".join(f"{k[:3]} {v:.1f}" for k, v in ms.items())
    lines = [(f"{label} {confidence:.2f}", GREY if label == UNKNOWN else GREEN),
             (f"{fps:.1f} FPS" if fps else "-- FPS", WHITE),
             (f"ms {stages}", WHITE)]
    panel_w = min(w, int(max(len(t) for t, _ in lines) * 18 * scale) + 12)
    cv2.rectangle(frame, (0, 0), (panel_w, step * len(lines) + 8), (0, 0, 0), -1)
    for i, (text, colour) in enumerate(lines):
        cv2.putText(frame, text, (6, step * (i + 1)), FONT, scale, colour, thick if i == 0 else 1, cv2.LINE_AA)
    if roi is not None:
        x1, y1, x2, y2 = (int(v) for v in roi)
        cv2.rectangle(frame, (x1, y1), (x2 - 1, y2 - 1), YELLOW, thick)
    for box, text, track, confirmed in boxes:  # last: a sign under the panel stays visible
        _draw_box(frame, box, f"{text} #{track}" if track is not None else text, GREEN if confirmed else ORANGE,
                  scale, thick)
    return frame


def _draw_box(frame: np.ndarray, box: Sequence[int], text: str, colour: tuple[int, int, int], scale: float,
              thick: int) -> None:
    """A box and its caption above it (below it when the box touches the top edge)."""
    x1, y1, x2, y2 = (int(v) for v in box)
    cv2.rectangle(frame, (x1, y1), (x2 - 1, y2 - 1), colour, thick)
    s = max(0.4, scale * 0.6)
    (tw, th), base = cv2.getTextSize(text, FONT, s, 1)
    ty = y1 - 4 if y1 - th - base - 4 >= 0 else y2 + th + 4
    cv2.rectangle(frame, (x1, ty - th - 2), (x1 + tw + 4, ty + base), (0, 0, 0), -1)
    cv2.putText(frame, text, (x1 + 2, ty), FONT, s, colour, 1, cv2.LINE_AA)
