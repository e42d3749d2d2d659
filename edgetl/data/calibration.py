"""Calibration data: pick it (one rule for export and build), sample it class-stratified, record it.

The calibration set is just a list of samples with their content hashes; ``edgetl.data.images`` turns
it into model-ready batches through the eval preprocessing, and each consumer adapts those batches to
its calibrator (onnxruntime's ``CalibrationDataReader`` in export, TensorRT's in the engine build).
The manifest format is described in ``calibration/README.md``.
"""

from __future__ import annotations

import logging
import os
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from edgetl.data.calibration_defaults import DEFAULT_SEED, DEFAULT_SIZE
from edgetl.data.samples import Sample, SplitData, class_folders
from edgetl.errors import DataError
from edgetl.fileio import read_json, sha256_file, sha256_json, write_json
from edgetl.preprocess import is_image_file

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "edgetl.calibration"
MANIFEST_VERSION = 1
WARN_BELOW = 100
MIN_IMAGES = 16


@dataclass(frozen=True)
class CalibrationSet:
    """The images calibration runs on, in order, with their content hashes."""

    samples: tuple[Sample, ...]
    hashes: tuple[str, ...]
    classes: tuple[str, ...]
    source: str

    @property
    def sha256(self) -> str:
        """Hash of the image list: contents, ROIs and labels, in order (paths do not matter)."""
        return sha256_json([[h, list(s.roi) if s.roi else None, s.label] for s, h in zip(self.samples, self.hashes)])

    def per_class(self) -> dict[str, int]:
        counts = {c: 0 for c in self.classes}
        for s in self.samples:
            if s.label >= 0:
                counts[self.classes[s.label]] += 1
        return counts

    def to_manifest(self, base: Path, preprocess: dict[str, Any], seed: int) -> dict[str, Any]:
        def rel(p: Path) -> str:
            try:
                return Path(os.path.relpath(p.resolve(), base.resolve())).as_posix()
            except ValueError:  # another drive on Windows
                return str(p.resolve())

        return {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "source": self.source, "seed": seed,
            "classes": list(self.classes), "preprocess": preprocess, "sha256": self.sha256,
            "per_class": self.per_class(),
            "images": [{"path": rel(s.path), "sha256": h, "label": self.classes[s.label] if s.label >= 0 else None,
                        "roi": list(s.roi) if s.roi else None} for s, h in zip(self.samples, self.hashes)],
        }


def select_stratified(samples: Sequence[Sample], size: int, seed: int = DEFAULT_SEED) -> list[Sample]:
    """Up to ``size`` samples, classes taking turns so each is represented as evenly as it can be."""
    rng = random.Random(seed)
    by_class: dict[int, list[Sample]] = defaultdict(list)
    for s in samples:
        by_class[s.label].append(s)
    pools = [rng.sample(v, len(v)) for _, v in sorted(by_class.items())]
    out: list[Sample] = []
    while len(out) < size and any(pools):
        for pool in pools:
            if pool and len(out) < size:
                out.append(pool.pop())
    return out


def scan_folder(root: Path, classes: Sequence[str]) -> list[Sample]:
    """Samples of a calibration folder: class folders named like the model's labels, or plain images."""
    if not root.is_dir():
        raise DataError(f"--calib {root}: no such folder or manifest")
    folders = class_folders(root)
    if not folders:
        files = sorted(p for p in root.iterdir() if p.is_file() and is_image_file(p))
        return [Sample(p, -1) for p in files]
    unknown = [f.name for f in folders if f.name not in classes]
    if unknown:
        raise DataError(f"calibration folder {root} has class(es) {unknown[:5]} the model does not know "
                        f"(model classes: {list(classes)[:8]}); remove them or calibrate with the run's data")
    index = {c: i for i, c in enumerate(classes)}
    return [Sample(p, index[f.name]) for f in folders for p in sorted(f.rglob("*")) if p.is_file() and is_image_file(p)]


