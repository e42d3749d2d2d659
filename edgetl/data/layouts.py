"""The data layouts edgetl reads, and ``load_dataset``, which finds the one a folder is in.

A layout is one ``Layout`` entry in ``LAYOUTS``: a name, a one-line summary, ``detect(root)`` (from the
files, without reading images) and ``load(root, val_fraction=, test_fraction=, seed=)``. A new layout is
its reader module plus one ``register(Layout(...))`` below; ``load_dataset``, the CLI's help and the
error messages follow from the registry.

Exactly one layout must claim a folder: none is an error saying what edgetl looks for, several is an
error naming them. The plain folder trees are ``fallback`` entries: every data folder looks like a tree
of class folders, so they count only where no other layout matches.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from edgetl.data import folders, gtsrb
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


def detect_layouts(root: str | os.PathLike) -> list[str]:
    """Names of the layouts that claim ``root``: the specific ones if any match, else the fallbacks."""
    root = Path(root)
    matches = [layout for layout in LAYOUTS.values() if layout.detect(root)]
    specific = [layout.name for layout in matches if not layout.fallback]
    return specific or [layout.name for layout in matches]


def load_dataset(root: str | os.PathLike, val_fraction: float = 0.15, test_fraction: float = 0.0,
                 seed: int = 0) -> SplitData:
    """Find the layout of ``root`` and return its classes and splits, ``layout`` naming the entry used."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such data folder")
    names = detect_layouts(root)
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
