"""What every data reader returns, and the helpers they share: samples, splits, labels.txt, stratified splits.

Readers of one layout each (``folders``, ``gtsrb``) build on this module and never on each other;
``layouts`` picks the reader for a folder.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from edgetl.errors import DataError

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
    layout: str  # the name of the entry in edgetl.data.layouts.LAYOUTS that read it
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

