"""``model.pt`` -> ``model.onnx``: opset 17, dynamic batch, metadata inside, checked by ``onnx.checker``.

The TorchScript exporter is used on purpose: for these CNNs it writes a plain opset-17 graph in well
under a second, whereas torch 2.x's default dynamo exporter emits opset 18 and cannot convert
MobileNet's ``ReduceMean`` back to 17. onnxscript's optimizer then folds the exporter's ``Constant`` and
``Identity`` nodes away, which leaves Conv/Clip/Add/Gemm only.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgetl._optional import require
from edgetl.errors import ExportError
from edgetl.fileio import sha256_file, write_bytes, write_json
from edgetl.spec import ModelInfo

log = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
PROBS_NAME = "probabilities"
DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 11, 20


class WithSoftmax(nn.Module):
    """Logits plus their softmax as a second output."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(x)
        return logits, torch.softmax(logits, dim=1)


def _trace_to_onnx(model: nn.Module, size: int, opset: int, softmax: bool) -> bytes:
    outputs = [OUTPUT_NAME, PROBS_NAME] if softmax else [OUTPUT_NAME]
    net = WithSoftmax(model) if softmax else model
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice is not the user's concern
        torch.onnx.export(
            net.eval(), (torch.zeros(1, 3, size, size),), buf, dynamo=False, opset_version=opset,
            input_names=[INPUT_NAME], output_names=outputs, do_constant_folding=True,
            dynamic_axes={name: {0: "batch"} for name in [INPUT_NAME, *outputs]},
        )
    return buf.getvalue()


def build_onnx(model: nn.Module, info: ModelInfo, opset: int = DEFAULT_OPSET, softmax: bool = False):
    """The checked, optimised ``onnx.ModelProto`` of ``model`` with ``info`` in its metadata."""
    onnx = require("onnx")
    from onnxscript import optimizer

    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportError(f"--opset {opset} is not supported: use {MIN_OPSET}..{MAX_OPSET} (default {DEFAULT_OPSET})")
    try:
        raw = _trace_to_onnx(model, info.preprocess.size, opset, softmax)
    except Exception as exc:  # the exporter raises many types; the user needs one line
        raise ExportError(f"torch.onnx.export failed for {info.backbone} at opset {opset}: "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from exc
    proto = optimizer.optimize(onnx.load_from_string(raw))
    proto.producer_name, proto.producer_version = "edgetl", info.edgetl_version
    proto.doc_string = f"{info.backbone} classifier, {info.num_classes} classes, exported by edgetl"
    set_metadata(proto, info)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ExportError(f"the exported graph fails onnx.checker: {str(exc).splitlines()[0]}") from exc
    return proto


def set_metadata(proto, info: ModelInfo) -> None:
    """Replace the model's ``metadata_props`` with ``info``'s description."""
    onnx = require("onnx")
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, info.to_metadata_props())


def export_details(proto, path: str | os.PathLike, **extra: Any) -> dict[str, Any]:
    """What the sidecar says about the ONNX file itself (beyond ``ModelInfo``)."""
    import onnx

    def shape(v) -> list[Any]:
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    return {
        "file": Path(path).name,
        "sha256": sha256_file(path),
        "opset": max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": {i.name: shape(i) for i in proto.graph.input},
        "outputs": {o.name: shape(o) for o in proto.graph.output},
        "torch_version": str(torch.__version__),
        "onnx_version": onnx.__version__,
        **extra,
    }


def write_onnx(proto, path: str | os.PathLike, info: ModelInfo, **extra: Any) -> Path:
    """Write ``path`` and its sidecar ``path.json`` (ModelInfo plus export details), both atomically."""
    path = Path(path)
    write_bytes(path, proto.SerializeToString())
    write_json(sidecar_path(path), {**info.to_dict(), "export": export_details(proto, path, **extra)})
    return path


def sidecar_path(path: str | os.PathLike) -> Path:
    return Path(f"{path}.json")


def export_onnx(model: nn.Module, info: ModelInfo, out: str | os.PathLike, opset: int = DEFAULT_OPSET,
                softmax: bool = False) -> Path:
    """Export ``model`` to ``out`` (and ``out.json``); returns the path written."""
    proto = build_onnx(model, info, opset=opset, softmax=softmax)
    path = write_onnx(proto, out, info, softmax=softmax, exporter="torchscript+onnxscript.optimizer")
    log.info("wrote %s (opset %d, %d nodes)", path, opset, len(proto.graph.node))
    return path
