"""What the loop writes: a JSONL log, a recorded video and a window.

Files are written under a temporary name beside the target and renamed when closed, so whatever ends
the run (end of file, 'q', Ctrl-C, a camera that drops out) leaves either a complete file or none.
JSONL lines are flushed one by one, so even a killed run leaves a readable ``.tmp`` behind.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgetl.errors import EdgetlError
from edgetl.fileio import temp_beside

log = logging.getLogger(__name__)

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}


class JsonlWriter:
    """One JSON object per line, flushed as written; renamed to the target on ``close``."""

    def __init__(self, target: str | os.PathLike):
        self.target = Path(target)
        self.tmp = temp_beside(self.target, ".tmp")
        self._f = open(self.tmp, "w", encoding="utf-8")
        self.lines = 0

    def write(self, obj: dict[str, Any]) -> None:
        self._f.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._f.flush()
        self.lines += 1

    def close(self) -> Path:
        if not self._f.closed:
            self._f.close()
            os.replace(self.tmp, self.target)
        return self.target


class VideoRecorder:
    """``cv2.VideoWriter`` opened on the first frame (its size); finalised and renamed on ``close``."""

    def __init__(self, target: str | os.PathLike, fps: float):
        self.target = Path(target)
        suffix = self.target.suffix.lower()
        if suffix not in FOURCC:
            raise EdgetlError(f"--record {self.target.name}: use one of {', '.join(FOURCC)} (the suffix picks the container)")
        self.fps, self.fourcc = float(fps), FOURCC[suffix]
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None
        self.tmp: Path | None = None
        self.frames = 0
        self.skipped = 0  # frames without pixels: nothing to record

    def _open(self, size: tuple[int, int]) -> None:
        self.tmp = temp_beside(self.target, ".part" + self.target.suffix)
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, size)
        if not self.writer.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise EdgetlError(f"cannot record {self.target}: OpenCV has no {self.fourcc} encoder for "
                              f"{self.target.suffix}; try .avi (MJPG)")
        self.size = size

    def write(self, frame: np.ndarray) -> None:
        if frame.size == 0:
            if not self.skipped:
                log.warning("a frame without pixels is not recorded in %s (said once)", self.target.name)
            self.skipped += 1
            return
        size = (frame.shape[1], frame.shape[0])
        if self.writer is None:
            self._open(size)
        if size != self.size:  # a folder of images of several sizes
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(frame)
        self.frames += 1

    def close(self) -> Path | None:
        if self.writer is None:
            log.warning("no frame was processed: %s not written", self.target)
            return None
        self.writer.release()
        self.writer = None
        os.replace(self.tmp, self.target)
        return self.target


def has_gui() -> bool:
    """Whether this OpenCV can open a window (opencv-python-headless cannot)."""
    m = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    return not (m and m.group(1).upper() in ("NONE", "NO", "OFF"))


class Window:
    """A preview window; ``show`` returns False when the user pressed q or Esc or closed it."""

    NAME = "edgetl run"

    def __init__(self) -> None:
        if not has_gui():
            raise EdgetlError("this OpenCV has no GUI (opencv-python-headless): pass --headless, or install "
                              "opencv-python (or JetPack's python3-opencv) for a window")
        if os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise EdgetlError("no display to open a window on (DISPLAY is not set): pass --headless")
        cv2.namedWindow(self.NAME, cv2.WINDOW_NORMAL)

    def show(self, frame: np.ndarray) -> bool:
        cv2.imshow(self.NAME, frame)
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            return False
        return cv2.getWindowProperty(self.NAME, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        cv2.destroyWindow(self.NAME)
        cv2.waitKey(1)
