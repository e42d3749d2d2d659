"""Runtime backends behind one interface; ``open_runner`` picks the backend from the artifact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgetl.errors import ModelError
from edgetl.runtime.base import Prediction, Runner, softmax

__all__ = ["Prediction", "Runner", "open_runner", "softmax", "backend_for"]

BACKENDS = {".pt": "torch", ".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt"}


def backend_for(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in BACKENDS:
        raise ModelError(f"{path}: not a model edgetl can run (expected one of {', '.join(BACKENDS)})")
    return BACKENDS[suffix]


def open_runner(path: str | os.PathLike, **options: Any) -> Runner:
    """A Runner for ``path`` (not yet active: use it in a ``with`` block).

    Options are passed to the backend: ``device`` for torch, ``providers`` for onnxruntime (cpu, cuda,
    tensorrt), ``threads`` for both, ``rebuild_stale`` for TensorRT engines; backends ignore options that
    do not concern them only when the value is None.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{path}: no such model file")
    backend = backend_for(p)
    opts = {k: v for k, v in options.items() if v is not None}
    if backend == "torch":
        from edgetl.runtime.torch_runner import TorchRunner as cls
    elif backend == "onnxruntime":
        from edgetl.runtime.onnxruntime_runner import OnnxRuntimeRunner as cls
    else:
        from edgetl.runtime.tensorrt_runner import TensorRTRunner as cls
    import inspect

    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "path"}
    unknown = set(opts) - accepted
    if unknown:
        raise ModelError(f"{backend} runner does not take option(s) {', '.join(sorted(unknown))}")
    return cls(p, **opts)
