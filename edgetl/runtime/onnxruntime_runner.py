"""Run an ONNX model in onnxruntime, reading its preprocessing and labels from the model itself
(``edgetl.onnxinfo.read_onnx_info``, importable from here too)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgetl._optional import require
from edgetl.errors import ModelError, RuntimeBackendError
from edgetl.onnxinfo import read_onnx_info
from edgetl.runtime.base import Runner

__all__ = ["OnnxRuntimeRunner", "PROVIDER_ALIASES", "read_onnx_info", "resolve_providers"]

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}


def resolve_providers(names: Sequence[str] | None) -> list[str]:
    """Map short names (cpu, cuda, tensorrt) to onnxruntime providers; refuse ones not available."""
    ort = require("onnxruntime")
    available = ort.get_available_providers()
    if not names:
        return ["CPUExecutionProvider"]
    out = []
    for n in names:
        full = PROVIDER_ALIASES.get(n.lower(), n)
        if full not in available:
            raise RuntimeBackendError(f"onnxruntime provider {n!r} is not available here (available: "
                                      f"{', '.join(available)}); on a CUDA machine install onnxruntime-gpu")
        out.append(full)
    return out


class OnnxRuntimeRunner(Runner):
    """An onnxruntime session on the given providers (default: the CPU)."""

    backend = "onnxruntime"

    def __init__(self, path, providers: Sequence[str] | None = None, threads: int | None = None):
        info = read_onnx_info(path)
        super().__init__(path, info)
        self.providers = resolve_providers(providers)
        self.threads = threads
        self.session = None

    def _activate(self) -> None:
        ort = require("onnxruntime")
        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=self.providers)
        except Exception as exc:
            raise ModelError(f"onnxruntime cannot load {self.path}: {str(exc).splitlines()[0]}") from exc
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        dim0 = inputs[0].shape[0]
        if isinstance(dim0, int) and dim0 > 0:
            self.batch_range = (dim0, dim0)
        self.output_name = self.session.get_outputs()[0].name

    def _deactivate(self) -> None:
        self.session = None

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        try:
            return self.session.run([self.output_name], {self.input_name: batch})[0]
        except Exception as exc:
            raise RuntimeBackendError(f"onnxruntime failed on {self.path}: {str(exc).splitlines()[0]}") from exc
