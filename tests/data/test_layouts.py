"""Which layout a data folder is in: one entry per layout, exactly one match, and room for new entries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgetl.data import gtsrb
from edgetl.data.layouts import LAYOUTS, Layout, detect_layouts, load_dataset
from edgetl.data.samples import Sample, SplitData
from edgetl.errors import DataError
from helpers import make_image_tree


def _gtsrb_tree(root: Path) -> Path:
    """The smallest official GTSRB training folder: one class folder, two tracks, its GT csv."""
    d = root / "00014"
    d.mkdir(parents=True)
    rows = []
    for t in range(2):
        name = f"{t:05d}_00000.ppm"
        assert cv2.imwrite(str(d / name), np.full((20, 20, 3), 90, np.uint8))
        rows.append((name, 20, 20, (2, 2, 18, 18), 14))
    (d / "GT-00014.csv").write_text(gtsrb.format_gt_csv(rows))
    return root


def test_the_layouts_and_their_names(tiny_data, tmp_path):
    assert LAYOUTS.names() == ("gtsrb", "imagefolder", "class-tree", "gtsrb-csv", "manifest")
    tree = make_image_tree(tmp_path / "tree", ["a", "b"], 6)
    assert detect_layouts(tiny_data) == ["imagefolder"]
    assert detect_layouts(tree) == ["class-tree"]
    assert detect_layouts(_gtsrb_tree(tmp_path / "g")) == ["gtsrb"]
    assert load_dataset(tiny_data).layout == "imagefolder"
    data = load_dataset(tree, val_fraction=0.5)
    assert data.layout == "class-tree" and data.classes == ["a", "b"]


def test_gtsrb_under_train_wins_over_the_plain_split_tree(tmp_path):
    root = tmp_path / "signs"
    _gtsrb_tree(root / "train")  # train/00014/GT-00014.csv also looks like an imagefolder tree
    assert detect_layouts(root) == ["gtsrb"]
    data = load_dataset(root, val_fraction=0.5)
    assert data.layout == "gtsrb" and all(s.roi for s in data.splits["train"])


def _marker_layout(name: str, marker: str) -> Layout:
    def load(root: Path, *, val_fraction: float, test_fraction: float, seed: int) -> SplitData:
        files = sorted(root.rglob("*.png"))
        half = len(files) // 2
        return SplitData(["x"], {"train": [Sample(p, 0) for p in files[:half]],
                                 "val": [Sample(p, 0) for p in files[half:]]}, "", root, [f"seed {seed}"])

    return Layout(name, f"a {marker} file beside the images", detect=lambda root: (root / marker).is_file(),
                  load=load)


def test_a_registered_layout_is_used_by_load_dataset(tmp_path):
    root = make_image_tree(tmp_path / "d", ["a", "b"], 4)  # also a class tree: the new layout is more specific
    (root / "list.fake").write_text("a/0000.png\n")
    with LAYOUTS.temporarily("fake", _marker_layout("fake", "list.fake")):
        assert detect_layouts(root) == ["fake"]
        data = load_dataset(root, seed=7)
        assert data.layout == "fake" and data.classes == ["x"] and data.notes == ["seed 7"]
    assert "fake" not in LAYOUTS
    assert load_dataset(root, val_fraction=0.5).layout == "class-tree"


def test_two_matching_layouts_are_an_error_naming_both(tmp_path):
    root = _gtsrb_tree(tmp_path / "g")
    (root / "list.fake").write_text("")
    with LAYOUTS.temporarily("fake", _marker_layout("fake", "list.fake")):
        with pytest.raises(DataError, match=r"several data layouts \(gtsrb, fake\)") as e:
            load_dataset(root)
    assert "\n" not in str(e.value)


def test_no_layout_is_an_error_listing_what_is_read(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="has no class folders") as e:
        load_dataset(tmp_path / "empty")
    assert all(name in str(e.value) for name in LAYOUTS)
    with pytest.raises(DataError, match="no such data folder"):
        load_dataset(tmp_path / "nowhere")


def test_a_file_is_asked_only_of_file_layouts(tmp_path):
    """A folder layout never claims a file (nor a manifest a folder): the two kinds cannot collide."""
    tree = make_image_tree(tmp_path / "tree", ["a", "b"], 2)
    listing = tree / "labels.csv"
    listing.write_text("path,label\na/0000.png,a\n")
    assert detect_layouts(listing) == ["manifest"]
    assert detect_layouts(tree) == ["class-tree"]
    picture = tmp_path / "photo.png"
    assert cv2.imwrite(str(picture), np.zeros((8, 8, 3), np.uint8))
    assert detect_layouts(picture) == []
    with pytest.raises(DataError, match="is a file but not a manifest") as e:
        load_dataset(picture)
    assert "manifest: a CSV or JSON-lines file" in str(e.value) and "gtsrb" not in str(e.value)


def test_readers_never_import_the_generator():
    code = ("import importlib, pkgutil, sys, edgetl.data\n"
            "for m in pkgutil.walk_packages(edgetl.data.__path__, 'edgetl.data.'):\n"
            "    importlib.import_module(m.name)\n"
            "print(sorted(n for n in sys.modules if n.startswith('edgetl.synth')))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]"


@pytest.mark.parametrize("splits", [("val", "test"), ("calib",)])
def test_split_folders_without_train_are_a_missing_split(tmp_path, splits):
    for name in splits:
        make_image_tree(tmp_path / name, ["a", "b"], 2)
    assert detect_layouts(tmp_path) == ["imagefolder"]  # not a class tree of the classes val and test
    with pytest.raises(DataError, match=f"has {' and '.join(s + '/' for s in splits)} but no train/"):
        load_dataset(tmp_path)
