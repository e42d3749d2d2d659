"""Read GTSRB as the popular Kaggle mirror ships it (the ``gtsrb-csv`` layout).

- ``Train.csv``: ``Width,Height,Roi.X1,Roi.Y1,Roi.X2,Roi.Y2,ClassId,Path`` (commas), ``Path`` relative
  to the folder holding it (``Train/20/00020_00000_00000.png``: class, track, view);
- ``Train/0/`` .. ``Train/42/``: the PNG images (folder names without zero padding);
- ``Test.csv`` (same columns, labelled, ``Path`` like ``Test/00000.png``) and a flat ``Test/``;
- ``Meta.csv`` and ``Meta/``: one pictogram per class, which is not a training image and is not read.

DATA is the folder holding ``Train.csv``, or its ``Train/`` folder (then, as when the official layout's
training folder is given, there is no test split). GTSRB's conventions come from ``gtsrb``: the 43 class
names in ClassId order (or a ``labels.txt``), inclusive ROI corners, the track of an image from its
name (a split never separates a track), and training on the ClassIds present.

A missing column is an error, and so is a row that does not parse or a ClassId with no name; a row
whose image is missing or whose ROI leaves the image is skipped and counted (``SplitData.skipped``).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from edgetl.data import gtsrb
from edgetl.data.samples import Skip, SplitData, hold_out_val, note_skips
from edgetl.errors import DataError

log = logging.getLogger(__name__)

COLUMNS = ("Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId", "Path")


def _base(root: Path) -> tuple[Path, bool] | None:
    """The folder holding ``Train.csv`` and ``Train/``, and whether ``root`` is that ``Train/`` itself.

    Its columns are checked when it is read, so that a damaged ``Train.csv`` is an error naming what
    is missing, not a tree of class folders named Meta, Test and Train.
    """
    if not root.is_dir():
        return None
    if (root / "Train").is_dir() and (root / "Train.csv").is_file():
        return root, False
    parent = root.resolve().parent
    if (parent / "Train").is_dir() and (parent / "Train").samefile(root) and (parent / "Train.csv").is_file():
        return parent, True
    return None


def is_gtsrb_csv_root(root: Path) -> bool:
    """True if ``root`` holds ``Train.csv`` beside ``Train/``, or is that ``Train/``."""
    return _base(Path(root)) is not None


def load_gtsrb_csv(root: Path, val_fraction: float = 0.15, test_fraction: float = 0.0, seed: int = 0) -> SplitData:
    """Classes, train/val(/test) samples with ROI boxes and tracks of a Kaggle-mirror GTSRB folder.

    val is ``val_fraction`` of each class's tracks (seeded); test is ``Test.csv``, so ``test_fraction``
    is unused.
    """
    root = Path(root)
    found = _base(root)
    if found is None:
        raise DataError(f"{root} is not in the gtsrb-csv layout: expected Train.csv ({','.join(COLUMNS)}) "
                        "beside a Train/ folder")
    base, train_only = found
    notes: list[str] = []
    skipped: dict[str, list[Skip]] = {"train": [], "test": []}
    names = gtsrb.class_names(base, base / "Train")
    train_rows = _read_table(base / "Train.csv", base, "Train", names, notes, skipped["train"])
    if not train_rows:
        raise DataError(f"{base / 'Train.csv'} lists no existing images")
    classes, index = gtsrb.index_classes({cid for _, cid, _ in train_rows}, names, str(base / "Train.csv"),
                                         base, notes)
    splits = {"train": gtsrb.to_samples(train_rows, index, "train", notes)}
    if train_only:
        notes.append(f"{root} is the Train/ folder: Test.csv is not used (give {base} to test on it)")
    elif (base / "Test.csv").is_file():
        rows = _read_table(base / "Test.csv", base, "Test", names, notes, skipped["test"])
        splits["test"] = gtsrb.to_samples(rows, index, "test", notes)
    if (base / "Meta").is_dir():
        notes.append(f"{base / 'Meta'} holds one pictogram per class, not photographs: not used for training")
    hold_out_val(splits, val_fraction, seed, str(root), "this layout has none", notes)
    for n in notes:
        log.info(n)
    return SplitData(classes, splits, "gtsrb-csv", root, notes, {k: v for k, v in skipped.items() if v})


def _read_table(table: Path, base: Path, folder: str, names: list[str], notes: list[str],
                skips: list[Skip]) -> list[gtsrb.Row]:
    """(image, ClassId, roi) of each usable row of ``Train.csv`` or ``Test.csv``; unusable rows go to ``skips``."""
    with open(table, encoding="utf-8-sig", newline="") as f:
        header = [c.strip() for c in next(csv.reader(f), [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DataError(f"{table} has no column(s) {', '.join(missing)}: expected {','.join(COLUMNS)} "
                        "(commas, as the Kaggle GTSRB mirror writes it)")
    rows: list[gtsrb.Row] = []
    found: list[Skip] = []
    with open(table, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, skipinitialspace=True)
        reader.fieldnames = [c.strip() for c in reader.fieldnames or []]
        for n, r in enumerate(reader, start=2):
            try:
                cid, roi, size, rel = int(r["ClassId"]), gtsrb.roi_of(r), gtsrb.size_of(r), r["Path"].strip()
            except (KeyError, ValueError, AttributeError, TypeError) as exc:
                raise DataError(f"{table} line {n}: bad row ({exc}); expected {','.join(COLUMNS)}") from None
            if not 0 <= cid < len(names):
                raise DataError(f"{table} line {n}: ClassId {cid} is out of range: there are {len(names)} class "
                                f"names (ClassId 0-{len(names) - 1}); add a labels.txt (line N = ClassId N) "
                                f"to {base}")
            path = _image_path(base, folder, rel)
            skip = gtsrb.row_problem(path, roi, size, f"{table} line {n}")
            if skip is not None:
                found.append(skip)
                continue
            rows.append((path, cid, roi))
    note_skips(str(table), found, len(rows), notes)
    skips += found
    return rows


def _image_path(base: Path, folder: str, rel: str) -> Path:
    """``Path`` of a row: relative to ``base`` (``Train/20/x.png``); some copies drop the ``Train/`` part."""
    rel = rel.replace("\\", "/")
    path = base / rel
    if not path.is_file() and (base / folder / rel).is_file():
        return base / folder / rel
    return path
