"""The on-device camera loop: sources, smoothing, overlay, outputs and ground-truth scoring."""

from edgetl.camera.loop import LoopConfig, LoopResult, format_summary, run_loop
from edgetl.camera.smoothing import UNKNOWN, LabelSmoother, SmoothingConfig
from edgetl.camera.sources import SOURCES, Capture, SourceError, SourceKind, parse_source, redact

__all__ = ["Capture", "LabelSmoother", "LoopConfig", "LoopResult", "SOURCES", "SmoothingConfig", "SourceError",
           "SourceKind", "UNKNOWN", "format_summary", "parse_source", "redact", "run_loop"]
