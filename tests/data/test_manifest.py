"""A manifest (CSV or JSON lines: path,label[,split][,group][,x1,y1,x2,y2]) as DATA."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from edgetl.data.layouts import detect_layouts, load_dataset
from edgetl.errors import DataError
from helpers import make_image_tree

CLASSES = ["stop", "yield", "no_entry"]


@pytest.fixture
def images(tmp_path) -> Path:
    """tmp_path/photos/<class>/000N.png, 8 per class, 32x32; manifests sit in tmp_path."""
    make_image_tree(tmp_path / "photos", CLASSES, 8)
    return tmp_path


def _files(root: Path) -> list[tuple[str, str]]:
    return [(f"photos/{c}/{i:04d}.png", c) for c in CLASSES for i in range(8)]


def _write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_csv_with_path_and_label_is_split_stratified(images):
    m = _write_csv(images / "labels.csv", "path,label", [f"{p},{c}" for p, c in _files(images)])
    assert detect_layouts(m) == ["manifest"]
    data = load_dataset(m, val_fraction=0.25, test_fraction=0.25, seed=3)
    assert data.layout == "manifest" and data.root == m
    assert data.classes == sorted(CLASSES)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 12, "val": 6, "test": 6}
    for samples in data.splits.values():
        assert sorted({s.label for s in samples}) == [0, 1, 2]  # stratified: every class in every split
    seen = {s.path: data.classes[s.label] for ss in data.splits.values() for s in ss}
    assert seen == {images / p: c for p, c in _files(images)}  # paths relative to the manifest's folder
    again = load_dataset(m, val_fraction=0.25, test_fraction=0.25, seed=3)
    assert [s.path for s in again.splits["val"]] == [s.path for s in data.splits["val"]]


def test_jsonl_with_the_same_keys(images):
    m = images / "labels.jsonl"
    m.write_text("".join(json.dumps({"path": p, "label": c, "split": "val" if p.endswith("7.png") else "train"}) + "\n"
                         for p, c in _files(images)))
    data = load_dataset(m)
    assert data.layout == "manifest"
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 21, "val": 3}


def test_split_column_pins_rows_and_empty_cells_are_split(images):
    rows = []
    for p, c in _files(images):
        i = int(p[-8:-4])
        rows.append(f"{p},{c},{'test' if i == 0 else 'calib' if i == 1 else ''}")
    m = _write_csv(images / "labels.csv", "path,label,split", rows)
    data = load_dataset(m, val_fraction=0.25)
    assert [s.path.name for s in data.splits["test"]] == ["0000.png"] * 3
    assert [s.path.name for s in data.splits["calib"]] == ["0001.png"] * 3
    assert len(data.splits["train"]) + len(data.splits["val"]) == 18 and len(data.splits["val"]) >= 3


def test_groups_stay_in_one_split(images):
    rows = [f"{p},{c},{c}-{int(p[-8:-4]) // 2}" for p, c in _files(images)]  # 4 groups of 2 per class
    m = _write_csv(images / "labels.csv", "Path,Label,Group", rows)
    data = load_dataset(m, val_fraction=0.25, seed=1)
    groups = {split: {s.group for s in ss} for split, ss in data.splits.items()}
    assert not groups["train"] & groups["val"] and len(data.splits["val"]) == 6


def test_boxes_become_rois_and_aliases_are_accepted(images):
    m = _write_csv(images / "boxes.csv", "filename,class,xmin,ymin,xmax,ymax",
                   [f"{p},{c},2,3,30,31" if c == "stop" else f"{p},{c},,,," for p, c in _files(images)])
    data = load_dataset(m, val_fraction=0.25)
    rois = {data.classes[s.label]: s.roi for ss in data.splits.values() for s in ss}
    assert rois == {"stop": (2, 3, 30, 31), "yield": None, "no_entry": None}


def test_semicolons_numeric_labels_and_labels_txt(images):
    rows = [f"{p};{CLASSES.index(c) * 5}" for p, c in _files(images)]  # labels 0, 5, 10
    m = _write_csv(images / "labels.csv", "image;category", rows)
    assert load_dataset(m, val_fraction=0.25).classes == ["0", "5", "10"]  # by number, not "0", "10", "5"
    (images / "labels.txt").write_text("10\n5\n0\n15\n")
    assert load_dataset(m, val_fraction=0.25).classes == ["10", "5", "0", "15"]
    (images / "labels.txt").write_text("10\n5\n")
    with pytest.raises(DataError, match=r"label\(s\) \['0'\] are not in .*labels.txt"):
        load_dataset(m, val_fraction=0.25)


def test_bad_rows_are_counted_skips(images, caplog):
    rows = [f"{p},{c},1,1,20,20" for p, c in _files(images)]
    rows += ["photos/stop/9999.png,stop,1,1,20,20",  # no such file
             "photos/stop/0000.png,stop,1,1,40,20",  # past the right edge of a 32x32 image
             "photos/stop/0001.png,stop,10,1,5,20",  # x2 left of x1
             "photos/stop/0002.png,stop,1,1,20,",  # three of four box cells
             "photos/stop/0003.png,,1,1,20,20",  # no label
             ",stop,1,1,20,20"]  # no path
    m = _write_csv(images / "labels.csv", "path,label,x1,y1,x2,y2", rows)
    with caplog.at_level(logging.WARNING):
        data = load_dataset(m, val_fraction=0.25)
    assert sum(len(v) for v in data.splits.values()) == 24
    why = [s.why for s in data.skipped["train"]]
    assert why == ["image file missing", "box outside the image", "empty box", "partial box", "no label",
                   "no image path"]
    assert [s.where for s in data.skipped["train"]] == [f"{m} line {n}" for n in range(26, 32)]
    assert "in 32x32" in str(data.skipped["train"][1])
    assert "skipped 6 row(s) of 30" in caplog.text


@pytest.mark.parametrize("header, rows, message", [
    ("path,name", ["photos/stop/0000.png,stop"],
     "no label column (accepted names: label, class, class_name, category); its columns are path, name"),
    ("photos/stop/0000.png,stop", ["photos/stop/0001.png,stop"],
     "no image path column (accepted names: path, file, filename, image); its columns are photos/stop/0000.png, "
     "stop; the first line must name the columns"),
    ("path,label,class", ["photos/stop/0000.png,stop,stop"], "columns label, class are all label columns"),
    ("path,label,x1,y1", ["photos/stop/0000.png,stop,1,1"], "box columns x1,y1 without x2,y2"),
    ("path,label,split", ["photos/stop/0000.png,stop,training"], "line 2: split 'training' is not one of"),
    ("path,label,x1,y1,x2,y2", ["photos/stop/0000.png,stop,a,1,2,3"], "line 2: box a,1,2,3 is not four numbers"),
    ("path,label,x1,y1,x2,y2", ["photos/stop/0000.png,stop,0.1,0.1,0.5,0.5"], "looks normalised to 0..1"),
    ("Width,Height,Roi.X1,Roi.Y1,Roi.X2,Roi.Y2,ClassId,Path", ["30,30,5,5,24,24,14,Train/14/x.png"],
     "this is a GTSRB table: give the folder that holds it"),
    ("path,label,split", ["photos/stop/0000.png,stop,train", "photos/yield/0000.png,yield,val",
                          "photos/stop/0001.png,stop,val"], "class(es) ['yield'] have rows only outside the train"),
])
def test_unusable_files_are_one_line_errors(images, header, rows, message):
    m = _write_csv(images / "labels.csv", header, rows)
    with pytest.raises(DataError, match=re.escape(message)) as e:
        load_dataset(m)
    assert "\n" not in str(e.value) and str(m) in str(e.value)


def test_broken_json_line_and_empty_file(images):
    m = images / "labels.jsonl"
    m.write_text('{"path": "photos/stop/0000.png", "label": "stop"}\n{"path": "photos/stop/0001.png",\n')
    with pytest.raises(DataError, match="line 2: not JSON"):
        load_dataset(m)
    m.write_text("")
    with pytest.raises(DataError, match="is empty: a manifest needs a header line"):
        load_dataset(m)
