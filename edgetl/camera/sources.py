"""Frame sources, one registry entry per kind, and a capture thread that keeps only the newest frame.

Each kind of source (a V4L2 camera, a Jetson CSI camera, a network stream, a GStreamer pipeline, an
image folder, a video file) is a ``SourceKind`` in ``SOURCES``: how to recognise what the user typed,
how to open it as a ``Reader``, whether it is live, its GStreamer pipeline where it has one, and the hint
shown when it cannot be opened. ``parse_source`` asks the entries in ascending ``priority`` (ties in
registration order) and the first that recognises the text wins, so a pipeline string is taken before
anything could read it as a path. A new kind is one ``register(SourceKind(...))``; ``edgetl run --help``
lists the entries.

Credentials in a URI are never logged or shown: every message goes through ``redact``
(``edgetl.redaction``), and the secrets of every source parsed are remembered and hidden wherever they
turn up.

Whether frames may be dropped depends on the kind: a camera or stream (``live``) and a video played in
real time (``paced``) deliver frames in time, and the loop takes the newest; a folder of stills is neither,
so every image is processed, whatever ``drop`` asks.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import parse_qsl

import cv2
import numpy as np

from edgetl.errors import EdgetlError
from edgetl.preprocess import is_image_file, read_image
from edgetl.redaction import redact, remember_secrets  # redact: used here and by the camera package
from edgetl.registry import Registry

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")
CSI_FLIPS = range(8)  # nvvidconv flip-method 0..7


class SourceError(EdgetlError):
    """A frame source cannot be parsed or opened."""


def has_gstreamer() -> bool:
    """Whether this OpenCV build can open GStreamer pipelines (pip's opencv-python cannot)."""
    info = cv2.getBuildInformation()
    m = re.search(r"^\s*GStreamer:\s*(\S+)", info, re.MULTILINE)
    return bool(m) and m.group(1).upper() not in ("NO", "OFF")


def gstreamer_note() -> str:
    if has_gstreamer():
        return "OpenCV here has GStreamer"
    return ("OpenCV here was built without GStreamer (pip's opencv-python has none); on a Jetson use "
            "JetPack's OpenCV (apt python3-opencv) instead of the pip wheel")


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source: what kind it is (a name in ``SOURCES``), what to open, and its options."""

    kind: str
    target: Any  # camera index or device path, URL, pipeline string, Path, or whatever the kind opens
    uri: str  # as the user gave it (may hold credentials: show ``display`` instead)
    options: Mapping[str, int] = field(default_factory=dict)

    @property
    def entry(self) -> "SourceKind":
        return SOURCES.get(self.kind)

    @property
    def live(self) -> bool:
        """A camera or stream: it never ends by itself, and is reopened when it stops delivering."""
        return self.entry.live

    @property
    def timed(self) -> bool:
        """Frames come in time (a camera, a stream, a video played at its rate), so the newest may be
        taken and older ones dropped; a folder of stills is not timed and is processed whole."""
        return self.entry.live or self.entry.paced

    @property
    def display(self) -> str:
        return redact(self.uri)


class Reader(Protocol):
    """An open source: frames one by one, then None at the end (or when a live source drops out)."""

    size: tuple[int, int] | None  # (width, height) when known
    fps: float | None
    num_frames: int | None  # known only for recordings

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SourceKind:
    """One kind of source: everything about it, in one place."""

    name: str
    example: str  # what a user types, shown in `edgetl run --help`
    description: str  # what it opens, shown beside the example
    noun: str  # how it is named in a list of what SOURCE may be, e.g. in "unknown scheme" errors
    parse: Callable[[str], SourceSpec | None]  # None: not this kind; SourceError: this kind, but wrong
    open: Callable[[SourceSpec], Reader]  # raises SourceError with a one-line reason
    priority: int = 100  # lower is asked first; ties in registration order
    live: bool = False
    paced: bool = False  # a recording at a frame rate: with frame dropping it plays at that rate, like a camera
    pipeline: Callable[[SourceSpec], str] | None = None  # the GStreamer pipeline it opens, if any
    hint: str | Callable[[], str] = ""  # why it may not open, after "cannot open source X: "

    def why_not_opened(self) -> str:
        return self.hint() if callable(self.hint) else self.hint


SOURCES: Registry[SourceKind] = Registry("camera source")


def register(kind: SourceKind) -> SourceKind:
    """Add a kind of source under its name; a name that is taken is refused."""
    return SOURCES.register(kind.name, kind)


def source_kinds() -> list[SourceKind]:
    """The registered kinds in the order ``parse_source`` asks them."""
    return sorted(SOURCES.values(), key=lambda k: k.priority)


def parse_source(uri: str | int) -> SourceSpec:
    """Turn what the user typed into a ``SourceSpec``; raise SourceError saying what is accepted."""
    uri = str(uri).strip()
    remember_secrets(uri)
    kinds = source_kinds()
    for kind in kinds:
        spec = kind.parse(uri)
        if spec is not None:
            return spec
    nouns = [k.noun for k in kinds]
    accepted = " or ".join(filter(None, [", ".join(nouns[:-1]), nouns[-1]]))
    scheme = _scheme(uri)
    if scheme:
        raise SourceError(f"source {redact(uri)!r}: unknown scheme {scheme!r} (use {accepted})")
    raise SourceError(f"source {redact(uri)!r}: no such file or folder, and not {accepted}")


def open_reader(spec: SourceSpec) -> Reader:
    """Open ``spec``; raise SourceError with a one-line reason when it cannot be opened."""
    return spec.entry.open(spec)


def source_pipeline(spec: SourceSpec) -> str | None:
    """The GStreamer pipeline a spec opens, or None for sources OpenCV opens directly."""
    pipeline = spec.entry.pipeline
    return pipeline(spec) if pipeline is not None else None


# --- helpers the entries share ---------------------------------------------------------------------------


def _cannot_open(spec: SourceSpec) -> SourceError:
    return SourceError(f"cannot open source {spec.display!r}: {spec.entry.why_not_opened()}")


def _scheme(uri: str) -> str:
    """``rtsp`` of ``rtsp://...``; empty for anything without ``://``."""
    return uri.split("://", 1)[0].lower() if "://" in uri else ""


def _int_options(query: str, allowed: tuple[str, ...], uri: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in allowed:
            raise SourceError(f"source {redact(uri)!r}: unknown option {key!r} (options: {', '.join(allowed)})")
        try:
            out[key] = int(value)
        except ValueError:
            raise SourceError(f"source {redact(uri)!r}: option {key}={value!r} is not a whole number") from None
        if out[key] < 0:
            raise SourceError(f"source {redact(uri)!r}: option {key} must not be negative")
    return out


class VideoReader:
    """A ``cv2.VideoCapture`` (file, camera, stream or GStreamer pipeline) as a ``Reader``."""

    def __init__(self, spec: SourceSpec, cap: cv2.VideoCapture):
        if not cap.isOpened():
            cap.release()
            raise _cannot_open(spec)
        self.spec, self.cap = spec, cap
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.size = (w, h) if w > 0 and h > 0 else None
        self.fps = fps if 0 < fps < 1000 else None
        self.num_frames = count if count > 0 and not spec.live else None

    def read(self) -> np.ndarray | None:
        ok, frame = self.cap.read()
        return frame if ok and frame is not None else None

    def close(self) -> None:
        self.cap.release()


def _open_pipeline(spec: SourceSpec) -> VideoReader:
    """Open the kind's GStreamer pipeline, or say that this OpenCV cannot."""
    if not has_gstreamer():
        raise _cannot_open(spec)  # the kinds with a pipeline give gstreamer_note as their hint
    return VideoReader(spec, cv2.VideoCapture(source_pipeline(spec), cv2.CAP_GSTREAMER))


# --- the kinds, in the order they are asked ---------------------------------------------------------------


def _parse_gstreamer(uri: str) -> SourceSpec | None:
    if " ! " not in uri and not uri.startswith("gst:"):
        return None
    pipeline = uri[4:].strip() if uri.startswith("gst:") else uri
    if not re.search(r"\bappsink\b", pipeline):
        raise SourceError(f"GStreamer pipeline {redact(pipeline)!r} must end in 'appsink' for OpenCV to read it")
    return SourceSpec("gstreamer", pipeline, uri)


register(SourceKind(
    name="gstreamer", priority=10, example="'SRC ! ... ! appsink'",
    description="a GStreamer pipeline ending in appsink (or gst:PIPELINE)", noun="a GStreamer pipeline",
    parse=_parse_gstreamer, open=_open_pipeline, live=True, pipeline=lambda spec: spec.target, hint=gstreamer_note))


def csi_pipeline(sensor: int = 0, width: int = 1280, height: int = 720, fps: int = 30, flip: int = 0) -> str:
    """The GStreamer pipeline for a Jetson CSI camera, delivering BGR to OpenCV's appsink.

    Capture and colour conversion stay in NVMM memory (``nvvidconv``) until the last step; the appsink
    keeps one buffer and drops older ones so OpenCV always reads the newest frame.
    """
    return (f"nvarguscamerasrc sensor-id={sensor} ! "
            f"video/x-raw(memory:NVMM), width=(int){width}, height=(int){height}, framerate=(fraction){fps}/1, "
            f"format=(string)NV12 ! nvvidconv flip-method={flip} ! video/x-raw, format=(string)BGRx ! "
            f"videoconvert ! video/x-raw, format=(string)BGR ! appsink drop=true max-buffers=1 sync=false")


def _parse_csi(uri: str) -> SourceSpec | None:
    if _scheme(uri) != "csi":
        return None
    sensor, _, query = uri.split("://", 1)[1].partition("?")
    if not sensor.isdigit():
        raise SourceError(f"source {redact(uri)!r}: expected csi://N with a sensor number, e.g. csi://0?width=1280")
    opts = _int_options(query, ("width", "height", "fps", "flip"), uri)
    if opts.get("flip", 0) not in CSI_FLIPS:
        raise SourceError(f"source {redact(uri)!r}: flip must be 0..7 (nvvidconv flip-method)")
    return SourceSpec("csi", int(sensor), uri, opts)


def _csi_spec_pipeline(spec: SourceSpec) -> str:
    o = spec.options
    return csi_pipeline(spec.target, o.get("width", 1280), o.get("height", 720), o.get("fps", 30), o.get("flip", 0))


register(SourceKind(
    name="csi", priority=20, example="csi://0?width=1280&height=720&fps=30&flip=2",
    description="a Jetson CSI camera through GStreamer's nvarguscamerasrc (flip: nvvidconv flip-method 0..7)",
    noun="csi://N", parse=_parse_csi, open=_open_pipeline, live=True, pipeline=_csi_spec_pipeline,
    hint=gstreamer_note))


def _parse_stream(uri: str) -> SourceSpec | None:
    return SourceSpec("stream", uri, uri) if _scheme(uri) in STREAM_SCHEMES else None


def _open_stream(spec: SourceSpec) -> VideoReader:
    # FFmpeg's own log lines may quote the URL with its password; silence them (read on first use).
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    return VideoReader(spec, cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG))


register(SourceKind(
    name="stream", priority=30, example="rtsp://user:pass@host/path",
    description=f"a network stream ({', '.join(STREAM_SCHEMES)}), reopened with backoff when it drops; "
                "credentials are never shown", noun="an rtsp:// URL",
    parse=_parse_stream, open=_open_stream, live=True, hint="is the stream reachable and the URL right?"))


def _parse_camera(uri: str) -> SourceSpec | None:
    base, _, query = uri.partition("?")
    if _scheme(uri) or not (base.isdigit() or re.fullmatch(r"/dev/video\d+", base)):
        return None
    opts = _int_options(query, ("width", "height", "fps"), uri)
    return SourceSpec("camera", int(base) if base.isdigit() else base, uri, opts)


def _open_camera(spec: SourceSpec) -> VideoReader:
    cap = cv2.VideoCapture(spec.target, cv2.CAP_V4L2 if hasattr(cv2, "CAP_V4L2") else cv2.CAP_ANY)
    for key, prop in (("width", cv2.CAP_PROP_FRAME_WIDTH), ("height", cv2.CAP_PROP_FRAME_HEIGHT),
                      ("fps", cv2.CAP_PROP_FPS)):
        if key in spec.options:
            cap.set(prop, spec.options[key])
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver's queue would add latency
    return VideoReader(spec, cap)


register(SourceKind(
    name="camera", priority=40, example="0, /dev/video0?width=640&height=480&fps=30",
    description="a V4L2 camera by index or device", noun="a camera index, /dev/videoN",
    parse=_parse_camera, open=_open_camera, live=True,
    hint="is the camera connected and free (not used by another program)?"))


class FolderReader:
    """Image files, in the order given, as frames."""

    def __init__(self, files: list[Path]):
        self.files = files
        self.position = 0
        first = read_image(files[0])
        self.size: tuple[int, int] | None = (first.shape[1], first.shape[0])
        self.fps: float | None = None
        self.num_frames: int | None = len(files)

    def read(self) -> np.ndarray | None:
        if self.position >= len(self.files):
            return None
        self.position += 1
        return read_image(self.files[self.position - 1])

    def close(self) -> None:
        self.position = len(self.files)


def _parse_folder(uri: str) -> SourceSpec | None:
    path = Path(uri)
    if _scheme(uri) or not (path.is_dir() or (path.is_file() and is_image_file(path))):
        return None
    return SourceSpec("folder", path, uri)


def _open_folder(spec: SourceSpec) -> FolderReader:
    path: Path = spec.target
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file() and is_image_file(p))
    if not files:
        raise _cannot_open(spec)
    return FolderReader(files)


