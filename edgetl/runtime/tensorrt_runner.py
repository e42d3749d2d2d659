"""Run a TensorRT engine (``.engine`` / ``.plan``), reading preprocessing and labels from its manifest.

This runner only loads and runs. Whether the engine still fits this TensorRT, GPU and ONNX is decided
before it opens, by the TensorRT backend entry's ``prepare`` step (``edgetl.trt.build.prepare_engine``),
which stops a stale engine with the command that rebuilds it, or rebuilds it with ``--rebuild-stale``.
An engine without a manifest (e.g. from trtexec) runs with stated defaults and a warning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgetl.onnxinfo import default_info
from edgetl.runtime.base import Runner
from edgetl.spec import ModelInfo
from edgetl.trt import api
from edgetl.trt.manifest import read_manifest


class TensorRTRunner(Runner):
    """A deserialized engine with an execution context and device buffers while active."""

    backend = "tensorrt"

    def __init__(self, path):
        path = Path(path)
        manifest = read_manifest(path)
        self.session: api.EngineSession | None = None
        if manifest is not None:
            info = manifest.model
            profile = manifest.profiles[0] if manifest.profiles else None
            batch_range = (profile["min"][0], profile["max"][0]) if profile else (1, None)
        else:
            self.session = api.EngineSession(path.read_bytes(), str(path))
            info = _defaults_from_engine(path, self.session)
            batch_range = self.session.batch_range
        super().__init__(path, info)
        self.batch_range = batch_range

    def _activate(self) -> None:
        if self.session is None:
            self.session = api.EngineSession(self.path.read_bytes(), str(self.path))
        self.session.open()
        self.input_name = self.session.input_name
        self.batch_range = self.session.batch_range

    def _deactivate(self) -> None:
        if self.session is not None:
            self.session.close()
        self.session = None

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return self.session.infer(batch)


def _defaults_from_engine(path: Path, session: api.EngineSession) -> ModelInfo:
    shape = session.input_shape
    size = int(shape[2]) if len(shape) == 4 else None
    num_classes = int(session.output_shape[-1]) if session.output_shape else None
    return default_info(path, size, num_classes, f"has no manifest ({path.name}.json)",
                        "build it with 'edgetl build' to carry its own")
