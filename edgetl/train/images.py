"""Decode a split once into memory (or stream it when it is too big), skipping unreadable images.

What is stored is ``edgetl.preprocess.resized_uint8``: deploy-side preprocessing up to the crop. Eval
batches then go through ``eval_batch`` (the same centre crop and normalisation), so evaluation here
sees exactly what a runtime will feed the model.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np
import torch

from edgetl.data.samples import Sample, SplitData
from edgetl.errors import DataError
from edgetl.preprocess import center_crop, normalize_tensor, read_image, resized_uint8
from edgetl.spec import Preprocess

log = logging.getLogger(__name__)

# Above this many bytes a split is decoded on the fly by DataLoader workers instead of held in memory.
MEMORY_BUDGET = 3 << 30


@dataclass
class BadImages:
    paths: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def load_one(sample: Sample, p: Preprocess) -> np.ndarray:
    return resized_uint8(read_image(sample.path), p, sample.roi)


def eval_batch(images: torch.Tensor, p: Preprocess, device: torch.device | str = "cpu") -> torch.Tensor:
    """Decoded uint8 (N, R, R, 3) -> the model input a runtime computes for the same images, on ``device``:
    ``edgetl.preprocess``'s centre crop and normalisation (its torch twin), float32 (N, 3, S, S)."""
    return normalize_tensor(center_crop(images, p.size).to(device, non_blocking=True), p)


class DecodedSplit:
    """Images of one split as uint8 (N, R, R, 3) plus labels; unreadable files are skipped and listed."""

    def __init__(self, samples: Sequence[Sample], p: Preprocess, threads: int = 4):
        self.p = p
        self.bad = BadImages()
        r = p.resize
        need = len(samples) * r * r * 3
        if need > MEMORY_BUDGET:
            raise MemoryError(need)
        images = np.empty((len(samples), r, r, 3), np.uint8)
        ok = np.zeros(len(samples), bool)

        def work(i: int) -> None:
            try:
                images[i] = load_one(samples[i], p)
                ok[i] = True
            except (DataError, ValueError) as exc:  # cv2 raises on degenerate crops
                self.bad.paths.append(str(samples[i].path))
                self.bad.reasons.append(str(exc))

        with ThreadPoolExecutor(max(1, threads)) as pool:  # cv2 releases the GIL while decoding
            list(pool.map(work, range(len(samples))))
        self.images = torch.from_numpy(images[ok])
        self.labels = torch.tensor([s.label for s, k in zip(samples, ok) if k], dtype=torch.long)
        self.paths = [str(s.path) for s, k in zip(samples, ok) if k]

    def __len__(self) -> int:
        return len(self.labels)


class Unreadable(NamedTuple):
    """What a streaming split yields for an image it cannot decode (picklable, so DataLoader workers can)."""
    index: int
    reason: str


class StreamingSplit(torch.utils.data.Dataset):
    """The same decoding, one image at a time, for splits too big to hold in memory.

    Unreadable images come to light as batches are decoded; ``gather`` and ``eval_batches`` drop them and
    record each once in ``bad`` (logged then), and once ``decode_checked`` has set ``limit`` they count
    against ``max_bad_fraction`` as the in-memory path counts them up front."""

    def __init__(self, samples: Sequence[Sample], p: Preprocess):
        self.samples, self.p = list(samples), p
        self.labels = torch.tensor([s.label for s in self.samples], dtype=torch.long)
        self.paths = [str(s.path) for s in self.samples]
        self.bad = BadImages()
        self.bad_index: set[int] = set()
        self.limit: tuple[str, float, Sequence[object]] | None = None  # (split name, max fraction, skipped rows)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        try:
            return torch.from_numpy(load_one(self.samples[i], self.p)), self.labels[i], i
        except (DataError, ValueError) as exc:  # cv2 raises on degenerate crops
            return Unreadable(i, str(exc))

    def note_unreadable(self, item: Unreadable) -> None:
        """Record an unreadable image the first time it is met; more than the limit stop the run."""
        if item.index in self.bad_index:
            return
        self.bad_index.add(item.index)
        self.bad.paths.append(self.paths[item.index])
        self.bad.reasons.append(item.reason)
        where = f" in {self.limit[0]}" if self.limit else ""
        log.warning("skipped unreadable image%s: %s (%s)", where, self.paths[item.index], item.reason)
        if self.limit:
            name, max_fraction, skipped = self.limit
            _stop_if_too_many(name, self.bad.paths, skipped, len(self), max_fraction)


def collate_readable(batch):
    """A streaming split's items -> (images, labels, indices, unreadable): the images read, stacked (None
    when none could be), and the ``Unreadable`` items for the split to note in the main process."""
    unreadable = [b for b in batch if isinstance(b, Unreadable)]
    batch = [b for b in batch if not isinstance(b, Unreadable)]
    if not batch:
        return None, None, None, unreadable
    imgs, labels, idx = zip(*batch)
    return torch.stack(imgs), torch.stack(labels), torch.tensor(idx), unreadable


