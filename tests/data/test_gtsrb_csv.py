"""GTSRB as the Kaggle mirror ships it (Train.csv + Train/0..42/, Test.csv + Test/, Meta/): the gtsrb-csv layout."""

from __future__ import annotations

import logging
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from helpers import write_png

from edgetl.data import gtsrb
from edgetl.data.layouts import detect_layouts, load_dataset
from edgetl.errors import DataError


def _rows(table: Path) -> list[list[str]]:
    return [ln.split(",") for ln in table.read_text().splitlines()[1:]]


def test_read_with_gtsrb_names_boxes_tracks_and_test_csv(gtsrb_csv_tree):
    assert detect_layouts(gtsrb_csv_tree) == ["gtsrb-csv"]
    data = load_dataset(gtsrb_csv_tree, val_fraction=0.5, seed=0)
    assert data.layout == "gtsrb-csv"
    assert data.classes == list(gtsrb.GTSRB_CLASSES)  # ClassId order, not the folder names "0", "1", "10", ...
    train, val, test = data.splits["train"], data.splits["val"], data.splits["test"]
    assert len(train) + len(val) == 43 * 4 and not data.skipped
    by_path = {s.path.relative_to(gtsrb_csv_tree).as_posix(): s for s in train + val}
    for w, h, x1, y1, x2, y2, cid, rel in _rows(gtsrb_csv_tree / "Train.csv"):
        s = by_path[rel]
        assert s.label == int(cid) and s.roi == (int(x1), int(y1), int(x2) + 1, int(y2) + 1)  # X2, Y2 inclusive
    tracks = defaultdict(set)
    for split, samples in (("train", train), ("val", val)):
        for s in samples:
            tracks[s.group].add(split)
    assert len(tracks) == 43 * 2 and all(len(splits) == 1 for splits in tracks.values())
    assert {s.label for s in val} == set(range(43))  # every class is held out, a whole track of it
    assert [s.label for s in test] == [int(r[6]) for r in _rows(gtsrb_csv_tree / "Test.csv")]
    assert all(s.roi == (6, 6, 24, 25) for s in test)
    assert any("Meta" in n and "not used" in n for n in data.notes)


def test_the_train_folder_itself_is_recognised_without_test(gtsrb_csv_tree):
    assert detect_layouts(gtsrb_csv_tree / "Train") == ["gtsrb-csv"]
    data = load_dataset(gtsrb_csv_tree / "Train", val_fraction=0.5)
    assert data.layout == "gtsrb-csv" and len(data.classes) == 43
    assert set(data.splits) == {"train", "val"}
    assert any("Test.csv is not used" in n for n in data.notes)


def test_without_train_csv_it_is_not_this_layout(tmp_path, make_gtsrb_csv):
    root = make_gtsrb_csv(tmp_path / "g", class_ids=(0, 1))
    (root / "Train.csv").unlink()
    assert "gtsrb-csv" not in detect_layouts(root)
    assert "gtsrb-csv" not in detect_layouts(root / "Train")


def test_a_folder_in_both_gtsrb_layouts_is_ambiguous(tmp_path, make_gtsrb_csv):
    root = make_gtsrb_csv(tmp_path / "g", class_ids=(0, 1))
    official = root / "Final_Training" / "Images" / "00000"  # the official archive unpacked into the same folder
    write_png(official / "00000_00000.ppm", 20, 20, 1)
    (official / "GT-00000.csv").write_text(gtsrb.format_gt_csv([("00000_00000.ppm", 20, 20, (2, 2, 18, 18), 0)]))
    with pytest.raises(DataError, match=r"several data layouts \(gtsrb, gtsrb-csv\)") as e:
        load_dataset(root)
    assert "\n" not in str(e.value)


def test_subset_of_classes_and_labels_txt(tmp_path, make_gtsrb_csv):
    root = make_gtsrb_csv(tmp_path / "g", class_ids=(0, 14, 17))
    data = load_dataset(root, val_fraction=0.5)
    assert data.classes == ["speed_limit_20", "stop", "no_entry"]
    assert sorted({s.label for s in data.splits["test"]}) == [0, 1, 2]
    (root / "labels.txt").write_text("\n".join(f"sign {i}" for i in range(20)) + "\n")
    assert load_dataset(root, val_fraction=0.5).classes == ["sign 0", "sign 14", "sign 17"]


def test_paths_without_the_train_folder_are_found(tmp_path, make_gtsrb_csv):
    root = make_gtsrb_csv(tmp_path / "g", class_ids=(3, 4))
    table = root / "Train.csv"
    table.write_text(table.read_text().replace(",Train/", ","))  # Path "3/00003_00000_00000.png"
    data = load_dataset(root, val_fraction=0.5)
    assert len(data.splits["train"]) + len(data.splits["val"]) == 8 and not data.skipped


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("Roi.X2,", "X2,", 1), "has no column(s) Roi.X2"),
    (lambda t: t.replace(",20,", ",twenty,", 1), "line 2: bad row"),
    (lambda t: t + "26,28,5,5,20,22,43,Train/0/00000_00000_00000.png\r\n", "line 10: ClassId 43 is out of range"),
    (lambda t: t + "26,28,5,5,20,22,-1,Train/0/00000_00000_00000.png\r\n", "line 10: ClassId -1 is out of range"),
])
def test_bad_tables_are_one_line_errors(tmp_path, make_gtsrb_csv, edit, message):
    root = make_gtsrb_csv(tmp_path / "g", class_ids=(0, 1))
    table = root / "Train.csv"
    table.write_text(edit(table.read_text()))
    with pytest.raises(DataError, match=re.escape(message)) as e:
        load_dataset(root, val_fraction=0.5)
    assert "\n" not in str(e.value) and "Train.csv" in str(e.value)


def test_missing_files_and_boxes_outside_the_image_are_counted_skips(tmp_path, make_gtsrb_csv, caplog):
    root = make_gtsrb_csv(tmp_path / "g", class_ids=(0, 1))
    with open(root / "Train.csv", "a") as f:
        f.write("26,28,5,5,20,22,0,Train/0/00000_00009_00000.png\r\n")  # no such file
        f.write("26,28,5,5,26,22,1,Train/1/00001_00000_00000.png\r\n")  # inclusive X2 26 is past a 26-wide image
        f.write("26,28,9,5,8,22,1,Train/1/00001_00001_00000.png\r\n")  # X2 left of X1
    shutil.rmtree(root / "Test")  # every test row now points at a missing file
    with caplog.at_level(logging.WARNING):
        data = load_dataset(root, val_fraction=0.5)
    assert len(data.splits["train"]) + len(data.splits["val"]) == 8
    train_skips = data.skipped["train"]
    assert [s.why for s in train_skips] == ["image file missing", "box outside the image", "empty box"]
    assert [s.where.rsplit(" ", 1)[-1] for s in train_skips] == ["10", "11", "12"]
    assert "26x28" in str(train_skips[1])
    assert [s.why for s in data.skipped["test"]] == ["image file missing"] * 2 and not data.splits["test"]
    assert "skipped 3 row(s) of 11: 1 image file missing, 1 box outside the image, 1 empty box" in caplog.text


def test_track_rule_is_shared_by_both_gtsrb_layouts():
    assert gtsrb.track_of(Path("Train/20/00020_00007_00003.png"), 20) == "00020/00007"  # class, track, view
    assert gtsrb.track_of(Path("00020/00007_00003.ppm"), 20) == "00020/00007"  # track, view
    assert gtsrb.track_of(Path("Test/00042.png"), 3) is None
    assert gtsrb.track_of(Path("stop_sign_1.png"), 3) is None
