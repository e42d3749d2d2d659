"""Draw the answer, the FPS and the per-stage milliseconds onto a frame (in place, cheaply)."""

from __future__ import annotations

from typing import Mapping, Sequence

import cv2
import numpy as np

from edgetl.camera.smoothing import UNKNOWN

FONT = cv2.FONT_HERSHEY_SIMPLEX
GREEN, GREY, WHITE, YELLOW = (60, 220, 60), (160, 160, 160), (255, 255, 255), (0, 220, 255)


def draw_overlay(frame: np.ndarray, label: str, confidence: float, fps: float | None,
                 ms: Mapping[str, float], roi: Sequence[int] | None = None) -> np.ndarray:
    """Write a small panel in the top-left corner and outline the ROI; returns ``frame``."""
    h, w = frame.shape[:2]
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
    return frame
