"""Export: verified FP32 ONNX, and INT8 (Q/DQ) that is kept only when it is accurate and fast.

``export_onnx``, ``export_run``, ``ExportConfig`` and ``ExportResult`` are loaded on first use: their
modules import torch, and every import of a lighter module of this package (``qat_config`` and ``quantize``,
whose choices and defaults ``edgetl export --help`` shows) runs this file first. ``from edgetl.export import
export_run`` works as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgetl._optional import lazy_attributes

if TYPE_CHECKING:
    from edgetl.export.onnx_export import export_onnx
    from edgetl.export.pipeline import ExportConfig, ExportResult, export_run

__all__ = ["ExportConfig", "ExportResult", "export_onnx", "export_run"]

_LAZY = {"export_onnx": "edgetl.export.onnx_export", "ExportConfig": "edgetl.export.pipeline",
         "ExportResult": "edgetl.export.pipeline", "export_run": "edgetl.export.pipeline"}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