def to_layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A model input in the memory layout its model was put in (``channels_last`` or not)."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def gather(split: DecodedSplit | StreamingSplit, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoded images ``idx`` of a split and the indices of those returned: a streaming split drops (and
    notes) its unreadable images, so index labels or a teacher's images with the second, not ``idx``."""
    if isinstance(split, DecodedSplit):
        return split.images[idx], idx
    imgs, _, kept, unreadable = collate_readable([split[int(i)] for i in idx])
    for item in unreadable:
        split.note_unreadable(item)
    if imgs is None:
        r = split.p.resize
        return torch.empty((0, r, r, 3), dtype=torch.uint8), idx[:0]
    return imgs, kept


def eval_batches(split: DecodedSplit | StreamingSplit, batch: int, workers: int = 0):
    """(images, labels) of a split in order, ``batch`` at a time. A streaming split decodes on the fly and
    drops its unreadable images, so the labels of a result are those yielded here, never ``split.labels``."""
    if isinstance(split, DecodedSplit):
        for i in range(0, len(split), batch):
            yield split.images[i : i + batch], split.labels[i : i + batch]
    else:
        loader = torch.utils.data.DataLoader(split, batch_size=batch, num_workers=workers,
                                             collate_fn=collate_readable)
        for imgs, labels, _, unreadable in loader:
            for item in unreadable:
                split.note_unreadable(item)
            if imgs is not None:
                yield imgs, labels


def eval_labels(split: DecodedSplit | StreamingSplit, workers: int = 0) -> np.ndarray:
    """The labels of the images ``eval_batches`` yields, in its order."""
    if isinstance(split, DecodedSplit):
        return split.labels.numpy()
    labels = [lab.numpy() for _, lab in eval_batches(split, 256, workers)]
    return np.concatenate(labels) if labels else np.zeros(0, np.int64)


def decode_split(samples: Sequence[Sample], p: Preprocess, threads: int = 4) -> DecodedSplit | StreamingSplit:
    try:
        return DecodedSplit(samples, p, threads)
    except MemoryError:
        log.info("%d images at %dx%d exceed the in-memory budget; decoding on the fly", len(samples), p.resize, p.resize)
        return StreamingSplit(samples, p)


def check_bad(name: str, split, total: int, max_fraction: float, skipped: Sequence[object] = ()) -> None:
    """Log a split's unreadable images and the rows its reader skipped (``skipped``: a missing file, a box
    outside the image); more than ``max_fraction`` of them together stop the run. A streaming split finds
    its unreadable images as it decodes them and applies the same limit then (``StreamingSplit.limit``)."""
    unreadable = len(split.bad.paths)
    if not unreadable + len(skipped):
        return
    for path, why in zip(split.bad.paths, split.bad.reasons):
        log.warning("skipped unreadable image in %s: %s (%s)", name, path, why)
    for row in skipped:
        log.warning("skipped row in %s: %s", name, row)
    if unreadable:
        log.warning("%s: skipped %d of %d images that could not be read", name, unreadable, total + len(skipped))
    if skipped:
        log.warning("%s: skipped %d of %d rows the data lists", name, len(skipped), total + len(skipped))
    _stop_if_too_many(name, split.bad.paths, skipped, total, max_fraction)


def _stop_if_too_many(name: str, unreadable: Sequence[str], skipped: Sequence[object], total: int,
                      max_fraction: float) -> None:
    bad, total = len(unreadable) + len(skipped), total + len(skipped)
    if bad > max_fraction * total:
        what = "are unreadable" if not skipped else "could not be used"
        example = unreadable[0] if unreadable else skipped[0]
        raise DataError(f"{name}: {bad} of {total} images {what} (more than {max_fraction:.0%}); "
                        f"fix or remove them, e.g. {example}")


def decode_checked(data: SplitData, names: Sequence[str], p: Preprocess, threads: int,
                   max_fraction: float) -> dict[str, DecodedSplit | StreamingSplit]:
    """Decode the splits ``names`` that ``data`` has, each checked by ``check_bad``: its unreadable images
    and the rows its reader skipped together stop the run above ``max_fraction``. Finetune and
    quantization-aware training both decode this way, so they accept the same data."""
    splits = {}
    for name in names:
        if data.splits.get(name):
            splits[name] = decode_split(data.splits[name], p, threads=threads)
            check_bad(name, splits[name], len(data.splits[name]), max_fraction, data.skipped.get(name, ()))
            if isinstance(splits[name], StreamingSplit):
                splits[name].limit = (name, max_fraction, tuple(data.skipped.get(name, ())))
    return splits
