"""The classify stage: the crops of one frame through the Runner as one batch.

Between locate and track. The crops of a frame are prepared with the model's own preprocessing
(``locate.crop_batch``) and run as one batch; a runner whose batch range is narrower (a TensorRT
engine built for fewer) gets them in chunks it accepts (``locate.infer_batch``), and a frame of
hundreds of sliding windows is prepared and run ``max_batch`` crops at a time, so it never holds all
their pixels at once. ``preprocess`` (cropping, resizing, normalising) and ``infer`` (the model) are
timed apart, as the loop has always reported them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
import numpy as np

from edgetl.camera.locate import crop_batch, infer_batch
from edgetl.runtime import Runner

log = logging.getLogger(__name__)

MAX_BATCH = 64  # crops prepared at once when a frame has more (sliding windows)


@dataclass(frozen=True)
class Classified:
    """The logits of a frame's crops (N, classes) and what preparing and running them took."""

    logits: np.ndarray
    preprocess_ms: float
    infer_ms: float

    def __len__(self) -> int:
        return len(self.logits)


class CropClassifier:
    """``classify(frame, crops)``: one batch per frame, chunked to what the runner accepts."""

    def __init__(self, runner: Runner, max_batch: int = MAX_BATCH):
        self.runner = runner
        self.max_batch = max_batch
        self.chunked_frames = 0  # frames whose crops took more than one model call

    def batch_note(self, most: int | None, flag: str = "--max-boxes") -> str | None:
        """What to tell the user, once, when the runner takes fewer crops per batch than a frame can have
        (up to ``max_batch``: more are prepared and run in chunks of that anyway)."""
        hi, r = self.runner.batch_range[1], self.runner
        need = min(most or 0, self.max_batch)
        if hi is None or need <= hi:
            return None
        how = (f"rebuild it with 'edgetl build --batch 1:{min(4, need)}:{need}' to run them at once"
               if r.backend == "tensorrt" else "export it with a dynamic batch to run them at once")
        return (f"{r.path.name} takes at most {hi} crop{'s' if hi > 1 else ''} per batch and a frame can have "
                f"{most} ({flag}): such frames run in chunks of {hi}; {how}")

    def classify(self, frame_bgr: np.ndarray, crops: np.ndarray) -> Classified:
        r, n = self.runner, len(crops)
        hi = min(self.max_batch, r.batch_range[1] or self.max_batch)
        prep = infer = 0.0
        parts = []
        for i in range(0, n, hi):
            t0 = time.perf_counter()
            batch = crop_batch(frame_bgr, crops[i:i + hi], r.info.preprocess)
            t1 = time.perf_counter()
            parts.append(infer_batch(r, batch))
            t2 = time.perf_counter()
            prep, infer = prep + (t1 - t0), infer + (t2 - t1)
        if n > hi:
            self.chunked_frames += 1
        if not parts:
            return Classified(np.zeros((0, r.info.num_classes), np.float32), prep * 1e3, infer * 1e3)
        return Classified(parts[0] if len(parts) == 1 else np.concatenate(parts), prep * 1e3, infer * 1e3)


def infer_crops(runner: Runner, frame_bgr: np.ndarray, crops: np.ndarray, max_batch: int = MAX_BATCH) -> np.ndarray:
    """Logits for the crops of one frame, as the loop's classify stage computes them (for benchmarks)."""
    return CropClassifier(runner, max_batch).classify(frame_bgr, crops).logits
