"""One family of user-facing errors.

The CLI shows an ``EdgetlError`` as a single line without a traceback; anything else is a bug.
"""

from __future__ import annotations


class EdgetlError(Exception):
    """A problem the user can fix; the message says what and how."""


class DataError(EdgetlError):
    """The images or labels given to edgetl cannot be used as they are."""


class ModelError(EdgetlError):
    """A model artifact is missing, corrupt, of another version or another architecture."""


class WeightsError(ModelError):
    """Pretrained weights could not be found or do not fit the backbone."""


class ExportError(EdgetlError):
    """Export or quantization failed a check."""


class RuntimeBackendError(EdgetlError):
    """A backend cannot run the model (missing package, bad input, stale engine)."""


class OutputError(EdgetlError):
    """An output cannot be written: its folder is a file or missing, no permission, or the disk is full.

    Raised before long work starts where the problem can be seen then (``fileio.check_output``), and by
    the writers when a write fails; whatever was written before stays as it was.
    """


class MissingDependencyError(EdgetlError):
    """An optional dependency is not installed; the message says how to get it."""
