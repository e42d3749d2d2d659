"""Read (and write) the official GTSRB layout.

Training: class folders ``00000/`` .. ``00042/``, each with ``TTTTT_VVVVV.ppm`` images (track, view)
and ``GT-000NN.csv`` (``Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId``). Test: a flat
folder of images with ``GT-final_test.csv`` (same columns). GTSRB ships the test folder with
``GT-final_test.test.csv``, which has no ClassId; the labelled ``GT-final_test.csv`` comes separately.

The root may be the training folder itself, or a folder holding ``Final_Training/Images`` (+
``Final_Test/Images``) or ``train/`` (+ ``test/``, ``val/``, ``calib/``). ROI boxes (inclusive in
GTSRB) become exclusive ``Sample.roi``; tracks become ``Sample.group`` so a split never separates the
views of one sign. A row whose image is missing or whose ROI leaves the image is skipped and counted
(``SplitData.skipped``); unreadable images are not checked here (the trainer skips and counts them).

The GTSRB conventions (``GTSRB_CLASSES``, ``class_names``, ``index_classes``, ``roi_of``, ``size_of``,
``row_problem``, ``track_of``, ``to_samples``) are shared with ``gtsrb_csv``, the Kaggle mirror's layout.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from edgetl.data.samples import (Sample, Skip, SplitData, hold_out_val, note_skips, read_labels_file,
                                 roi_problem)
from edgetl.errors import DataError

log = logging.getLogger(__name__)

COLUMNS = ("Filename", "Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId")

# The 43 GTSRB classes in ClassId order.
GTSRB_CLASSES: tuple[str, ...] = (
    "speed_limit_20", "speed_limit_30", "speed_limit_50", "speed_limit_60", "speed_limit_70",
    "speed_limit_80", "end_of_speed_limit_80", "speed_limit_100", "speed_limit_120", "no_overtaking",
    "no_overtaking_trucks", "right_of_way_at_next_intersection", "priority_road", "yield", "stop",
    "no_vehicles", "no_trucks", "no_entry", "general_caution", "dangerous_curve_left",
    "dangerous_curve_right", "double_curve", "bumpy_road", "slippery_road", "road_narrows_right",
    "road_works", "traffic_signals", "pedestrians", "children_crossing", "bicycles_crossing",
    "ice_or_snow", "wild_animals_crossing", "end_of_all_restrictions", "turn_right_ahead",
    "turn_left_ahead", "ahead_only", "ahead_or_right", "ahead_or_left", "keep_right", "keep_left",
    "roundabout", "end_of_no_overtaking", "end_of_no_overtaking_trucks",
)

_CLASS_DIR = re.compile(r"^\d{5}$")
_TRAIN_CHILDREN = (("Final_Training", "Images"), ("train",))
_SPLIT_CHILDREN = {
    "test": (("Final_Test", "Images"), ("test",)),
    "val": (("val",),),
    "calib": (("calib",),),
}


def is_training_dir(path: Path) -> bool:
    """True if ``path`` holds GTSRB class folders with their ``GT-NNNNN.csv`` files."""
    if not path.is_dir():
        return False
    return any(_CLASS_DIR.match(d.name) and (d / f"GT-{d.name}.csv").is_file()
               for d in path.iterdir() if d.is_dir())


def _training_dir(root: Path) -> Path | None:
    if is_training_dir(root):
        return root
    for base in (root, root / "GTSRB"):
        for parts in _TRAIN_CHILDREN:
            cand = base.joinpath(*parts)
            if is_training_dir(cand):
                return cand
    return None


def is_gtsrb_root(root: Path) -> bool:
    """True if ``root`` is a GTSRB training folder or holds one in a known place."""
    return _training_dir(Path(root)) is not None


def load_gtsrb(root: Path, val_fraction: float = 0.15, seed: int = 0, test_fraction: float = 0.0) -> SplitData:
    """Classes and train/val(/test/calib) samples of a GTSRB-layout folder.

    Without a ``val`` folder, ``val_fraction`` of each class's tracks is held out (seeded). The test
    split is GTSRB's own, so ``test_fraction`` is unused.
    """
    root = Path(root)
    train_dir = _training_dir(root)
    if train_dir is None:
        raise DataError(f"{root} is not in the GTSRB layout: expected class folders 00000/.. with GT-000NN.csv")
    notes: list[str] = []
    skipped: dict[str, list[Skip]] = {"train": []}
    names = class_names(root, train_dir, train_dir.parent)
    train_rows = _read_training_dir(train_dir, notes, skipped["train"])
    if not train_rows:
        raise DataError(f"{train_dir}: the GTSRB CSV files list no existing images")
    classes, index = index_classes({cid for _, cid, _ in train_rows}, names, str(train_dir), root, notes)
    splits = {"train": to_samples(train_rows, index, "train", notes)}
    base = train_dir.parent.parent if train_dir.parent.name == "Final_Training" else train_dir.parent
    for split, choices in _SPLIT_CHILDREN.items():
        split_dir = next((base.joinpath(*p) for p in choices if base.joinpath(*p).is_dir()), None)
        if split_dir is None or split_dir == train_dir or train_dir == root:
            continue
        rows = _read_split_dir(split_dir, notes, skipped.setdefault(split, []))
        if rows is not None:
            splits[split] = to_samples(rows, index, split, notes)
    hold_out_val(splits, val_fraction, seed, str(root), "add a val/ folder", notes)
    for n in notes:
        log.info(n)
    return SplitData(classes, splits, "gtsrb", root, notes, {k: v for k, v in skipped.items() if v})


def class_names(*folders: Path) -> list[str]:
    """The names of ClassIds 0, 1, ...: the first ``labels.txt`` among ``folders``, else GTSRB's 43."""
    for folder in folders:
        if (folder / "labels.txt").is_file():
            return read_labels_file(folder / "labels.txt")
    return list(GTSRB_CLASSES)


