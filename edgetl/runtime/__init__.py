"""Runtime backends behind one interface; ``open_runner`` picks the backend from the artifact's suffix.

The backends are entries of ``BACKENDS`` (``edgetl.runtime.backends``): suffixes, runner class, options,
availability check and an optional prepare step, each declared once.
"""

from __future__ import annotations

from edgetl.runtime.backends import BACKENDS, Backend, BackendOption, backend_for, open_runner
from edgetl.runtime.base import Prediction, Runner, softmax

__all__ = ["BACKENDS", "Backend", "BackendOption", "Prediction", "Runner", "backend_for", "open_runner", "softmax"]
