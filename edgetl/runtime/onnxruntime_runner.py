"""Run an ONNX model in onnxruntime, reading its preprocessing and labels from the model itself."""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from edgetl._optional import require
from edgetl.errors import ModelError, RuntimeBackendError
from edgetl.runtime.base import Runner
from edgetl.spec import ModelInfo, Preprocess

log = logging.getLogger(__name__)

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}

# Nodes that make a graph INT8: Q/DQ pairs, or onnxruntime's operator-oriented quantized ops.
QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}


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


def load_onnx(path):
    """The ONNX model proto (without external weights), or a one-line ModelError."""
    onnx = require("onnx")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelError(f"{path} is not a readable ONNX model ({type(exc).__name__})") from exc


def read_onnx_info(path) -> ModelInfo:
    """The edgetl description inside an ONNX model, or stated defaults (with a warning) if it has none."""
    return info_from_model(load_onnx(path), path)


def info_from_model(model, path) -> ModelInfo:
    props = {p.key: p.value for p in model.metadata_props}
    info = ModelInfo.from_metadata_props(props)
    if info is None:
        info = _defaults_from_graph(model, path)
    if info.precision == "fp32" and any(n.op_type in QUANTIZED_OPS for n in model.graph.node):
        info = info.replace(precision="int8")
    return info


def _defaults_from_graph(model, path) -> ModelInfo:
    inp = model.graph.input[0]
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    size = dims[2] if len(dims) == 4 and dims[2] > 0 else 224
    out_dims = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    n = out_dims[-1] if out_dims and out_dims[-1] > 0 else 1000
    log.warning("%s has no edgetl metadata: assuming RGB input %dx%d (stretch resize), ImageNet mean/std and "
                "labels 'class_0'..'class_%d'; export it with 'edgetl export' to carry its own", path, size, size, n - 1)
    return ModelInfo(backbone="unknown", labels=tuple(f"class_{i}" for i in range(n)),
                     preprocess=Preprocess(size=size, resize=size), extra={"metadata": "defaults"})


class OnnxRuntimeRunner(Runner):
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
