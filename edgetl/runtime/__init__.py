"""Runtime backends behind one interface; ``open_runner`` picks the backend from the artifact's suffix.

The backends are entries of ``BACKENDS`` (``edgetl.runtime.backends``): suffixes, runner class, options,
availability check and an optional prepare step, each declared once.

``Prediction``, ``Runner`` and ``softmax`` (``edgetl.runtime.base``, which needs numpy and, through
``edgetl.preprocess``, OpenCV) are loaded on first use, so that importing the registry alone (the backend
flags of ``edgetl run --help`` and ``edgetl bench --help``) stays light. ``from edgetl.runtime import
Runner`` works as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgetl._optional import lazy_attributes
from edgetl.runtime.backends import BACKENDS, Backend, BackendOption, backend_for, open_runner

if TYPE_CHECKING:
    from edgetl.runtime.base import Prediction, Runner, softmax

__all__ = ["BACKENDS", "Backend", "BackendOption", "Prediction", "Runner", "backend_for", "open_runner", "softmax"]

_LAZY = {"Prediction": "edgetl.runtime.base", "Runner": "edgetl.runtime.base", "softmax": "edgetl.runtime.base"}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
