"""Facts about an ONNX model that more than one stage needs: the proto, the edgetl description stored in
its ``metadata_props``, whether it is quantized, and the stated defaults for a model without a description.

The TensorRT builder asks "does the graph carry Q/DQ?" and the runtime asks "is it INT8?"; both answer
from the one set of quantized op names here. ``default_info`` is the one fallback (and warning) for an
artifact that does not describe itself, used by the ONNX and the TensorRT runners alike.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from edgetl._optional import require
from edgetl.errors import ModelError
from edgetl.spec import ModelInfo, Preprocess

log = logging.getLogger(__name__)

# Quantize/dequantize pairs: the explicit quantization TensorRT builds INT8 engines from.
QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
# onnxruntime's operator-oriented (QOperator) integer ops.
QOPERATOR_OPS = frozenset({"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"})
QUANTIZED_OPS = QDQ_OPS | QOPERATOR_OPS

DEFAULT_SIZE = 224
DEFAULT_CLASSES = 1000


def load_onnx(path: str | os.PathLike) -> Any:
    """The ONNX model proto (without external weights), or a one-line ModelError."""
    onnx = require("onnx")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelError(f"{path} is not a readable ONNX model ({type(exc).__name__})") from exc


def has_qdq(model: Any) -> bool:
    """True when the graph carries QuantizeLinear/DequantizeLinear nodes."""
    return any(n.op_type in QDQ_OPS for n in model.graph.node)


def is_quantized(model: Any) -> bool:
    """True when the graph runs in INT8: Q/DQ pairs or QOperator integer ops."""
    return any(n.op_type in QUANTIZED_OPS for n in model.graph.node)


def read_onnx_info(path: str | os.PathLike) -> ModelInfo:
    """The edgetl description inside an ONNX model, or stated defaults (with a warning) if it has none."""
    return info_from_model(load_onnx(path), path)


def info_from_model(model: Any, path: str | os.PathLike) -> ModelInfo:
    """The description of an already loaded proto; a quantized graph reads as int8 whatever it says."""
    props = {p.key: p.value for p in model.metadata_props}
    info = ModelInfo.from_metadata_props(props)
    if info is None:
        size = _dim(model.graph.input[0], 2)
        num_classes = _dim(model.graph.output[0], -1)
        info = default_info(path, size, num_classes, "has no edgetl metadata",
                            "export it with 'edgetl export' to carry its own")
    if info.precision == "fp32" and is_quantized(model):
        info = info.replace(precision="int8")
    return info


def _dim(value_info: Any, index: int) -> int | None:
    dims = [d.dim_value for d in value_info.type.tensor_type.shape.dim]
    if index == 2 and len(dims) != 4:
        return None
    return dims[index] if dims else None


def default_info(path: str | os.PathLike, size: int | None, num_classes: int | None, what: str,
                 remedy: str) -> ModelInfo:
    """Stated defaults for a model that does not describe itself, with a warning that says so.

    ``size`` and ``num_classes`` come from the model's own shapes where it has them (unknown or
    dynamic: 224 and 1000). ``what`` says what is missing ("has no edgetl metadata") and ``remedy``
    how to get an artifact that carries its own description.
    """
    size = int(size) if size and size > 0 else DEFAULT_SIZE
    n = int(num_classes) if num_classes and num_classes > 0 else DEFAULT_CLASSES
    log.warning("%s %s: assuming RGB input %dx%d (stretch resize), ImageNet mean/std and labels "
                "'class_0'..'class_%d'; %s", path, what, size, size, n - 1, remedy)
    return ModelInfo(backbone="unknown", labels=tuple(f"class_{i}" for i in range(n)),
                     preprocess=Preprocess(size=size, resize=size), extra={"metadata": "defaults"})
