"""Export: verified FP32 ONNX, and INT8 (Q/DQ) that is kept only when it is accurate and fast."""

from edgetl.export.onnx_export import export_onnx
from edgetl.export.pipeline import ExportConfig, ExportResult, export_run

__all__ = ["ExportConfig", "ExportResult", "export_onnx", "export_run"]
