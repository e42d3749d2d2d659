"""Tiny videos with ground truth, and scripted sources for the camera-loop tests."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from edgetl.data.groundtruth import ground_truth_path, ground_truth_record
from edgetl.runtime import Runner
from edgetl.spec import ModelInfo, Preprocess
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


# --- scenes with signs, and a classifier that knows them, for the box locators --------------------------

SIGN_LABELS = ("stop", "no_entry", "background")
RED, BLUE = (40, 30, 200), (165, 85, 15)


class ColourRunner(Runner):
    """A stand-in classifier: a crop mostly red is "stop", mostly blue "no_entry", anything else the
    background class (when the labels have one); it records the size of every batch it runs."""

    backend = "test"

    def __init__(self, labels=SIGN_LABELS, batch_range=(1, None)):
        p = Preprocess(size=16, resize=16, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        super().__init__(Path("colour.test"), ModelInfo("test", tuple(labels), p))
        self.batch_range = batch_range
        self.sizes: list[int] = []

    def _infer(self, batch):
        self.sizes.append(len(batch))
        r, g, b = batch[:, 0], batch[:, 1], batch[:, 2]
        red = ((r > 0.5) & (g < 0.35) & (b < 0.35)).mean(axis=(1, 2))
        blue = ((b > 0.45) & (r < 0.3)).mean(axis=(1, 2))
        logits = np.stack([red * 12 - 2, blue * 12 - 2, np.zeros(len(batch))], 1).astype(np.float32)
        return logits[:, : len(self.info.labels)]


@pytest.fixture
def colour_runner():
    return ColourRunner


def textured(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A grey-green textured background with no sign colours."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 3)
    base = 100 + 50 * noise / (noise.std() + 1e-6)
    return np.clip(np.stack([base * 0.9, base, base * 0.95], 2), 0, 255).astype(np.uint8)


def disc(img: np.ndarray, colour, cx: float, cy: float, d: float) -> list[int]:
    """Draw a filled disc of diameter ``d``; its box."""
    cv2.circle(img, (int(round(cx * 16)), int(round(cy * 16))), int(round((d / 2 - 0.5) * 16)), colour, -1,
               cv2.LINE_AA, 4)
    return [int(np.floor(cx - d / 2)), int(np.floor(cy - d / 2)), int(np.ceil(cx + d / 2)), int(np.ceil(cy + d / 2))]


# Two signs driven past: (track, label, colour, first frame, last frame, x, y, diameter at first and last)
PASSES = ((1, "stop", RED, 2, 15, 230, 60, 22, 46), (2, "no_entry", BLUE, 9, 22, 80, 70, 24, 48))


def write_sign_scene(folder: Path, frames: int = 28, w: int = 320, h: int = 180, passes=PASSES) -> Path:
    """PNG frames of signs growing as a car nears them, and ground truth format 2 beside the folder
    (``folder.gt.json``): a sign is recognisable from 26 px on."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = []
    for f in range(frames):
        img = textured(w, h, seed=f)
        signs = []
        for track, label, colour, a, b, x, y, d0, d1 in passes:
            if a <= f <= b:
                u = (f - a) / (b - a)
                d = d0 + (d1 - d0) * u
                box = disc(img, colour, x + 20 * u, y + 10 * u, d)
                signs.append({"box": box, "label": label, "track": track, "recognisable": d >= 26})
        cv2.imwrite(str(folder / f"{f:04d}.png"), img)
        truth.append({"frame": f, "signs": signs})
    gt = ground_truth_record(folder.name, 30.0, w, h, ["stop", "no_entry"], truth, synthetic=True)
    path = folder.with_name(folder.name + ".gt.json")
    path.write_text(json.dumps(gt))
    return path


@pytest.fixture
def sign_scene(tmp_path) -> tuple[Path, Path]:
    """(frames folder, its ground truth)."""
    folder = tmp_path / "scene"
    return folder, write_sign_scene(folder)


@pytest.fixture
def scene():
    """The scene helpers: ``textured(w, h, seed)``, ``disc(img, colour, cx, cy, d)``, ``RED``, ``BLUE``."""
    return SimpleNamespace(textured=textured, disc=disc, RED=RED, BLUE=BLUE, write=write_sign_scene)
