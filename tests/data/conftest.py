"""Tiny data trees in the layouts users download: GTSRB as the Kaggle mirror ships it."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import make_gtsrb_csv


@pytest.fixture(name="make_gtsrb_csv", scope="session")
def make_gtsrb_csv_fixture():
    """The ``make_gtsrb_csv`` function, for tests that write a tree of their own."""
    return make_gtsrb_csv


@pytest.fixture(scope="session")
def gtsrb_csv_tree(tmp_path_factory) -> Path:
    """Session-wide read-only Kaggle-mirror GTSRB tree: 43 classes, 2 tracks of 2 views each, 1 test image each."""
    return make_gtsrb_csv(tmp_path_factory.mktemp("kaggle") / "gtsrb")
