"""Run a TensorRT engine (``.engine`` / ``.plan``), reading preprocessing and labels from its manifest.

Before loading, the manifest is checked against the running TensorRT, the GPU and the engine's ONNX;
a stale engine stops with the command that rebuilds it, or is rebuilt with ``rebuild_stale=True``.
An engine without a manifest (e.g. from trtexec) runs with stated defaults and a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edgetl.errors import RuntimeBackendError
from edgetl.runtime.base import Runner
from edgetl.spec import ModelInfo, Preprocess
from edgetl.trt import api
from edgetl.trt.manifest import read_manifest

log = logging.getLogger(__name__)


class TensorRTRunner(Runner):
    backend = "tensorrt"

    def __init__(self, path, rebuild_stale: bool = False):
        from edgetl.build import check_engine, rebuild, stale_message

        path = Path(path)
        reasons = check_engine(path)
        if reasons and not rebuild_stale:
            raise RuntimeBackendError(stale_message(path, reasons))
        if reasons:
            rebuild(path)
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
    size = int(shape[2]) if len(shape) == 4 and shape[2] > 0 else 224
    n = int(session.output_shape[-1]) if session.output_shape and session.output_shape[-1] > 0 else 1000
    log.warning("%s has no manifest (%s.json): assuming RGB input %dx%d (stretch resize), ImageNet mean/std and labels "
                "'class_0'..'class_%d'; build it with 'edgetl build' to carry its own", path, path.name, size, size, n - 1)
    return ModelInfo(backbone="unknown", labels=tuple(f"class_{i}" for i in range(n)),
                     preprocess=Preprocess(size=size, resize=size), extra={"metadata": "defaults"})
