"""Read a manifest: one CSV or JSON-lines file listing images and their labels (the ``manifest`` layout).

Many users' labels live in a spreadsheet, not in folders. A manifest is a CSV file with a header
(comma, semicolon or tab) or a JSON-lines file (one object per line) with these columns or keys, in any
letter case; other columns are ignored:

- ``path`` (or ``file``, ``filename``, ``image``): the image, relative to the manifest's folder;
- ``label`` (or ``class``, ``class_name``, ``category``): the class name;
- ``split``, optional: ``train``, ``val``, ``test`` or ``calib`` pins a row; rows without one are split
  stratified and seeded by ``val_fraction`` / ``test_fraction``;
- ``group``, optional: rows of one group (views of one object) stay in one split; without it, the rows
  of one image do;
- ``x1,y1,x2,y2`` (or ``xmin,ymin,xmax,ymax``), optional: a box in pixels, x2/y2 exclusive; empty cells
  mean the whole image.

Classes are the lines of a ``labels.txt`` beside the manifest, in its order, or else the labels sorted
(by number when every label is a whole number).

What makes the file unusable is a one-line ``DataError``: no path or label column (the message lists
the accepted names), two columns for one role, some but not all box columns, a cell that does not
parse, an unknown split name, a label ``labels.txt`` lacks, a class with rows only outside train. A row
that cannot be used is skipped and counted in ``SplitData.skipped`` (the trainer's bad-image threshold
applies): no path or label, a missing image file, an empty or partial box, a box outside the image
(whose size is read from the image header).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from PIL import Image

from edgetl.data.samples import (SPLITS, Sample, Skip, SplitData, hold_out_val, note_skips, read_labels_file,
                                 roi_problem, stratified_split)
from edgetl.errors import DataError

log = logging.getLogger(__name__)

PATH_NAMES = ("path", "file", "filename", "image")
LABEL_NAMES = ("label", "class", "class_name", "category")
BOX_NAMES = (("x1", "y1", "x2", "y2"), ("xmin", "ymin", "xmax", "ymax"))
_DELIMITERS = (",", ";", "\t")

Record = dict[str, object]


@dataclass(frozen=True)
class Columns:
    """Which column of a manifest plays which role (names as written in the file)."""

    path: str
    label: str
    split: str | None = None
    group: str | None = None
    box: tuple[str, str, str, str] | None = None


def is_manifest(path: Path) -> bool:
    """True if ``path`` is a text file: a manifest candidate, whose columns ``load_manifest`` checks."""
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except (OSError, UnicodeDecodeError):
        return False
    return b"\0" not in head


def load_manifest(path: Path, val_fraction: float = 0.15, test_fraction: float = 0.0, seed: int = 0) -> SplitData:
    """Classes and splits of the images a manifest lists (see the module docstring for the columns)."""
    path = Path(path)
    columns, records = _read_records(path)
    cols = resolve_columns(columns, path)
    rows: list[_Row] = []
    skipped: dict[str, list[Skip]] = {}
    for where, rec in records:
        row = _parse(rec, cols, where, path.parent)
        if isinstance(row, Skip):  # counted against its pinned split, else against train
            skipped.setdefault(_cell(rec, cols.split).lower() or "train", []).append(row)
        else:
            rows.append(row)
    skips = [s for ss in skipped.values() for s in ss]
    if not rows:
        raise DataError(f"{path} lists no usable image" + (f" ({skips[0]})" if skips else ""))
    classes = _classes(path, {r.label for r in rows})
    index = {name: i for i, name in enumerate(classes)}
    splits = _split(rows, index, val_fraction, test_fraction, seed, path)
    notes: list[str] = []
    hold_out_val(splits, val_fraction, seed, str(path), "pin some rows with split=val", notes)
    _require_train_rows(splits, classes, path)
    note_skips(str(path), skips, len(rows), notes)
    return SplitData(classes, splits, "manifest", path, notes, skipped)


def _read_records(path: Path) -> tuple[list[str], Iterator[tuple[str, Record]]]:
    """The column names and an iterator of (where, record): JSON lines if the file starts with '{', else CSV."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read manifest {path}: {exc}") from None
    lines = text.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if not first:
        raise DataError(f"{path} is empty: a manifest needs a header line (path,label) and one row per image")
    if first.startswith("{"):
        records = []
        for n, ln in enumerate(lines, start=1):
            if ln.strip():
                records.append((f"{path} line {n}", _json_record(ln, f"{path} line {n}")))
        columns = list(dict.fromkeys(k for _, rec in records for k in rec))
        return columns, iter(records)
    delimiter = max(_DELIMITERS, key=first.count) if any(d in first for d in _DELIMITERS) else ","
    reader = csv.reader(lines, delimiter=delimiter, skipinitialspace=True)
    header = [c.strip() for c in next(reader)]

    def rows() -> Iterator[tuple[str, Record]]:
        for cells in reader:
            if any(c.strip() for c in cells):
                yield f"{path} line {reader.line_num}", dict(zip(header, cells))

    return header, rows()


def _json_record(line: str, where: str) -> Record:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not JSON ({exc.msg}); a JSON-lines manifest has one object per line") from None
    if not isinstance(rec, dict):
        raise DataError(f"{where}: a JSON-lines manifest has one object per line, got {type(rec).__name__}")
    return rec


