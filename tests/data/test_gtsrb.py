"""The GTSRB reader on a tiny fixture written in exactly the official layout."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgetl.data import gtsrb
from edgetl.data.layouts import load_dataset
from edgetl.errors import DataError

HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\r\n"


def _write_ppm(path: Path, w: int, h: int, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((h, w, 3), value, np.uint8))


def make_gtsrb(root: Path, class_ids=(0, 14, 17), tracks: int = 4, views: int = 3,
               test_labels: bool = True) -> Path:
    """Final_Training/Images/000NN/{TTTTT_VVVVV.ppm, GT-000NN.csv} + Final_Test/Images/{NNNNN.ppm, GT csvs}."""
    train = root / "Final_Training" / "Images"
    for cid in class_ids:
        d = train / f"{cid:05d}"
        lines = [HEADER]
        for t in range(tracks):
            for v in range(views):
                name = f"{t:05d}_{v:05d}.ppm"
                _write_ppm(d / name, 30 + v, 32, 10 * cid)
                lines.append(f"{name};{30 + v};32;5;6;{24 + v};25;{cid}\r\n")
        (d / f"GT-{cid:05d}.csv").write_text("".join(lines))
    test = root / "Final_Test" / "Images"
    lines, unlabelled = [HEADER], [HEADER.replace(";ClassId", "")]
    for i, cid in enumerate(class_ids * 2):
        name = f"{i:05d}.ppm"
        _write_ppm(test / name, 40, 40, 10 * cid)
        lines.append(f"{name};40;40;5;5;34;34;{cid}\r\n")
        unlabelled.append(f"{name};40;40;5;5;34;34\r\n")
    (test / "GT-final_test.test.csv").write_text("".join(unlabelled))
    if test_labels:
        (test / "GT-final_test.csv").write_text("".join(lines))
    return root


def test_official_layout_is_detected_and_read(tmp_path):
    root = make_gtsrb(tmp_path / "GTSRB")
    assert gtsrb.is_gtsrb_root(root)
    assert gtsrb.is_gtsrb_root(root / "Final_Training" / "Images")
    data = load_dataset(root, val_fraction=0.25, seed=0)
    assert data.layout == "gtsrb"
    assert data.classes == ["speed_limit_20", "stop", "no_entry"]
    assert set(data.splits) == {"train", "val", "test"}
    assert len(data.splits["train"]) + len(data.splits["val"]) == 3 * 4 * 3
    assert len(data.splits["test"]) == 6
    # the test csv's ClassIds map onto the same class indices as training
    assert [s.label for s in data.splits["test"]] == [0, 1, 2, 0, 1, 2]


def test_roi_becomes_exclusive_and_tracks_stay_together(tmp_path):
    data = gtsrb.load_gtsrb(make_gtsrb(tmp_path / "g"), val_fraction=0.25, seed=3)
    s = next(s for s in data.splits["train"] + data.splits["val"] if s.path.name == "00001_00002.ppm")
    assert s.roi == (5, 6, 27, 26)  # Roi.X2 = 26 and Roi.Y2 = 25 are inclusive
    tracks = {split: {x.group for x in samples} for split, samples in data.splits.items() if split != "test"}
    assert tracks["val"] and not tracks["train"] & tracks["val"]
    assert len(data.splits["val"]) % 3 == 0  # whole tracks of 3 views


def test_split_is_deterministic_for_a_seed(tmp_path):
    root = make_gtsrb(tmp_path / "g", tracks=6)
    a = gtsrb.load_gtsrb(root, 0.3, seed=1).splits["val"]
    b = gtsrb.load_gtsrb(root, 0.3, seed=1).splits["val"]
    assert [s.path for s in a] == [s.path for s in b]


def test_train_test_children_and_labels_txt(tmp_path):
    root = tmp_path / "signs"
    make_gtsrb(tmp_path / "tmp", class_ids=(0, 1))
    root.mkdir()
    (tmp_path / "tmp" / "Final_Training" / "Images").rename(root / "train")
    (root / "labels.txt").write_text("round\nsquare\n")
    data = load_dataset(root, val_fraction=0.5, seed=0)
    assert data.layout == "gtsrb"
    assert data.classes == ["round", "square"]
    assert "test" not in data.splits


def test_unlabelled_official_test_csv_is_not_used(tmp_path, caplog):
    root = make_gtsrb(tmp_path / "g", test_labels=False)
    data = gtsrb.load_gtsrb(root, 0.25, 0)
    assert "test" not in data.splits
    assert any("no ClassId" in n for n in data.notes)


def test_row_pointing_at_missing_file_is_a_logged_skip(tmp_path, caplog):
    root = make_gtsrb(tmp_path / "g")
    csv_path = root / "Final_Training" / "Images" / "00014" / "GT-00014.csv"
    csv_path.write_text(csv_path.read_text() + "00099_00000.ppm;30;32;5;6;24;25;14\r\n")
    with caplog.at_level(logging.WARNING):
        data = gtsrb.load_gtsrb(root, 0.25, 0)
    assert len(data.splits["train"]) + len(data.splits["val"]) == 36
    assert "skipped 1 row" in caplog.text


def test_root_that_is_the_training_folder(tmp_path):
    root = make_gtsrb(tmp_path / "g") / "Final_Training" / "Images"
    data = load_dataset(root, val_fraction=0.25)
    assert set(data.splits) == {"train", "val"}


def test_imagefolder_tree_is_not_gtsrb(tiny_data):
    assert not gtsrb.is_gtsrb_root(tiny_data)


def test_bad_csv_row_is_a_one_line_error(tmp_path):
    root = make_gtsrb(tmp_path / "g")
    csv_path = root / "Final_Training" / "Images" / "00000" / "GT-00000.csv"
    csv_path.write_text(HEADER + "00000_00000.ppm;30;32;five;6;24;25;0\r\n")
    with pytest.raises(DataError, match="line 2"):
        gtsrb.load_gtsrb(root, 0.25, 0)


def test_written_csv_roundtrips(tmp_path):
    d = tmp_path / "t" / "00003"
    rows = []
    for t in range(2):
        _write_ppm(d / f"{t:05d}_00000.ppm", 20, 20, 50)
        rows.append((f"{t:05d}_00000.ppm", 20, 20, (2, 3, 18, 17), 3))
    (d / "GT-00003.csv").write_text(gtsrb.format_gt_csv(rows))
    data = gtsrb.load_gtsrb(tmp_path / "t", val_fraction=0.5, seed=0)
    assert [s.roi for s in data.splits["train"] + data.splits["val"]] == [(2, 3, 18, 17)] * 2
    assert data.classes == ["speed_limit_60"]


def test_roi_outside_the_image_is_a_counted_skip_as_in_the_kaggle_layout(tmp_path, caplog):
    root = make_gtsrb(tmp_path / "g")
    csv_path = root / "Final_Training" / "Images" / "00014" / "GT-00014.csv"
    csv_path.write_text(csv_path.read_text() + "00000_00000.ppm;30;32;5;6;30;25;14\r\n")  # X2 30 of a 30-wide image
    with caplog.at_level(logging.WARNING):
        data = gtsrb.load_gtsrb(root, 0.25, 0)
    assert len(data.splits["train"]) + len(data.splits["val"]) == 36
    assert [s.why for s in data.skipped["train"]] == ["box outside the image"]
    assert "GT-00014.csv line 14" in data.skipped["train"][0].where and "skipped 1 row" in caplog.text
