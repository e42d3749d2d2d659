"""Read the two plain folder layouts: a split tree and one class-folder tree.

- ``imagefolder``: ``train/`` and ``val/`` (optional ``test/`` and ``calib/``) class-folder trees, as
  torchvision's ImageFolder reads them; without ``val/``, a seeded stratified part of train is held out.
- ``class-tree``: one tree of class folders, split into train/val(/test) with a seeded, stratified split
  that keeps a group (a GTSRB-like "track" of views of one physical object) inside one split.
Class names come from ``labels.txt`` (one per line) when present, else from the folder names. Every data
folder looks like a class-folder tree, so ``edgetl.data.layouts`` tries these two only when no more
specific layout matches.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from edgetl.data.samples import SPLITS, Sample, SplitData, class_folders, read_labels_file, stratified_split
from edgetl.errors import DataError
from edgetl.preprocess import is_image_file

log = logging.getLogger(__name__)


def scan_class_tree(root: Path, classes: Sequence[str] | None = None, split: str = "train") -> tuple[list[str], list[Sample]]:
    """Samples of a class-folder tree; with ``classes`` given, its folders must be among them."""
    folders = class_folders(root)
    if not folders:
        raise DataError(f"{root} has no class folders: expected {root}/<class name>/<images>")
    names = [f.name for f in folders]
    if classes is None:
        labels_txt = root / "labels.txt"
        classes = read_labels_file(labels_txt) if labels_txt.is_file() else names
        missing = [n for n in names if n not in classes]
        if missing:
            raise DataError(f"{root}: class folder(s) {missing[:3]} are not in labels.txt")
    unknown = [n for n in names if n not in classes]
    if unknown:
        raise DataError(f"{split} split {root} has class folder(s) {unknown[:5]} that train does not have; "
                        f"rename or remove them (train classes: {list(classes)[:8]}...)")
    index = {n: i for i, n in enumerate(classes)}
    samples: list[Sample] = []
    for folder in folders:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))
        if not files:
            raise DataError(f"class folder {folder} is empty: add images or remove the folder")
        samples += [Sample(p, index[folder.name], group=_group_of(p)) for p in files]
    return list(classes), samples


def _group_of(path: Path) -> str | None:
    """GTSRB-style 'TTTTT_NNNNN.ext' names share a track; other files stand alone."""
    stem = path.stem
    head, sep, tail = stem.partition("_")
    if sep and head.isdigit() and tail.isdigit():
        return f"{path.parent.name}/{head}"
    return None


def is_split_tree(root: Path) -> bool:
    """True if ``root`` holds a split folder (``train/``, ``val/``, ``test/``, ``calib/``): the ``imagefolder``
    layout, even when ``train/`` is missing (its loader then says so, rather than reading the splits as
    classes)."""
    return any((root / name).is_dir() for name in SPLITS)


def is_class_tree(root: Path) -> bool:
    """True if ``root`` holds folders and no split folder (the ``class-tree`` layout)."""
    return not is_split_tree(root) and bool(class_folders(root))


def load_class_tree(root: Path, val_fraction: float = 0.15, test_fraction: float = 0.0, seed: int = 0) -> SplitData:
    """Classes and a seeded, stratified train/val(/test) split of one class-folder tree."""
    classes, samples = scan_class_tree(root)
    fr = {"train": 1.0 - val_fraction - test_fraction, "val": val_fraction}
    if test_fraction > 0:
        fr["test"] = test_fraction
    splits = stratified_split(samples, fr, seed)
    _require_nonempty(splits, root)
    return SplitData(classes, splits, "class-tree", root,
                     [f"split {root} with seed {seed}: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items())])


def load_split_tree(root: Path, val_fraction: float = 0.15, test_fraction: float = 0.0, seed: int = 0) -> SplitData:
    """Classes and splits of a ``train/``, ``val/`` (``test/``, ``calib/``) tree; ``test_fraction`` is unused."""
    if not (root / "train").is_dir():
        present = [f"{name}/" for name in SPLITS if (root / name).is_dir()]
        raise DataError(f"{root} has {' and '.join(present)} but no train/: add train/ with one folder of "
                        f"images per class")
    labels_txt = root / "labels.txt"
    classes = read_labels_file(labels_txt) if labels_txt.is_file() else None
    classes, train = scan_class_tree(root / "train", classes, "train")
    splits = {"train": train}
    notes = []
    for name in SPLITS[1:]:
        if (root / name).is_dir():
            splits[name] = scan_class_tree(root / name, classes, name)[1]
    if "val" not in splits:
        if val_fraction <= 0:
            raise DataError(f"{root} has train/ but no val/: add val/ or pass a validation fraction")
        parts = stratified_split(train, {"train": 1 - val_fraction, "val": val_fraction}, seed)
        splits.update(parts)
        notes.append(f"{root} has no val/: held out {len(parts['val'])} train images (seed {seed})")
    _require_nonempty(splits, root)
    return SplitData(classes, splits, "imagefolder", root, notes)


def _require_nonempty(splits: dict[str, list[Sample]], root: Path) -> None:
    for name in ("train", "val"):
        if not splits.get(name):
            raise DataError(f"{root}: the {name} split is empty; add images or lower the number of splits")
