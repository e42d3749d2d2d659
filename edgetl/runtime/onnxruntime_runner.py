"""Run an ONNX model in onnxruntime, reading its preprocessing and labels from the model itself
(``edgetl.onnxinfo.read_onnx_info``, importable from here too)."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from edgetl._optional import require
from edgetl.errors import ModelError, RuntimeBackendError
from edgetl.onnxinfo import read_onnx_info
from edgetl.runtime.base import Runner

__all__ = ["OnnxRuntimeRunner", "PROVIDER_ALIASES", "SESSION_CONFIG_ENV", "read_onnx_info", "resolve_providers",
           "session_config"]

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}


# onnxruntime session config entries for every session a runner opens, 'key=value;key=value'. For
# example session.disable_quant_qdq=1 runs a Q/DQ model as written (quantize, dequantize, float op)
# instead of in onnxruntime's fused integer kernels: the INT8 tests run once that way too (.ci/run).
SESSION_CONFIG_ENV = "EDGETL_ORT_SESSION_CONFIG"


def session_config(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The session config entries ``$EDGETL_ORT_SESSION_CONFIG`` asks for (empty when unset)."""
    text = environ.get(SESSION_CONFIG_ENV, "").strip()
    out = {}
    for item in filter(None, (i.strip() for i in text.split(";"))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RuntimeBackendError(f"{SESSION_CONFIG_ENV}: {item!r} is not key=value (e.g. "
                                      f"session.disable_quant_qdq=1; entries separated by ';')")
        out[key.strip()] = value.strip()
    return out


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
        for key, value in session_config().items():
            opts.add_session_config_entry(key, value)
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
