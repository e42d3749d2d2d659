"""A synthetic drive-by video of road signs with per-frame ground truth.

The background is a panorama of real photographs that pans and zooms like a moving car; signs appear
small near the vanishing point, grow and pass out of frame, with gaps in between. Beside
``drive.mp4`` goes ``drive.gt.json``: per frame, which sign is in view and its box, given only when
the sign is big enough to recognise. The video is synthetic, and says so in its ground truth.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from edgetl.data.groundtruth import ground_truth_path, ground_truth_record
from edgetl.errors import DataError
from edgetl.fileio import atomic_path, check_output, write_json
from edgetl.synth.draw import SIGN_CLASSES, render_sign
from edgetl.synth.scene import backgrounds, draw_post, paste_sign, sign_quad

log = logging.getLogger(__name__)

VIDEO_GENERATOR_VERSION = "1"
MIN_LABEL_PX = 24  # a sign smaller than this (box side, pixels) is in view but not labelled
MIN_INSIDE = 0.8  # ...and so is one with less than this fraction of its box inside the frame
VIDEO_SKIP = ("hubble_deep_field", "immunohistochemistry", "coins", "clock")  # not scenery


@dataclass(frozen=True)
class VideoConfig:
    seconds: float = 24.0
    fps: int = 30
    width: int = 1280
    height: int = 720
    seed: int = 0
    classes: tuple[str, ...] | None = None

    def class_names(self) -> tuple[str, ...]:
        return self.classes or SIGN_CLASSES


@dataclass(frozen=True)
class Pass:
    """One sign driven past: frames [start, end), growing from ``size0`` to ``size1`` pixels."""

    label: str
    start: int
    end: int
    size0: float
    size1: float
    side: int  # +1 right of the road, -1 left
    lateral: float  # centre offset from the vanishing point, in sign diameters
    height: float
    yaw: float
    seed: int




def plan_passes(cfg: VideoConfig) -> list[Pass]:
    """Signs and gaps for the whole video; deterministic for the seed."""
    rng = np.random.default_rng([cfg.seed, 0x51D])
    n = int(round(cfg.seconds * cfg.fps))
    names = cfg.class_names()
    passes, t = [], int(rng.uniform(0.3, 1.2) * cfg.fps)
    while True:
        dur = int(rng.uniform(2.2, 3.6) * cfg.fps)
        if t + dur > n:
            break
        scale = cfg.height / 720
        passes.append(Pass(
            label=names[int(rng.integers(len(names)))], start=t, end=t + dur,
            size0=float(rng.uniform(10, 14)) * scale, size1=float(rng.uniform(230, 340)) * scale, side=1 if rng.random() < 0.75 else -1,
            lateral=float(rng.uniform(1.6, 2.6)), height=float(rng.uniform(0.5, 1.0)),
            yaw=float(rng.uniform(8, 25)), seed=int(rng.integers(1 << 31))))
        t += dur + int(rng.uniform(0.3, 1.5) * cfg.fps)
    return passes


def _panorama(cfg: VideoConfig, rng: np.random.Generator) -> np.ndarray:
    """Real photographs side by side, tall enough to zoom into."""
    h = int(cfg.height * 1.35)
    bgs = [b for b in backgrounds() if not b[0].endswith(VIDEO_SKIP)] or list(backgrounds())
    order = rng.permutation(len(bgs))
    parts, width = [], 0
    for i in order:
        img = bgs[i][1]
        w = int(img.shape[1] * h / img.shape[0])
        parts.append(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if img.shape[0] > h else cv2.INTER_LINEAR))
        width += w
        if width > cfg.width * 4:
            break
    pano = np.hstack(parts)
    return np.hstack([pano, pano[:, : int(cfg.width * 1.4)]])  # wraps around if the pan runs long


def _background(pano: np.ndarray, cfg: VideoConfig, frame: int, n: int) -> np.ndarray:
    """The view at ``frame``: pan right across the panorama, zooming gently in and out."""
    t = frame / max(1, n - 1)
    zoom = 1.0 + 0.15 * (0.5 - 0.5 * np.cos(2 * np.pi * 3 * t))
    vw, vh = cfg.width / zoom, cfg.height / zoom
    max_x = pano.shape[1] - cfg.width * 1.4
    x = (t * (pano.shape[1] - cfg.width * 1.4)) % max(1.0, max_x)
    y = (pano.shape[0] - vh) / 2
    x0, y0 = int(x), int(y)
    crop = pano[y0:y0 + int(round(vh)), x0:x0 + int(round(vw))]
    return cv2.resize(crop, (cfg.width, cfg.height), interpolation=cv2.INTER_LINEAR)


def _sign_geometry(p: Pass, frame: int, cfg: VideoConfig) -> tuple[float, float, float]:
    """Centre x, y and diameter of the sign of pass ``p`` at ``frame`` (constant approach speed)."""
    u = (frame - p.start) / max(1, p.end - p.start - 1)
    z = 1.0 + (p.size1 / p.size0 - 1.0) * (1.0 - u)  # distance, 1 at the closest
    d = p.size1 / z
    vx, vy = cfg.width * 0.5, cfg.height * 0.45
    return vx + p.side * p.lateral * d, vy - p.height * d, d


def _frame_truth(quad: np.ndarray, cfg: VideoConfig) -> list[int] | None:
    x1, y1 = quad.min(0)
    x2, y2 = quad.max(0)
    area = (x2 - x1) * (y2 - y1)
    cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(cfg.width, x2), min(cfg.height, y2)
    if cx2 <= cx1 or cy2 <= cy1:
        return None
    if (cx2 - cx1) * (cy2 - cy1) < MIN_INSIDE * area or min(cx2 - cx1, cy2 - cy1) < MIN_LABEL_PX:
        return None
    return [int(np.floor(cx1)), int(np.floor(cy1)), int(np.ceil(cx2)), int(np.ceil(cy2))]


def render_frames(cfg: VideoConfig) -> Iterator[tuple[np.ndarray, dict]]:
    """(BGR frame, ground-truth record) for every frame."""
    n = int(round(cfg.seconds * cfg.fps))
    pano = _panorama(cfg, np.random.default_rng([cfg.seed, 0xBA6]))
    passes = plan_passes(cfg)
    signs = {i: render_sign(p.label, np.random.default_rng(p.seed), 256) for i, p in enumerate(passes)}
    current = 0
    for f in range(n):
        img = _background(pano, cfg, f, n)
        while current < len(passes) and passes[current].end <= f:
            current += 1
        truth = {"frame": f, "label": None, "box": None}
        if current < len(passes) and passes[current].start <= f:
            p = passes[current]
            cx, cy, d = _sign_geometry(p, f, cfg)
            quad = sign_quad(cx, cy, d, p.side * p.yaw, 0.0, 0.0)
            draw_post(img, cx, quad[:, 1].max() - 1, max(2.0, d * 0.07), 110)
            paste_sign(img, *signs[current], quad)
            box = _frame_truth(quad, cfg)
            if box is not None:
                truth = {"frame": f, "label": p.label, "box": box}
        yield img, truth


def generate_video(out: str | os.PathLike, cfg: VideoConfig, overwrite: bool = False,
                   progress: Callable[[int], None] | None = None) -> dict:
    """Write the drive-by video to ``out`` (.mp4) and its ground truth beside it; return the truth."""
    out = Path(out)
    unknown = [c for c in cfg.class_names() if c not in SIGN_CLASSES]
    if unknown:
        raise DataError(f"unknown road-sign class {unknown[0]!r}; known: {', '.join(SIGN_CLASSES)}")
    if out.suffix.lower() != ".mp4":
        raise DataError(f"{out}: the video must be an .mp4 file name")
    gt = ground_truth_path(out)
    for p in (out, gt):
        check_output(p)
        if p.exists() and not overwrite:
            raise DataError(f"{p} exists: choose another name or pass --overwrite")
    if cfg.seconds <= 0 or cfg.fps <= 0:
        raise DataError("video length and frame rate must be positive")
    frames = []
    with atomic_path(out, suffix=".mp4") as tmp:  # OpenCV picks the container from the name
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), cfg.fps, (cfg.width, cfg.height))
        if not writer.isOpened():
            raise DataError(f"OpenCV cannot write an mp4v video to {tmp.parent}: check the folder and OpenCV build")
        try:
            for img, truth in render_frames(cfg):
                writer.write(img)
                frames.append(truth)
                if progress:
                    progress(1)
        finally:
            writer.release()
    truth = ground_truth_record(out.name, cfg.fps, cfg.width, cfg.height, cfg.class_names(), frames,
                                synthetic=True, seed=cfg.seed, generator_version=VIDEO_GENERATOR_VERSION)
    write_json(gt, truth)
    labelled = sum(fr["label"] is not None for fr in frames)
    log.info("wrote %s: %d frames, %d with a recognisable sign", out, len(frames), labelled)
    return truth

