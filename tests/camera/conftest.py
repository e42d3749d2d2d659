"""Tiny videos with ground truth, and scripted sources for the camera-loop tests."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgetl.data.groundtruth import ground_truth_path, ground_truth_record
from helpers import draw_class_image

CLASSES = ["circle_red", "square_green", "triangle_blue"]


def write_clip(path: Path, sequence: list[int | None], size: int = 64, fps: float = 10.0, seed: int = 0) -> Path:
    """An mp4 of class images (None: background noise) and its ``.gt.json`` beside it."""
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    frames = []
    for i, c in enumerate(sequence):
        img = rng.integers(0, 80, (size, size, 3), dtype=np.uint8) if c is None else draw_class_image(c, rng, size)
        writer.write(img)
        frames.append({"frame": i, "label": None if c is None else CLASSES[c],
                       "box": None if c is None else [0, 0, size, size]})
    writer.release()
    gt = ground_truth_record(path.name, fps, size, size, CLASSES, frames, synthetic=True)
    ground_truth_path(path).write_text(json.dumps(gt))
    return path


@pytest.fixture
def make_clip():
    return write_clip


@pytest.fixture
def clip(tmp_path) -> Path:
    """18 frames: noise, then six of each class; truth in clip.gt.json."""
    return write_clip(tmp_path / "clip.mp4", [None] * 3 + [0] * 5 + [1] * 5 + [2] * 5)


class ScriptedReader:
    """A reader that returns ``n`` numbered frames (value = frame number), then None (a drop-out or EOF)."""

    def __init__(self, n: int, delay_s: float = 0.0, size: int = 8):
        self.n, self.delay_s, self.i = n, delay_s, 0
        self.size, self.fps, self.num_frames = (size, size), 30.0, None
        self.closed = False

    def read(self):
        import time

        if self.i >= self.n:
            return None
        time.sleep(self.delay_s)
        self.i += 1
        return np.full((self.size[1], self.size[0], 3), self.i - 1, np.uint8)

    def close(self):
        self.closed = True


@pytest.fixture
def scripted_reader():
    return ScriptedReader
