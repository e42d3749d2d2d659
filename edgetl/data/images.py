"""Labelled images held in memory through the eval preprocessing, for every consumer that judges or
calibrates a model: export's gates, INT8 calibration (onnxruntime and TensorRT), benchmarks.

Images go through ``edgetl.preprocess`` (ROI crop, resize, centre crop, colour order, normalise): the
tensors judged and calibrated on are the tensors the deployed model will see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from edgetl.data.samples import Sample
from edgetl.preprocess import normalize, prepare_uint8, read_image
from edgetl.spec import Preprocess


@dataclass(frozen=True)
class ImageSet:
    """Preprocessed images (uint8, model colour order) with their labels; normalised per batch."""

    images: np.ndarray  # (N, S, S, 3) uint8
    labels: np.ndarray  # (N,) int64, -1 where unknown
    preprocess: Preprocess

    def __len__(self) -> int:
        return len(self.labels)

    def batches(self, batch_size: int = 32) -> Iterator[np.ndarray]:
        """Model-ready float32 batches (N, 3, S, S)."""
        for i in range(0, len(self), batch_size):
            yield normalize(self.images[i : i + batch_size], self.preprocess)


def load_images(samples: Sequence[Sample], preprocess: Preprocess) -> ImageSet:
    """Read and prepare ``samples`` (DataError names an unreadable file)."""
    s = preprocess.size
    images = np.empty((len(samples), s, s, 3), np.uint8)
    for i, smp in enumerate(samples):
        images[i] = prepare_uint8(read_image(smp.path), preprocess, smp.roi)
    return ImageSet(images, np.array([smp.label for smp in samples], np.int64), preprocess)
