"""Eval preprocessing, written once with OpenCV and numpy.

Training evaluation, calibration, export verification and every runtime backend call these same
functions, so the tensors a deployed model sees are the tensors it was validated on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from edgetl.errors import DataError
from edgetl.spec import Preprocess

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to BGR uint8 (H, W, 3); raise DataError if it is unreadable."""
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise DataError(f"cannot decode image {path}")
    return img


def crop_roi(img: np.ndarray, roi: Sequence[int] | None) -> np.ndarray:
    """Crop (x1, y1, x2, y2), inclusive-exclusive, clamped to the image; None keeps the whole image."""
    if roi is None:
        return img
    h, w = img.shape[:2]
    x1, y1, x2, y2 = (int(v) for v in roi)
    x1, y1 = max(0, min(x1, w - 1)), max(0, min(y1, h - 1))
    x2, y2 = max(x1 + 1, min(x2, w)), max(y1 + 1, min(y2, h))
    return img[y1:y2, x1:x2]


def _interp(src: int, dst: int) -> int:
    return cv2.INTER_AREA if dst < src else cv2.INTER_LINEAR


def resize_square(img: np.ndarray, p: Preprocess) -> np.ndarray:
    """Resize to ``p.resize`` x ``p.resize`` following ``p.resize_mode``; channels untouched."""
    h, w = img.shape[:2]
    r = p.resize
    if p.resize_mode == "stretch":
        return cv2.resize(img, (r, r), interpolation=_interp(max(h, w), r))
    scale = r / min(h, w)
    nh, nw = max(r, round(h * scale)), max(r, round(w * scale))
    img = cv2.resize(img, (nw, nh), interpolation=_interp(min(h, w), r))
    y, x = (nh - r) // 2, (nw - r) // 2
    return img[y : y + r, x : x + r]


def center_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return img[y : y + size, x : x + size]


def to_model_colour(img_bgr: np.ndarray, p: Preprocess) -> np.ndarray:
    return np.ascontiguousarray(img_bgr[..., ::-1]) if p.color == "RGB" else img_bgr


def prepare_uint8(img_bgr: np.ndarray, p: Preprocess, roi: Sequence[int] | None = None) -> np.ndarray:
    """BGR frame -> (size, size, 3) uint8 in the model's colour order, before normalisation."""
    if img_bgr.ndim == 2:
        img_bgr = cv2.cvtColor(img_bgr, cv2.COLOR_GRAY2BGR)
    img = resize_square(crop_roi(img_bgr, roi), p)
    return to_model_colour(center_crop(img, p.size), p)


def normalize(batch_uint8: np.ndarray, p: Preprocess) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 normalised with the model's mean and std."""
    x = batch_uint8.astype(np.float32) * np.float32(1.0 / 255.0)
    x -= np.asarray(p.mean, dtype=np.float32)
    x /= np.asarray(p.std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def preprocess_frames(frames: Iterable[np.ndarray], p: Preprocess) -> np.ndarray:
    """BGR uint8 frames -> the model's input batch, (N, 3, size, size) float32."""
    prepared = [prepare_uint8(f, p) for f in frames]
    if not prepared:
        return np.zeros((0, 3, p.size, p.size), np.float32)
    return normalize(np.stack(prepared), p)


def preprocess_paths(paths: Iterable[str | os.PathLike], p: Preprocess) -> np.ndarray:
    return preprocess_frames((read_image(x) for x in paths), p)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