def resolve_columns(columns: list[str], path: Path) -> Columns:
    """Which column is the path, label, split, group and box; a missing or doubled role is an error."""
    lower = {c.strip().lower(): c for c in columns}
    listed = ", ".join(columns) if columns else "none"

    def one(names: tuple[str, ...], role: str, required: bool) -> str | None:
        found = [lower[n] for n in names if n in lower]
        if len(found) > 1:
            raise DataError(f"{path}: columns {', '.join(found)} are all {role} columns: keep one")
        if not found and required:
            hint = ""
            if {"classid", "roi.x1"} <= set(lower):
                hint = "; this is a GTSRB table: give the folder that holds it"
            elif not set(PATH_NAMES + LABEL_NAMES) & set(lower):
                hint = "; the first line must name the columns"
            raise DataError(f"{path}: no {role} column (accepted names: {', '.join(names)}); its columns are "
                            f"{listed}{hint}")
        return found[0] if found else None

    boxes = []
    for names in BOX_NAMES:
        present = [n for n in names if n in lower]
        if present and len(present) < 4:
            raise DataError(f"{path}: box columns {','.join(present)} without "
                            f"{','.join(n for n in names if n not in lower)}: give all four or none")
        if present:
            boxes.append(tuple(lower[n] for n in names))
    if len(boxes) > 1:
        raise DataError(f"{path}: two sets of box columns ({', '.join(','.join(b) for b in boxes)}): keep one")
    return Columns(path=one(PATH_NAMES, "image path", True), label=one(LABEL_NAMES, "label", True),
                   split=one(("split",), "split", False), group=one(("group",), "group", False),
                   box=boxes[0] if boxes else None)


@dataclass(frozen=True)
class _Row:
    path: Path
    label: str
    split: str | None
    group: str
    roi: tuple[int, int, int, int] | None


def _cell(rec: Record, key: str | None) -> str:
    value = rec.get(key) if key is not None else None
    return "" if value is None else str(value).strip()


def _parse(rec: Record, cols: Columns, where: str, base: Path) -> _Row | Skip:
    """One record as a row, a ``Skip`` when the row cannot be used, or a ``DataError`` when it does not parse."""
    rel, label = _cell(rec, cols.path), _cell(rec, cols.label)
    split = _cell(rec, cols.split).lower() or None
    if split is not None and split not in SPLITS:
        raise DataError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)} (or empty: edgetl splits it)")
    roi = _box(rec, cols.box, where)
    if not rel:
        return Skip(where, "no image path")
    if not label:
        return Skip(where, "no label")
    image = Path(rel.replace("\\", "/"))
    image = image if image.is_absolute() else base / image
    if not image.is_file():
        return Skip(where, "image file missing", str(image))
    if roi == "partial":
        return Skip(where, "partial box", "give all four of x1,y1,x2,y2 or none")
    size = _image_size(image) if roi is not None else None
    bad = roi_problem(roi, *size) if size else None  # an unreadable image: the trainer counts it
    if bad:
        return dataclasses.replace(bad, where=where)
    return _Row(image, label, split, _cell(rec, cols.group) or f"image:{image}", roi)


def _box(rec: Record, keys: tuple[str, str, str, str] | None, where: str) -> tuple[int, int, int, int] | str | None:
    """The row's box in whole pixels, None without one, or "partial" when only some cells are filled."""
    if keys is None:
        return None
    cells = [_cell(rec, k) for k in keys]
    if not any(cells):
        return None
    if not all(cells):
        return "partial"
    try:
        vals = [float(c) for c in cells]
    except ValueError:
        raise DataError(f"{where}: box {','.join(cells)} is not four numbers (pixels: x1,y1,x2,y2)") from None
    if any(not v.is_integer() for v in vals) and all(0 <= v <= 1 for v in vals):
        raise DataError(f"{where}: box {','.join(cells)} looks normalised to 0..1: give pixel coordinates")
    x1, y1, x2, y2 = (round(v) for v in vals)
    return x1, y1, x2, y2


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the image header, without decoding; None if unreadable (the trainer counts it)."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def _classes(path: Path, labels: set[str]) -> list[str]:
    """``labels.txt`` beside the manifest (every label must be in it), else the labels in sorted order."""
    labels_txt = path.parent / "labels.txt"
    if labels_txt.is_file():
        classes = read_labels_file(labels_txt)
        unknown = sorted(labels - set(classes))
        if unknown:
            raise DataError(f"{path}: label(s) {unknown[:5]} are not in {labels_txt}: add them or fix the rows")
        return classes
    if all(s.isdigit() for s in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def _split(rows: list[_Row], index: dict[str, int], val_fraction: float, test_fraction: float, seed: int,
           path: Path) -> dict[str, list[Sample]]:
    """Pinned rows go to their split; the others are split stratified, whole groups at a time."""
    splits: dict[str, list[Sample]] = {name: [] for name in SPLITS}
    free = []
    for r in rows:
        sample = Sample(r.path, index[r.label], r.roi, r.group)
        (splits[r.split] if r.split else free).append(sample)
    if free:
        fractions = {"train": 1.0 - val_fraction - test_fraction}
        fractions.update({k: f for k, f in (("val", val_fraction), ("test", test_fraction)) if f > 0})
        for name, part in stratified_split(free, fractions, seed).items():
            splits[name] += part
        log.info("%s: split %d unpinned rows with seed %d", path, len(free), seed)
    return {k: v for k, v in splits.items() if v or k == "train"}


def _require_train_rows(splits: dict[str, list[Sample]], classes: list[str], path: Path) -> None:
    """A class with rows only outside train cannot be learnt: an error naming it."""
    in_train = {s.label for s in splits["train"]}
    elsewhere = {s.label for name, ss in splits.items() if name != "train" for s in ss}
    lacking = sorted(elsewhere - in_train)
    if lacking:
        raise DataError(f"{path}: class(es) {[classes[i] for i in lacking][:5]} have rows only outside the train "
                        "split: give them train rows or remove them")
