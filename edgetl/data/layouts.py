"""The data layouts edgetl reads, and ``load_dataset``, which finds the one a folder (or file) is in.

A layout is one ``Layout`` entry in ``LAYOUTS``: a name, a one-line summary, ``detect(root)`` (from the
files, without reading images) and ``load(root, val_fraction=, test_fraction=, seed=)``. A new layout is
its reader module plus one ``register(Layout(...))`` below; ``load_dataset``, the CLI's help and the
error messages follow from the registry.

Exactly one layout must claim a folder: none is an error saying what edgetl looks for, several is an
error naming them. The plain folder trees are ``fallback`` entries: every data folder looks like a tree
of class folders, so they count only where no other layout matches. A ``file`` layout (a manifest) is
asked only about files, the others only about folders, so the two kinds never claim the same DATA.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from edgetl.data import folders, gtsrb, gtsrb_csv, manifest
from edgetl.data.samples import SplitData
from edgetl.errors import DataError
from edgetl.registry import Registry

log = logging.getLogger(__name__)


class Loader(Protocol):
    """Reads a folder in one layout; ``test_fraction`` matters only to layouts that make their own test split."""

    def __call__(self, root: Path, *, val_fraction: float, test_fraction: float, seed: int) -> SplitData: ...


@dataclass(frozen=True)
class Layout:
    """One way of laying out images, labels and splits on disk."""

    name: str
    summary: str  # what the files look like, one line: help text and the no-match error show it
    detect: Callable[[Path], bool]
    load: Loader
    fallback: bool = False  # matched by most folders: used only where no other layout matches
    file: bool = False  # DATA is one file (a list of images), not a folder


LAYOUTS: Registry[Layout] = Registry("data layout")


def register(layout: Layout) -> Layout:
    """Add a layout; a name that is taken is refused."""
    return LAYOUTS.register(layout.name, layout)


register(Layout(
    "gtsrb", "the official GTSRB archive: 000NN/ class folders with GT-000NN.csv ROI tables",
    detect=gtsrb.is_gtsrb_root, load=gtsrb.load_gtsrb))
register(Layout(
    "imagefolder", "train/ and val/ (optional test/, calib/) holding one folder of images per class",
    detect=folders.is_split_tree, load=folders.load_split_tree, fallback=True))
register(Layout(
    "class-tree", "one folder of images per class, split into train/val(/test) by seed",
    detect=folders.is_class_tree, load=folders.load_class_tree, fallback=True))

register(Layout(
    "gtsrb-csv", "GTSRB as the Kaggle mirror ships it: Train.csv beside Train/0..42/ (+ Test.csv, Test/)",
    detect=gtsrb_csv.is_gtsrb_csv_root, load=gtsrb_csv.load_gtsrb_csv))
register(Layout(
    "manifest", "a CSV or JSON-lines file with path,label[,split][,group][,x1,y1,x2,y2]; paths relative to it",
    detect=manifest.is_manifest, load=manifest.load_manifest, file=True))


def detect_layouts(root: str | os.PathLike) -> list[str]:
    """Names of the layouts that claim ``root``: the specific ones if any match, else the fallbacks."""
    root = Path(root)
    is_file = root.is_file()
    matches = [layout for layout in LAYOUTS.values() if layout.file == is_file and layout.detect(root)]
    specific = [layout.name for layout in matches if not layout.fallback]
    return specific or [layout.name for layout in matches]


def load_dataset(root: str | os.PathLike, val_fraction: float = 0.15, test_fraction: float = 0.0,
                 seed: int = 0) -> SplitData:
    """Find the layout of ``root`` and return its classes and splits, ``layout`` naming the entry used."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such data folder or manifest file")
    names = detect_layouts(root)
    if not names and root.is_file():
        raise DataError(f"{root} is a file but not a manifest: " +
                        "; ".join(f"{lay.name}: {lay.summary}" for lay in LAYOUTS.values() if lay.file))
    if not names:
        raise DataError(f"{root} has no class folders and is in no other layout edgetl reads: " +
                        "; ".join(f"{lay.name}: {lay.summary}" for lay in LAYOUTS.values()))
    if len(names) > 1:
        raise DataError(f"{root} matches several data layouts ({', '.join(names)}): point at a folder in "
                        "one layout")
    data = LAYOUTS.get(names[0]).load(root, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    data.layout = names[0]
    log.info("%s: %s layout, %d classes", root, data.layout, len(data.classes))
    return data
