"""Shared fixtures: tiny image trees and tiny models, so the suite runs on two CPU cores in minutes."""

from __future__ import annotations

import importlib.util
import os
import platform
from pathlib import Path

import pytest

from helpers import make_image_tree, train_tiny_model

os.environ.setdefault("EDGETL_OFFLINE", "1")  # never try a download from the test suite
# Tiny models gain nothing from threads, and tests that start several torch processes on a 2-core
# machine slow down many times over when each spins up its own OpenMP pool.
os.environ.setdefault("OMP_NUM_THREADS", "1")


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


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Session-wide read-only copy of a tiny train/val/test/calib tree (do not modify it)."""
    root = tmp_path_factory.mktemp("tiny") / "data"
    classes = ["circle_red", "square_green", "triangle_blue"]
    for split, n, seed in (("train", 12, 1), ("val", 6, 2), ("test", 6, 3), ("calib", 6, 4)):
        make_image_tree(root / split, classes, n, seed=seed)
    return root


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_data) -> Path:
    """A session-wide ``run/model.pt`` (mobilenet_v3_small, 3 classes, 32x32), trained briefly."""
    run = tmp_path_factory.mktemp("tinyrun")
    return train_tiny_model(run / "model.pt", tiny_data, sorted(p.name for p in (tiny_data / "train").iterdir()))
