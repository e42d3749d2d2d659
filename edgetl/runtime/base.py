"""One Runner interface for every backend.

A Runner is a context manager with ``infer(batch) -> logits``. The public method checks the input and
says what it got and what it expected; backends implement ``_infer`` (and optionally ``_activate`` and
``_deactivate``). The camera loop and the benchmark never know which backend they hold.
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edgetl.errors import RuntimeBackendError
from edgetl.preprocess import preprocess_frames, read_image
from edgetl.spec import ModelInfo


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    confidence: float
    topk: tuple[tuple[str, float], ...]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z, dtype=np.float32)
    return e / e.sum(axis=1, keepdims=True)


class Runner(abc.ABC):
    """Base class: holds the model's description and validates every batch."""

    backend: str = "base"
    input_name: str = "input"

    def __init__(self, path: str | os.PathLike, info: ModelInfo):
        self.path = Path(path)
        self.info = info
        self.is_active = False
        # Inclusive batch-size range the backend accepts (an engine's profile narrows it).
        self.batch_range: tuple[int, int | None] = (1, None)

    @property
    def precision(self) -> str:
        return self.info.precision

    @property
    def input_shape(self) -> tuple[str | int, int, int, int]:
        s = self.info.preprocess.size
        return ("N", 3, s, s)

    def __enter__(self) -> "Runner":
        if not self.is_active:
            self._activate()
            self.is_active = True
        return self

    def __exit__(self, *exc) -> None:
        if self.is_active:
            self._deactivate()
            self.is_active = False

    def _activate(self) -> None:
        """Allocate sessions, contexts and buffers."""

    def _deactivate(self) -> None:
        """Free what ``_activate`` allocated."""

    def check_input(self, batch: np.ndarray) -> None:
        s = self.info.preprocess.size
        got = f"{tuple(getattr(batch, 'shape', ()))} {getattr(batch, 'dtype', type(batch).__name__)}"
        lo, hi = self.batch_range
        want_n = "N" if hi is None and lo == 1 else str(lo) if lo == hi else f"N in {lo}..{hi if hi is not None else 'any'}"
        expected = f"({want_n}, 3, {s}, {s}) float32"
        ok = (isinstance(batch, np.ndarray) and batch.dtype == np.float32 and batch.ndim == 4
              and batch.shape[1:] == (3, s, s) and batch.shape[0] >= lo and (hi is None or batch.shape[0] <= hi))
        if not ok:
            raise RuntimeBackendError(f"input '{self.input_name}': got {got}, expected {expected}")

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits (N, num_classes) float32 for a preprocessed batch (N, 3, S, S) float32."""
        if not self.is_active:
            raise RuntimeBackendError(f"{type(self).__name__} is not active: use it as 'with open_runner(...) as r:'")
        self.check_input(batch)
        return self.check_output(np.asarray(self._infer(np.ascontiguousarray(batch)), dtype=np.float32), len(batch))

    def check_output(self, out: np.ndarray, n: int) -> np.ndarray:
        """The model's output as (N, num_classes) logits: trailing dimensions of size 1, as a model without
        a final flatten gives (N, C, 1, 1), are dropped; any other shape is an error naming it."""
        c = self.info.num_classes
        if out.ndim > 2 and out.shape[:2] == (n, c) and all(d == 1 for d in out.shape[2:]):
            out = out.reshape(n, c)
        if out.shape != (n, c):
            raise RuntimeBackendError(
                f"{self.path.name}: output has shape {tuple(out.shape)} for a batch of {n}, expected ({n}, {c}) "
                f"logits, one per class of the model's {c} labels")
        return out

    @abc.abstractmethod
    def _infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the backend on a checked batch."""

    def preprocess(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """OpenCV BGR uint8 frames -> the model's input batch, as the model was validated."""
        return preprocess_frames(frames, self.info.preprocess)

    def postprocess(self, logits: np.ndarray, topk: int = 1) -> list[Prediction]:
        probs = softmax(logits)
        k = max(1, min(topk, probs.shape[1]))
        order = np.argsort(-probs, axis=1)[:, :k]
        labels = self.info.labels
        return [Prediction(int(o[0]), labels[o[0]], float(p[o[0]]), tuple((labels[i], float(p[i])) for i in o))
                for p, o in zip(probs, order)]

    def predict(self, images: Sequence[np.ndarray | str | os.PathLike], topk: int = 1) -> list[Prediction]:
        """Recognise BGR frames or image files."""
        frames = [read_image(x) if isinstance(x, (str, os.PathLike)) else x for x in images]
        return self.postprocess(self.infer(self.preprocess(frames)), topk)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, precision={self.precision})"
