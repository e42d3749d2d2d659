"""The state a live view shares between the camera loop and its viewers, decoupled in time.

The loop writes and never waits: ``frame()`` stores references and wakes the encoder thread. The
encoder scales the newest annotated frame down and JPEG-encodes it into a single slot; each viewer
reads that slot when it can, so a slow viewer skips frames instead of queueing them and a stalled
one holds up nobody. Events (recognitions, signs announced, the end) go into a short numbered ring
that viewers read from their last id on; a viewer that falls behind the ring skips what it missed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from typing import Any, Iterator, Mapping

import cv2
import numpy as np

from edgetl.bench.timing import summarize_ms
from edgetl.camera.live import LiveFrame

log = logging.getLogger(__name__)

STATS_WINDOW = 300  # frames the live percentiles are taken over
EVENT_RING = 200  # events kept for viewers that connect or reconnect
JPEG_QUALITY = 80


class Broadcast:
    """Newest JPEG, recent per-stage times and an event ring; implements ``LiveOutput`` for the loop.

    ``fps`` bounds how many frames a second are encoded (only while someone watches the stream) and
    ``width`` how wide they are; ``max_viewers`` bounds each kind of stream (``stream``, ``events``).
    """

    def __init__(self, fps: float = 15.0, width: int = 640, max_viewers: int = 4, info: Mapping[str, Any] | None = None,
                 quality: int = JPEG_QUALITY):
        self.interval, self.width, self.max_viewers, self.quality = 1.0 / fps, width, max_viewers, quality
        self.info: dict[str, Any] = dict(info or {})
        self._lock = threading.Lock()
        self._jpeg_cond = threading.Condition()
        self._event_cond = threading.Condition()
        self._viewers = {"stream": 0, "events": 0}
        self._recent: deque[Mapping[str, float]] = deque(maxlen=STATS_WINDOW)
        self._latest: LiveFrame | None = None
        self._label: str | None = None
        self._pending: np.ndarray | None = None
        self._due = 0.0  # perf_counter from which the next image is wanted
        self._jpeg: tuple[int, bytes] = (0, b"")
        self._events: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=EVENT_RING)
        self._event_id = 0
        self._wake = threading.Event()
        self.t_start = time.monotonic()
        self.ended: str | None = None
        self._encoder = threading.Thread(target=self._encode_forever, name="edgetl-serve-encoder", daemon=True)
        self._encoder.start()

    # -- the loop's side: never blocks ------------------------------------------------------------

    def wants_image(self) -> bool:
        return self._viewers["stream"] > 0 and time.perf_counter() >= self._due and self.ended is None

    def frame(self, frame: LiveFrame) -> None:
        with self._lock:
            self._recent.append(frame.ms)
            self._latest = frame
            if frame.image is not None:
                self._pending = frame.image
                self._due = time.perf_counter() + self.interval
                self._wake.set()
        if frame.label != self._label:
            self._label = frame.label
            self.publish("recognition", {"frame": frame.index, "t": round(frame.t, 3), "label": frame.label,
                                         "confidence": round(frame.confidence, 4)})

    # -- events -----------------------------------------------------------------------------------

    def publish(self, kind: str, data: Mapping[str, Any]) -> int:
        """Add an event (``kind`` is its SSE event name) for every viewer; returns its id."""
        with self._event_cond:
            self._event_id += 1
            self._events.append((self._event_id, kind, dict(data)))
            self._event_cond.notify_all()
            return self._event_id

    def events_after(self, last_id: int, timeout: float) -> list[tuple[int, str, dict[str, Any]]]:
        """Events newer than ``last_id``, waiting up to ``timeout`` s for one; [] on timeout or at the end."""
        with self._event_cond:
            self._event_cond.wait_for(lambda: self._event_id > last_id or self.ended is not None, timeout)
            return [e for e in self._events if e[0] > last_id]

    def recent_events(self, n: int) -> list[tuple[int, str, dict[str, Any]]]:
        with self._event_cond:
            return list(self._events)[-n:]

    # -- the stream -------------------------------------------------------------------------------

    def jpeg_after(self, seq: int, timeout: float) -> tuple[int, bytes] | None:
        """The newest JPEG if newer than ``seq`` (waiting up to ``timeout`` s); None otherwise."""
        with self._jpeg_cond:
            self._jpeg_cond.wait_for(lambda: self._jpeg[0] > seq or self.ended is not None, timeout)
            return self._jpeg if self._jpeg[0] > seq else None

    def _encode_forever(self) -> None:
        while self._wake.wait() and self.ended is None:
            with self._lock:
                image, self._pending = self._pending, None
                self._wake.clear()
            if image is None:
                continue
            try:
                data = self.encode(image)
            except Exception:  # a bad frame must not end the live view
                log.exception("could not encode a frame for the live view")
                continue
            with self._jpeg_cond:
                self._jpeg = (self._jpeg[0] + 1, data)
                self._jpeg_cond.notify_all()

    def encode(self, image: np.ndarray) -> bytes:
        """Scale down to ``width`` if wider, then JPEG (OpenCV releases the GIL while it works)."""
        h, w = image.shape[:2]
        if w > self.width:
            image = cv2.resize(image, (self.width, max(1, round(h * self.width / w))), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError(f"JPEG encoding failed for a {w}x{h} frame")
        return buf.tobytes()

    # -- viewers ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def viewer(self, kind: str) -> Iterator[bool]:
        """Count a viewer of ``kind`` while inside; yields False (and counts nothing) when full."""
        with self._lock:
            admitted = self._viewers[kind] < self.max_viewers
            if admitted:
                self._viewers[kind] += 1
                if kind == "stream":
                    self._due = 0.0  # a new viewer gets the next frame at once
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    self._viewers[kind] -= 1

    def stats(self) -> dict[str, Any]:
        """The JSON of ``/stats.json``: what runs, per-stage percentiles of recent frames, counters."""
        with self._lock:
            recent, latest, viewers = list(self._recent), self._latest, dict(self._viewers)
        stages: dict[str, list[float]] = {}
        for ms in recent:
            for k, v in ms.items():
                stages.setdefault(k, []).append(v)
        stream = {"fps_limit": round(1 / self.interval, 3), "width_limit": self.width, "encoded_frames": self._jpeg[0]}
        out: dict[str, Any] = {**self.info, "running": self.ended is None, "ended": self.ended,
                               "uptime_s": round(time.monotonic() - self.t_start, 3), "window": len(recent),
                               "stages": {k: summarize_ms(v) for k, v in stages.items() if len(v)},
                               "viewers": viewers, "stream": stream}
        keys = ("fps", "frames", "captured", "dropped", "reconnects")
        out.update({k: getattr(latest, k) if latest else (None if k == "fps" else 0) for k in keys})
        if out["fps"] is not None:
            out["fps"] = round(out["fps"], 2)
        out["latest"] = None if latest is None else {
            "frame": latest.index, "t": round(latest.t, 3), "label": latest.label,
            "confidence": round(latest.confidence, 4), "topk": [[lab, round(p, 4)] for lab, p in latest.topk]}
        return out

    def close(self, reason: str) -> None:
        """End every stream: viewers get an ``end`` event with ``reason`` and their connections close."""
        if self.ended is not None:
            return
        self.publish("end", {"reason": reason})
        self.ended = reason
        self._wake.set()
        for cond in (self._jpeg_cond, self._event_cond):
            with cond:
                cond.notify_all()
        self._encoder.join(timeout=2.0)
