"""Eval preprocessing, written once with OpenCV and numpy (and a torch twin of the last step).

Training evaluation, calibration, export verification and every runtime backend call these same
functions, so the tensors a deployed model sees are the tensors it was validated on. Training holds
its decoded batches as torch tensors on its device: ``normalize_tensor`` is ``normalize`` for those,
equal to it element for element (tests/test_preprocess.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import cv2
import numpy as np

from edgetl.errors import DataError
from edgetl.spec import Preprocess

if TYPE_CHECKING:
    import torch

# spec.INTERPOLATIONS -> OpenCV filter (when shrinking, when enlarging or keeping the size)
CV2_INTERPOLATION = {
    "area": (cv2.INTER_AREA, cv2.INTER_LINEAR),
    "linear": (cv2.INTER_LINEAR, cv2.INTER_LINEAR),
    "cubic": (cv2.INTER_CUBIC, cv2.INTER_CUBIC),
}

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


def _interp(p: Preprocess, src: int, dst: int) -> int:
    shrink, enlarge = CV2_INTERPOLATION[p.interpolation]
    return shrink if dst < src else enlarge


def resize_square(img: np.ndarray, p: Preprocess) -> np.ndarray:
    """Resize to ``p.resize`` x ``p.resize`` following ``p.resize_mode`` with ``p.interpolation``."""
    h, w = img.shape[:2]
    r = p.resize
    if p.resize_mode == "stretch":
        return cv2.resize(img, (r, r), interpolation=_interp(p, max(h, w), r))
    scale = r / min(h, w)
    nh, nw = max(r, round(h * scale)), max(r, round(w * scale))
    img = cv2.resize(img, (nw, nh), interpolation=_interp(p, min(h, w), r))
    y, x = (nh - r) // 2, (nw - r) // 2
    return img[y : y + r, x : x + r]


def center_crop(img, size: int):
    """The centre ``size`` x ``size`` of (H, W, C) or a batch (N, H, W, C): numpy array or torch tensor."""
    h, w = img.shape[-3:-1]
    y, x = (h - size) // 2, (w - size) // 2
    return img[..., y : y + size, x : x + size, :]


def to_model_colour(img_bgr: np.ndarray, p: Preprocess) -> np.ndarray:
    return np.ascontiguousarray(img_bgr[..., ::-1]) if p.color == "RGB" else img_bgr


def resized_uint8(img_bgr: np.ndarray, p: Preprocess, roi: Sequence[int] | None = None) -> np.ndarray:
    """BGR frame -> (resize, resize, 3) uint8 in the model's colour order: everything before the crop
    (what training decodes once and keeps, cropping at random for augmentation or centred for eval)."""
    if img_bgr.ndim == 2:
        img_bgr = cv2.cvtColor(img_bgr, cv2.COLOR_GRAY2BGR)
    return to_model_colour(resize_square(crop_roi(img_bgr, roi), p), p)


def prepare_uint8(img_bgr: np.ndarray, p: Preprocess, roi: Sequence[int] | None = None) -> np.ndarray:
    """BGR frame -> (size, size, 3) uint8 in the model's colour order, before normalisation."""
    return center_crop(resized_uint8(img_bgr, p, roi), p.size)


def normalize(batch_uint8: np.ndarray, p: Preprocess) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 normalised with the model's mean and std."""
    x = batch_uint8.astype(np.float32) * np.float32(1.0 / 255.0)
    x -= np.asarray(p.mean, dtype=np.float32)
    x /= np.asarray(p.std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def unit_tensor(batch_uint8: "torch.Tensor") -> "torch.Tensor":
    """Torch twin of ``normalize``'s first step: (N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [0, 1]."""
    return batch_uint8.permute(0, 3, 1, 2).float() * (1.0 / 255.0)


def standardize_tensor(x01: "torch.Tensor", p: Preprocess) -> "torch.Tensor":
    """Torch twin of ``normalize``'s last step: (N, 3, H, W) float in [0, 1] -> minus mean, over std."""
    mean = x01.new_tensor(p.mean).view(1, 3, 1, 1)
    std = x01.new_tensor(p.std).view(1, 3, 1, 1)
    return (x01 - mean) / std


def normalize_tensor(batch_uint8: "torch.Tensor", p: Preprocess) -> "torch.Tensor":
    """``normalize`` for torch tensors on any device, element for element the same result."""
    return standardize_tensor(unit_tensor(batch_uint8), p)


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