def index_classes(ids: set[int], names: Sequence[str], where: str, root: Path,
                  notes: list[str]) -> tuple[list[str], dict[int, int]]:
    """The classes training has (the ClassIds present, in order) and ClassId -> class index.

    A ClassId without a name is an error; fewer classes than names is a note (training uses those).
    """
    bad = sorted(i for i in ids if not 0 <= i < len(names))
    if bad:
        raise DataError(f"{where}: ClassId {bad[0]} is out of range: there are {len(names)} class names "
                        f"(ClassId 0-{len(names) - 1}); add a labels.txt (line N = ClassId N) to {root}")
    present = sorted(ids)
    if len(present) < len(names):
        notes.append(f"{where}: {len(present)} of {len(names)} GTSRB classes present; training on those")
    return [names[i] for i in present], {cid: i for i, cid in enumerate(present)}


Row = tuple[Path, int, "tuple[int, int, int, int] | None"]


def _read_training_dir(train_dir: Path, notes: list[str], skips: list[Skip]) -> list[Row]:
    rows: list[Row] = []
    for d in sorted(p for p in train_dir.iterdir() if p.is_dir() and _CLASS_DIR.match(p.name)):
        gt = d / f"GT-{d.name}.csv"
        if gt.is_file():
            rows += _read_gt_csv(gt, notes, skips, default_class=int(d.name))
        else:
            imgs = sorted(p for p in d.iterdir() if p.suffix.lower() == ".ppm")
            notes.append(f"{d} has no {gt.name}: using its {len(imgs)} .ppm images without ROI")
            rows += [(p, int(d.name), None) for p in imgs]
    return rows


def _read_split_dir(split_dir: Path, notes: list[str], skips: list[Skip]) -> list[Row] | None:
    """Rows of a test-like folder (flat, one labelled GT csv) or of a training-like one."""
    if is_training_dir(split_dir):
        return _read_training_dir(split_dir, notes, skips)
    found = sorted(split_dir.glob("GT-*.csv"))
    if split_dir.name == "Images":  # Final_Test/Images: the labelled csv may sit one or two levels up
        found += [split_dir.parent / "GT-final_test.csv", split_dir.parent.parent / "GT-final_test.csv"]
    for gt in found:
        if gt.is_file() and not gt.name.endswith(".test.csv") and "ClassId" in _header(gt):
            return _read_gt_csv(gt, notes, skips, image_dir=split_dir)
    notes.append(f"{split_dir}: no labelled GT csv (GT-final_test.test.csv has no ClassId; put GT-final_test.csv "
                 f"from GTSRB_Final_Test_GT.zip beside the images); not used")
    return None


