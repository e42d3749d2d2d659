"""What the loop writes: a JSONL log, a recorded video and a window.

Files are written under a temporary name beside the target and renamed when closed, so whatever ends
the run (end of file, 'q', Ctrl-C, a camera that drops out) leaves either a complete file or none.
JSONL lines are flushed one by one, so even a killed run leaves a readable ``.tmp`` behind.

A write that fails (disk full, permission) raises one ``OutputError`` naming the file; the writer then
removes its temporary file on ``close`` and leaves what was at the target before. OpenCV's video writer
reports no failed write, so the recorder watches the free space instead and stops while the file can
still be finished.
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

from edgetl.errors import EdgetlError, OutputError
from edgetl.fileio import check_space, is_special_file, temp_beside, writing

log = logging.getLogger(__name__)

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}


class JsonlWriter:
    """One JSON object per line, flushed as written; renamed to the target on ``close``."""

    def __init__(self, target: str | os.PathLike):
        self.target = Path(target)
        self.direct = is_special_file(self.target)  # /dev/stdout, a pipe: written in place
        self.tmp = self.target if self.direct else temp_beside(self.target, ".tmp")
        with writing(self.target, self.tmp):
            self._f = open(self.tmp, "w", encoding="utf-8")
        self.lines = 0
        self.failed = False

    def write(self, obj: dict[str, Any]) -> None:
        try:
            with writing(self.target, self.tmp):
                self._f.write(json.dumps(obj, separators=(",", ":")) + "\n")
                self._f.flush()
        except OutputError:
            self.failed = True
            raise
        self.lines += 1

    def close(self) -> Path | None:
        """Rename the file into place; after a failed write, remove it instead and return None."""
        if self._f.closed:
            return None if self.failed else self.target
        try:
            with writing(self.target, self.tmp):
                self._f.close()
                if not self.failed:
                    if not self.direct:
                        os.replace(self.tmp, self.target)
                    return self.target
        except OutputError:
            self.failed = True
            raise
        finally:
            if self.failed and not self.direct:
                self.tmp.unlink(missing_ok=True)
        return None


class VideoRecorder:
    """``cv2.VideoWriter`` opened on the first frame (its size); finalised and renamed on ``close``.

    Every ``CHECK_EVERY`` frames the free space is checked: the recording stops with an ``OutputError``
    while room is left for two more intervals (at least ``MIN_FREE_BYTES``), since OpenCV would write on
    into a full disk without a word.
    """

    CHECK_EVERY = 30
    MIN_FREE_BYTES = 8 << 20

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
        self.failed = False
        self._bytes_at_check = 0
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
        if self.frames % self.CHECK_EVERY == 0:
            self._check_space()

    def _check_space(self) -> None:
        """Stop before the disk is full, with room left to finish the file."""
        try:
            with writing(self.target, self.tmp):
                written = self.tmp.stat().st_size
                need = max(self.MIN_FREE_BYTES, 2 * (written - self._bytes_at_check))
                self._bytes_at_check = written
                check_space(self.tmp, need, str(self.target))
        except OutputError:
            self.failed = True
            raise

    def close(self) -> Path | None:
        """Finish the file and rename it into place; after a failed write, remove it and return None."""
        if self.writer is None:
            if not self.failed:
                log.warning("no frame was processed: %s not written", self.target)
            return None
        self.writer.release()
        self.writer = None
        if self.failed:
            self.tmp.unlink(missing_ok=True)
            return None
        with writing(self.target, self.tmp):
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