def make_calibration_set(samples: Sequence[Sample], classes: Sequence[str], source: str,
                         size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED,
                         min_images: int = MIN_IMAGES) -> CalibrationSet:
    """Sample class-stratified, check there are enough, hash every image."""
    chosen = select_stratified(samples, size, seed)
    if len(chosen) < min_images:
        raise DataError(f"calibration set {source} has {len(chosen)} image(s); INT8 needs at least {min_images} "
                        f"(a few hundred, every class represented, is better): add images or pass --calib DIR")
    if len(chosen) < WARN_BELOW:
        log.warning("calibrating on only %d images from %s: ranges from under %d images are often too narrow; "
                    "use a few hundred covering every class", len(chosen), source, WARN_BELOW)
    return CalibrationSet(tuple(chosen), tuple(_hash(s.path) for s in chosen), tuple(classes), source)


def _hash(path: Path) -> str:
    try:
        return sha256_file(path)
    except OSError as exc:
        raise DataError(f"cannot read calibration image {path}: {exc.strerror or exc}") from exc


def write_manifest(path: str | os.PathLike, calib: CalibrationSet, preprocess: dict[str, Any], seed: int) -> Path:
    path = Path(path)
    return write_json(path, calib.to_manifest(path.parent, preprocess, seed))


def read_manifest(path: str | os.PathLike, classes: Sequence[str]) -> CalibrationSet:
    """A calibration set from a manifest; every image must still have the hash recorded for it."""
    path = Path(path)
    try:
        doc = read_json(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"calibration manifest {path} is not readable JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT or not isinstance(doc.get("images"), list):
        raise DataError(f"{path} is not an edgetl calibration manifest (see calibration/README.md)")
    if int(doc.get("version", 0)) > MANIFEST_VERSION:
        raise DataError(f"{path} has manifest version {doc['version']}; this edgetl reads up to {MANIFEST_VERSION}")
    index = {c: i for i, c in enumerate(classes)}
    samples, hashes = [], []
    for entry in doc["images"]:
        p = Path(entry["path"])
        p = p if p.is_absolute() else path.parent / p
        label = entry.get("label")
        if label is not None and label not in index:
            raise DataError(f"calibration manifest {path}: image {entry['path']} has class {label!r} the model does not know")
        actual = _hash(p)
        if entry.get("sha256") and entry["sha256"] != actual:
            raise DataError(f"calibration image {p} changed since {path} was written (sha256 differs); "
                            f"restore it or write a new manifest")
        samples.append(Sample(p, index[label] if label is not None else -1, tuple(entry["roi"]) if entry.get("roi") else None))
        hashes.append(actual)
    return CalibrationSet(tuple(samples), tuple(hashes), tuple(classes), str(path))


def pick_calibration_set(source: str | os.PathLike | None, data: SplitData | None, labels: Sequence[str],
                         size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED, min_images: int = MIN_IMAGES,
                         eval_split: str = "val") -> CalibrationSet:
    """The images INT8 calibrates on, by one rule for 'edgetl export --int8' and 'edgetl build --calib'.

    ``source`` (a manifest file: exactly its images; a folder: sampled from it) wins; else the data's
    calib/ split; else, with a warning, its train split, never ``eval_split``, which judges the result.
    """
    if source is not None:
        src = Path(source)
        if src.is_file():
            return read_manifest(src, labels)
        return make_calibration_set(scan_folder(src, labels), labels, str(source), size, seed, min_images)
    if data is None:
        raise DataError("INT8 needs calibration images, but the run records no data root: "
                        "pass --calib DIR or --data DIR")
    if data.splits.get("calib"):
        return make_calibration_set(data.splits["calib"], labels, f"{data.root} (calib split)", size, seed, min_images)
    log.warning("%s has no calib/ split: calibrating on train images (never on %s, which judges the result)",
                data.root, eval_split)
    return make_calibration_set(data.splits["train"], labels, f"{data.root} (train split)", size, seed, min_images)
