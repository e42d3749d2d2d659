"""Shared fixtures: tiny image trees and tiny models, so the suite runs on two CPU cores in minutes."""

from __future__ import annotations

import importlib.util
import os
import platform
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("EDGETL_OFFLINE", "1")  # never try a download from the test suite


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    reasons = {
        "tensorrt": None if importlib.util.find_spec("tensorrt") else "TensorRT is not installed on this machine",
        "cuda": None if _has_cuda() else "no CUDA GPU on this machine",
        "jetson": None if os.path.exists("/etc/nv_tegra_release") and platform.machine() == "aarch64"
        else "not an NVIDIA Jetson",
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def draw_class_image(cls: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A BGR image whose class is easy to learn: a coloured shape per class, on noise."""
    img = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
    colour = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0)][cls % 6]
    c, r = size // 2 + int(rng.integers(-2, 3)), size // 3 + int(rng.integers(-1, 2))
    if cls % 3 == 0:
        cv2.circle(img, (c, c), r, colour, -1)
    elif cls % 3 == 1:
        cv2.rectangle(img, (c - r, c - r), (c + r, c + r), colour, -1)
    else:
        pts = np.array([[c, c - r], [c - r, c + r], [c + r, c + r]], np.int32)
        cv2.fillPoly(img, [pts], colour)
    return img


def make_image_tree(root: Path, classes: list[str], per_class: int, seed: int = 0, size: int = 32,
                    ext: str = ".png") -> Path:
    rng = np.random.default_rng(seed)
    for ci, name in enumerate(classes):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(str(d / f"{i:04d}{ext}"), draw_class_image(ci, rng, size))
    return root


@pytest.fixture
def tiny_classes() -> list[str]:
    return ["circle_red", "square_green", "triangle_blue"]


@pytest.fixture
def tiny_splits(tmp_path, tiny_classes) -> Path:
    """An ImageFolder tree with train/, val/ and test/, three classes of 32x32 images."""
    root = tmp_path / "data"
    make_image_tree(root / "train", tiny_classes, 12, seed=1)
    make_image_tree(root / "val", tiny_classes, 6, seed=2)
    make_image_tree(root / "test", tiny_classes, 6, seed=3)
    make_image_tree(root / "calib", tiny_classes, 6, seed=4)
    return root
