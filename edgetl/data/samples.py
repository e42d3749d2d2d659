"""What every data reader returns, and the helpers they share: samples, splits, labels.txt, stratified splits.

Readers of one layout each (``folders``, ``gtsrb``, ``gtsrb_csv``, ``manifest``) build on this module
and never on each other, except that ``gtsrb_csv`` takes GTSRB's conventions (class names, ROI corners,
track rule) from ``gtsrb``; ``layouts`` picks the reader for a folder or file.
"""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from edgetl.errors import DataError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test", "calib")


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    roi: tuple[int, int, int, int] | None = None  # x1, y1, x2, y2 in pixels
    group: str | None = None  # views of one physical object; a split never separates them


@dataclass(frozen=True)
class Skip:
    """One row a reader left out: where it is (file and line, or the image), and why (a short kind)."""

    where: str
    why: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.why}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class SplitData:
    classes: list[str]
    splits: dict[str, list[Sample]]
    layout: str  # the name of the entry in edgetl.data.layouts.LAYOUTS that read it
    root: Path
    notes: list[str] = field(default_factory=list)
    # rows the reader left out (missing file, box outside the image), by split: they count against the
    # trainer's bad-image threshold like unreadable images
    skipped: dict[str, list[Skip]] = field(default_factory=dict)

    def counts(self) -> dict[str, list[int]]:
        out = {}
        for name, samples in self.splits.items():
            c = [0] * len(self.classes)
            for s in samples:
                c[s.label] += 1
            out[name] = c
        return out


def read_labels_file(path: Path) -> list[str]:
    """Class names of a ``labels.txt``, one per line; a name listed twice is an error."""
    names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if len(set(names)) != len(names):
        raise DataError(f"{path} lists a class name twice")
    return names


def class_folders(root: Path) -> list[Path]:
    """The visible sub-folders of ``root``, sorted: the classes of a class-folder tree."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


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



def roi_problem(roi: tuple[int, int, int, int], width: int, height: int) -> Skip | None:
    """Why the box (x1, y1, x2, y2; x2, y2 exclusive) cannot crop a ``width`` x ``height`` image, else None;
    ``where`` of the answer is left for the caller to fill."""
    x1, y1, x2, y2 = roi
    if x2 <= x1 or y2 <= y1:
        return Skip("", "empty box", f"{x1},{y1},{x2},{y2}")
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        return Skip("", "box outside the image", f"{x1},{y1},{x2},{y2} (x2, y2 exclusive) in {width}x{height}")
    return None


def note_skips(where: str, skips: Sequence[Skip], kept: int, notes: list[str]) -> None:
    """One logged warning and note on the rows of ``where`` that were skipped, by reason (none: nothing)."""
    if not skips:
        return
    kinds = Counter(s.why for s in skips)
    notes.append(f"{where}: skipped {len(skips)} row(s) of {kept + len(skips)}: " +
                 ", ".join(f"{n} {why}" for why, n in kinds.most_common()))
    log.warning("%s", notes[-1])


def hold_out_val(splits: dict[str, list[Sample]], val_fraction: float, seed: int, where: str,
                 hint: str, notes: list[str]) -> None:
    """Without a val split, hold out ``val_fraction`` of train (per class, whole groups); then require
    non-empty train and val. ``hint`` says how to add a val split in this layout."""
    if "val" not in splits:
        if val_fraction <= 0:
            raise DataError(f"{where} has no val split: {hint} or pass a validation fraction above 0")
        parts = stratified_split(splits["train"], {"train": 1 - val_fraction, "val": val_fraction}, seed)
        splits.update(parts)
        notes.append(f"held out {len(parts['val'])} training images as val, whole groups at a time (seed {seed})")
    for name in ("train", "val"):
        if not splits.get(name):
            raise DataError(f"{where}: the {name} split is empty; add images or lower the validation fraction")