def _header(gt: Path) -> list[str]:
    with open(gt, encoding="utf-8-sig", newline="") as f:
        return next(csv.reader(f, delimiter=";"), [])


def _read_gt_csv(gt: Path, notes: list[str], skips: list[Skip], default_class: int | None = None,
                 image_dir: Path | None = None) -> list[Row]:
    image_dir = image_dir or gt.parent
    rows: list[Row] = []
    found: list[Skip] = []
    with open(gt, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, delimiter=";")
        for n, r in enumerate(reader, start=2):
            try:
                cid = int(r["ClassId"]) if r.get("ClassId") not in (None, "") else default_class
                roi, size = roi_of(r), size_of(r)
                name = r["Filename"].strip()
            except (KeyError, ValueError, AttributeError) as exc:
                raise DataError(f"{gt} line {n}: bad row ({exc}); expected columns {';'.join(COLUMNS)}") from None
            if cid is None:
                raise DataError(f"{gt} line {n}: no ClassId")
            path = image_dir / name
            skip = row_problem(path, roi, size, f"{gt} line {n}")
            if skip is not None:
                found.append(skip)
                continue
            rows.append((path, cid, roi))
    note_skips(str(gt), found, len(rows), notes)
    skips += found
    return rows


def roi_of(r: Mapping[str, str | None]) -> tuple[int, int, int, int] | None:
    """The ROI of a GTSRB table row (``Roi.X1`` .. ``Roi.Y2``) as an exclusive box, or None without one.

    GTSRB's X2/Y2 name the last pixel inside the sign (inclusive), so 1 is added to make them exclusive.
    """
    vals = [r.get(k) for k in ("Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2")]
    if any(v in (None, "") for v in vals):
        return None
    x1, y1, x2, y2 = (int(v) for v in vals)
    return x1, y1, x2 + 1, y2 + 1


def size_of(r: Mapping[str, str | None]) -> tuple[int, int] | None:
    """The (Width, Height) a GTSRB table row gives for its image, or None without them."""
    w, h = r.get("Width"), r.get("Height")
    return None if w in (None, "") or h in (None, "") else (int(w), int(h))


def row_problem(path: Path, roi: tuple[int, int, int, int] | None, size: tuple[int, int] | None,
                where: str) -> Skip | None:
    """Why a GTSRB table row cannot be used (its image is missing, or its ROI leaves the image size
    the row gives), else None."""
    if not path.is_file():
        return Skip(where, "image file missing", str(path))
    bad = roi_problem(roi, *size) if roi is not None and size is not None else None
    return dataclasses.replace(bad, where=where) if bad else None


def to_samples(rows: Iterable[Row], index: dict[int, int], split: str, notes: list[str]) -> list[Sample]:
    """Samples of (path, ClassId, roi) rows; rows of a ClassId training lacks are left out (a note says so)."""
    out, unknown = [], 0
    for path, cid, roi in rows:
        if cid not in index:
            unknown += 1
            continue
        out.append(Sample(path, index[cid], roi, track_of(path, cid)))
    if unknown:
        notes.append(f"{split}: skipped {unknown} image(s) of classes that training does not have")
    return out


def track_of(path: Path, cid: int) -> str | None:
    """The physical sign an image shows, from its GTSRB name: ``TTTTT_VVVVV`` (official archive) or
    ``CCCCC_TTTTT_VVVVV`` (the Kaggle mirror), T the track and V the view; None for other names."""
    parts = path.stem.split("_")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        return None
    return f"{cid:05d}/{parts[-2]}"


def format_gt_csv(rows: Sequence[tuple[str, int, int, tuple[int, int, int, int], int]]) -> str:
    """GT csv text for (filename, width, height, roi x1,y1,x2,y2 exclusive, class id) rows."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(COLUMNS)
    for name, width, height, (x1, y1, x2, y2), cid in rows:
        w.writerow([name, width, height, x1, y1, x2 - 1, y2 - 1, cid])
    return buf.getvalue()
