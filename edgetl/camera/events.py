"""The events stage: each confirmed track is announced once, as it happens, and logged when it ends.

An announcement goes, in the loop's thread and without waiting, to whoever listens: the terminal
(``on_event``, one line each, ``format_event``) and the live view (a ``sign`` event for ``--serve``).
When a confirmed track ends (or the run does), its final event (last frame, final label, best view)
becomes one line of ``--events FILE.jsonl``; the file is written under a temporary name and renamed
when the run ends, like every other output, so a run that ends in any way leaves it complete.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterable

from edgetl.camera.live import LiveOutput
from edgetl.camera.outputs import JsonlWriter
from edgetl.camera.track import Event, TrackStep

log = logging.getLogger(__name__)


def format_event(e: Event) -> str:
    """One terminal line for an announcement."""
    x1, y1, x2, y2 = e.best_box
    return (f"sign #{e.track_id}: {e.announced_label} {e.confidence:.2f} at frame {e.announced_frame} "
            f"({e.announced_t:.2f} s), in view since frame {e.first_frame}, box {x1},{y1},{x2},{y2}")


def event_record(e: Event) -> dict[str, Any]:
    """An event as a JSON object (``--events`` lines, the live view's ``sign`` events)."""
    return e.to_dict()


class EventLog:
    """Routes a frame's announcements and ended tracks to the terminal, the live view and the file."""

    def __init__(self, path: str | os.PathLike | None = None, on_event: Callable[[Event], None] | None = None,
                 live: LiveOutput | None = None):
        self.writer = JsonlWriter(path) if path else None
        self.on_event, self.live = on_event, live
        self.announced = 0
        self.ended = 0

    def step(self, step: TrackStep) -> None:
        for e in step.announced:
            self.announce(e)
        self.record(step.ended)

    def announce(self, e: Event) -> None:
        self.announced += 1
        log.debug("%s", format_event(e))
        if self.on_event is not None:
            self.on_event(e)
        if self.live is not None:
            self.live.publish("sign", event_record(e))

    def record(self, ended: Iterable[Event]) -> None:
        for e in ended:
            self.ended += 1
            if self.writer is not None:
                self.writer.write(event_record(e))

    def close(self) -> str | None:
        """Finish the file (after the last ``record``); its path, or None without ``--events`` (or when
        a write failed: then the file is removed, as every output's)."""
        path = self.writer.close() if self.writer is not None else None
        return str(path) if path else None