register(SourceKind(
    name="folder", priority=50, example="frames/, photo.jpg",
    description="a folder of images in name order, or one image", noun="an image folder",
    parse=_parse_folder, open=_open_folder, hint="the folder has no images"))


def _parse_file(uri: str) -> SourceSpec | None:
    path = Path(uri)
    return SourceSpec("file", path, uri) if not _scheme(uri) and path.is_file() else None


register(SourceKind(
    name="file", priority=60, example="drive.mp4",
    description="a video file, played in real time like a camera (--no-drop: every frame, as fast as "
                "possible)", noun="a video file",
    parse=_parse_file, open=lambda spec: VideoReader(spec, cv2.VideoCapture(str(spec.target))), paced=True,
    hint="is it a video OpenCV's FFmpeg can decode?"))


@dataclass(frozen=True)
class Frame:
    """One captured frame; ``index`` counts frames read from the source since the start."""

    index: int
    image: np.ndarray
    read_ms: float  # time the source took to deliver (decode) this frame
    t: float  # time.perf_counter() when it was delivered


class Capture:
    """Reads a source in its own thread and hands the loop only the newest frame.

    With ``drop`` (live use) a frame the loop has not taken yet is replaced by the next one, so latency
    never grows; without it the thread waits for the loop, so every frame of a file is processed. A source
    whose frames are not timed (a folder of stills: ``SourceSpec.timed``) is never dropped from. A live
    source that stops delivering is reopened up to ``reconnects`` times with exponential backoff. A file
    or folder is read ``passes`` times (frame indices keep counting).

    A video file read with ``drop`` plays in real time at its own frame rate, standing in for the camera
    (decoding it flat out would only make frames to throw away); without ``drop`` it is read as fast as
    the loop takes frames.
    """

    def __init__(self, spec: SourceSpec, drop: bool = True, reconnects: int = 5, backoff_s: float = 0.5,
                 max_backoff_s: float = 8.0, opener=open_reader, passes: int = 1):
        self.spec, self.drop, self.reconnects, self.passes = spec, drop and spec.timed, reconnects, passes
        self.backoff_s, self.max_backoff_s, self.opener = backoff_s, max_backoff_s, opener
        self.reader = opener(spec)  # open here so that a bad source fails in the caller's thread
        self.size, self.fps, self.num_frames = self.reader.size, self.reader.fps, self.reader.num_frames
        self.realtime = self.drop and spec.entry.paced and bool(self.fps)
        self.captured = self.dropped = self.reconnected = 0
        self.end_reason: str | None = None
        self.error: BaseException | None = None
        self.reading_since: float | None = None  # perf_counter when the current read started
        self._latest: Frame | None = None
        self._done = False
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgetl-capture", daemon=True)

    def __enter__(self) -> "Capture":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def done(self) -> bool:
        """The source has ended (or given up) and no frame is waiting."""
        with self._cond:
            return self._done and self._latest is None

    def get(self, timeout: float) -> Frame | None:
        """The newest frame not yet taken, or None after ``timeout`` seconds or at the end."""
        with self._cond:
            self._cond.wait_for(lambda: self._latest is not None or self._done, timeout)
            frame, self._latest = self._latest, None
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.ident is not None:
            self._thread.join(timeout=2.0)
        if not self._thread.is_alive() and self.reader is not None:
            self.reader.close()

    def _publish(self, frame: Frame) -> None:
        with self._cond:
            if not self.drop:
                self._cond.wait_for(lambda: self._latest is None or self._stop.is_set())
            if self._latest is not None:
                self.dropped += 1
            self._latest = frame
            self.captured += 1
            self._cond.notify_all()

    def _run(self) -> None:
        failures, passes_left = 0, self.passes
        t_play = time.perf_counter()
        try:
            while not self._stop.is_set():
                if self.realtime and self._stop.wait(max(0.0, t_play + self.captured / self.fps - time.perf_counter())):
                    break
                t0 = time.perf_counter()
                self.reading_since = t0
                image = self.reader.read() if self.reader is not None else None
                self.reading_since = None
                if image is not None:
                    failures = 0
                    t1 = time.perf_counter()
                    self._publish(Frame(self.captured, image, (t1 - t0) * 1e3, t1))
                    continue
                if not self.spec.live:
                    passes_left -= 1
                    if passes_left > 0 and not self._stop.is_set():  # play a file again (benchmarks)
                        self.reader.close()
                        self.reader = self.opener(self.spec)
                        continue
                    self.end_reason = "end of source"
                    break
                failures += 1
                if failures > self.reconnects or not self._reopen(failures):
                    break
        except Exception as exc:  # reported by the loop; the thread must not die silently
            self.error = exc
            self.end_reason = f"capture failed: {redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}"
        finally:
            if self.end_reason is None:
                self.end_reason = ("stopped" if self._stop.is_set() else
                                   f"{self.spec.display} stopped delivering frames; gave up after "
                                   f"{self.reconnects} reconnect attempt(s)")
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _reopen(self, attempt: int) -> bool:
        delay = min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
        log.warning("%s stopped delivering frames; reconnect %d/%d in %.1f s", self.spec.display, attempt,
                    self.reconnects, delay)
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        if self._stop.wait(delay):
            return False
        try:
            self.reader = self.opener(self.spec)
            self.reconnected += 1
            log.info("%s reopened", self.spec.display)
        except SourceError as exc:
            log.warning("%s", exc)
        return True
