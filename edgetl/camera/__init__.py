"""The on-device camera loop and its stages: sources (capture), locate, classify, decide (postprocess),
track and smoothing, events, outputs, overlay, the live view (``--serve``) and ground-truth scoring."""

from edgetl.camera.locate import LOCATORS, make_locator
from edgetl.camera.loop import CameraLoop, LoopConfig, LoopResult, format_summary, run_loop
from edgetl.camera.smoothing import UNKNOWN, LabelSmoother, SmoothingConfig
from edgetl.camera.sources import SOURCES, Capture, SourceError, SourceKind, parse_source, redact
from edgetl.camera.track import Event, IouTracker, TrackConfig

__all__ = ["CameraLoop", "Capture", "Event", "IouTracker", "LOCATORS", "LabelSmoother", "LoopConfig", "LoopResult",
           "SOURCES", "SmoothingConfig", "SourceError", "SourceKind", "TrackConfig", "UNKNOWN", "format_summary",
           "make_locator", "parse_source", "redact", "run_loop"]
