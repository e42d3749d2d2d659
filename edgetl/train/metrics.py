"""Top-1, per-class precision and recall, and the confusion matrix picture."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from edgetl.fileio import atomic_path


def confusion(pred: np.ndarray, truth: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (truth, pred), 1)
    return m


def summarize(pred: np.ndarray, truth: np.ndarray, classes: Sequence[str]) -> dict:
    m = confusion(pred, truth, len(classes))
    tp = np.diag(m).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(m.sum(1) > 0, tp / m.sum(1), np.nan)
        precision = np.where(m.sum(0) > 0, tp / m.sum(0), np.nan)
    per_class = {c: {"precision": _f(p), "recall": _f(r), "support": int(s)}
                 for c, p, r, s in zip(classes, precision, recall, m.sum(1))}
    return {"top1": float(tp.sum() / max(1, m.sum())), "per_class": per_class, "confusion": m.tolist()}


def _f(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 6)


def plot_confusion(m: np.ndarray, classes: Sequence[str], path: str | os.PathLike, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(m, float)
    norm = m / np.maximum(1, m.sum(1, keepdims=True))
    n = len(classes)
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * n + 2), max(4, 0.35 * n + 1.5)), dpi=110)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(n), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
