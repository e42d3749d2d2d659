"""What the loop hands a live view each frame, and the two calls a live view answers.

The contract is small on purpose: the loop asks ``wants_image()`` (is anyone watching, and is a frame
due?), draws the overlay only if so, calls ``frame()`` once per processed frame, and ``publish()``
once per announced sign (``"sign"``, the event as JSON). No call may block or do real work in the
loop's thread: a live view copies references and returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

import numpy as np


@dataclass(frozen=True)
class LiveFrame:
    """One processed frame as a viewer sees it; ``image`` only when ``wants_image()`` said yes.

    ``image`` is the annotated frame itself, handed over: the loop no longer touches it afterwards.
    ``ms`` holds this frame's per-stage milliseconds (``output`` is the previous frame's, as on the
    overlay); the counters are the run's so far.
    """

    index: int
    t: float  # seconds since the run started
    label: str
    confidence: float
    topk: tuple[tuple[str, float], ...]
    ms: Mapping[str, float]
    fps: float | None
    frames: int
    captured: int
    dropped: int
    reconnects: int
    image: np.ndarray | None = field(default=None, repr=False)


class LiveOutput(Protocol):
    """A view of the running loop (the ``--serve`` broadcast); both calls return at once."""

    def wants_image(self) -> bool:
        """Whether the next frame's annotated image would be sent to anyone."""

    def frame(self, frame: LiveFrame) -> None:
        """Take one processed frame (and its image, when asked for) without waiting."""

    def publish(self, kind: str, data: Mapping[str, Any]) -> int:
        """Hand viewers an event of ``kind`` (``"sign"``: a sign announced) without waiting."""
