"""Find the images, labels and splits a user points edgetl at.

Layouts, detected in this order:
- the official GTSRB layout (class folders of .ppm with ``GT-000NN.csv`` ROI files; see ``gtsrb``),
  either directly or as ``train/``/``test/`` (and optional ``val/``) children;
- an ImageFolder tree with ``train/`` and ``val/`` (optional ``test/`` and ``calib/``) class folders;
- one class-folder tree, split into train/val/test with a seeded, stratified split that keeps a
  group (a GTSRB-like "track" of views of one physical object) inside one split.
Class names come from ``labels.txt`` (one per line) when present, else from the folder names.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from edgetl.errors import DataError
from edgetl.preprocess import is_image_file

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test", "calib")


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    roi: tuple[int, int, int, int] | None = None  # x1, y1, x2, y2 in pixels
    group: str | None = None  # views of one physical object; a split never separates them


@dataclass
class SplitData:
    classes: list[str]
    splits: dict[str, list[Sample]]
    layout: str  # "gtsrb", "imagefolder" or "single-tree"
    root: Path
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, list[int]]:
        out = {}
        for name, samples in self.splits.items():
            c = [0] * len(self.classes)
            for s in samples:
                c[s.label] += 1
            out[name] = c
        return out


def read_labels_file(path: Path) -> list[str]:
    names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if len(set(names)) != len(names):
        raise DataError(f"{path} lists a class name twice")
    return names


def class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


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


def stratified_split(samples: Sequence[Sample], fractions: dict[str, float], seed: int) -> dict[str, list[Sample]]:
    """Split per class, keeping every group within one split; deterministic for a seed."""
    rng = random.Random(seed)
    by_class: dict[int, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    for i, s in enumerate(samples):
        by_class[s.label][s.group or f"#{i}"].append(s)
    out: dict[str, list[Sample]] = {k: [] for k in fractions}
    names = list(fractions)
    for label in sorted(by_class):
        groups = sorted(by_class[label].items())
        rng.shuffle(groups)
        total = sum(len(g) for _, g in groups)
        targets = {k: fractions[k] * total for k in names}
        filled = {k: 0 for k in names}
        for _, members in groups:
            # give the group to the split furthest below its target (train gets what is left over)
            k = max(names[1:], key=lambda n: targets[n] - filled[n]) if len(names) > 1 else names[0]
            if len(names) == 1 or filled[k] + len(members) / 2 > targets[k]:
                k = names[0]
            out[k].append(members[0]) if len(members) == 1 else out[k].extend(members)
            filled[k] += len(members)
    return out


def load_dataset(root: str | Path, val_fraction: float = 0.15, test_fraction: float = 0.0, seed: int = 0) -> SplitData:
    """Discover the layout under ``root`` and return its classes and splits."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such data folder")
    from edgetl.data import gtsrb

    if gtsrb.is_gtsrb_root(root):
        return gtsrb.load_gtsrb(root, val_fraction=val_fraction, seed=seed)
    if (root / "train").is_dir():
        return _load_presplit(root, val_fraction, seed)
    classes, samples = scan_class_tree(root)
    fr = {"train": 1.0 - val_fraction - test_fraction, "val": val_fraction}
    if test_fraction > 0:
        fr["test"] = test_fraction
    splits = stratified_split(samples, fr, seed)
    _require_nonempty(splits, root)
    return SplitData(classes, splits, "single-tree", root,
                     [f"split {root} with seed {seed}: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items())])


def _load_presplit(root: Path, val_fraction: float, seed: int) -> SplitData:
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
