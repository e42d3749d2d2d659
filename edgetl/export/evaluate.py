"""Evaluate exported models on labelled images: parity with torch, accuracy, agreement, latency.

The images are an ``edgetl.data.images.ImageSet``: they went through the deploy-side preprocessing,
so the tensors the gates judge are the tensors the deployed model will see.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from edgetl.bench.timing import Budget, interleaved, warm_up
from edgetl.data.images import ImageSet
from edgetl.errors import ExportError
from edgetl.runtime import open_runner

log = logging.getLogger(__name__)

PARITY_MAX_ABS = 1e-4


def predict_logits(runner, images: ImageSet, batch_size: int = 32) -> np.ndarray:
    """Logits of an active Runner over every image."""
    return np.concatenate([runner.infer(b) for b in images.batches(batch_size)])


def reference_logits(path: str | os.PathLike, images: ImageSet, batch_size: int = 32) -> np.ndarray:
    """Logits with every graph optimisation off: Q/DQ run as written (quantize, dequantize, float op).

    This is the arithmetic a Q/DQ graph defines, and what TensorRT implements with INT32 accumulation.
    onnxruntime's optimised CPU session instead fuses Q/DQ into its own integer kernels, whose S8S8 path
    saturates on AVX2 CPUs without VNNI, so it would judge a TensorRT-bound model by this CPU's limits.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: b})[0] for b in images.batches(batch_size)])


@dataclass(frozen=True)
class Accuracy:
    top1: float
    per_class_recall: dict[str, float | None]
    predictions: np.ndarray

    def to_dict(self) -> dict:
        return {"top1": self.top1, "per_class_recall": self.per_class_recall}


def accuracy(logits: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> Accuracy:
    pred = logits.argmax(axis=1)
    recall = {}
    for i, name in enumerate(classes):
        mask = labels == i
        recall[name] = float((pred[mask] == i).mean()) if mask.any() else None
    return Accuracy(float((pred == labels).mean()), recall, pred)


def check_parity(torch_logits: np.ndarray, onnx_logits: np.ndarray, tol: float = PARITY_MAX_ABS) -> float:
    """Max abs logit difference; ExportError when above ``tol`` or when any top-1 differs."""
    diff = float(np.abs(torch_logits - onnx_logits).max()) if len(torch_logits) else 0.0
    flipped = int((torch_logits.argmax(1) != onnx_logits.argmax(1)).sum())
    if diff > tol or flipped:
        raise ExportError(f"ONNX does not match torch on {len(torch_logits)} validation images: max abs logit "
                          f"difference {diff:.2e} (allowed {tol:.0e}), top-1 differs on {flipped}; the export is "
                          f"wrong, do not deploy it (--no-verify skips this check)")
    return diff


def measure_latency(paths: Mapping[str, str | os.PathLike], batch: np.ndarray, threads: int = 1,
                    iters: int = 50, rounds: int = 5, warmup: int = 10) -> dict[str, float]:
    """Median batch latency in ms per model, over ``iters * rounds`` calls of each.

    Timed with the benchmark's interleaved rounds (one call of every model per round, the order
    shuffled each round), so a change in the machine's load hits every model alike.
    """
    with contextlib.ExitStack() as stack:
        runners = {name: stack.enter_context(open_runner(p, threads=threads)) for name, p in paths.items()}
        calls = [lambda r=r: r.infer(batch) for r in runners.values()]
        for call in calls:
            warm_up(call, warmup)
        samples = interleaved(calls, Budget(iters=iters * rounds))
    return {name: float(np.median(ns)) / 1e6 for name, ns in zip(runners, samples)}
