"""The camera loop: newest frame -> ROI crop -> preprocess -> infer -> postprocess + smoothing -> output.

Every stage is timed on its own. ``capture`` is the time the source took to deliver a frame (in the
capture thread, in parallel with the rest); ``wait`` is how long the loop stood idle waiting for one;
``latency`` is a frame's age when its output was done. FPS is frames over wall-clock time.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgetl.bench.timing import summarize_ms
from edgetl.camera.live import LiveFrame, LiveOutput
from edgetl.camera.overlay import draw_overlay
from edgetl.camera.outputs import JsonlWriter, VideoRecorder, Window
from edgetl.camera.score import GroundTruth, Scorer
from edgetl.camera.smoothing import LabelSmoother, SmoothingConfig
from edgetl.camera.sources import Capture, Frame
from edgetl.errors import EdgetlError
from edgetl.preprocess import crop_roi
from edgetl.runtime import Runner, softmax

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]
STAGES = ("capture", "preprocess", "infer", "postprocess", "output")
OWN_WORK = ("preprocess", "postprocess", "output")  # the loop's work besides capture and the model
REPORTED = ("wait", *STAGES, "latency")


@dataclass(frozen=True)
class LoopConfig:
    """What the loop does with each frame; ``roi`` is (x1, y1, x2, y2) in frame pixels."""

    roi: Box | None = None
    roi_from_truth: bool = False  # crop each frame to its ground-truth box when it has one
    topk: int = 3
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    show: bool = False
    overlay: bool | None = None  # None: draw only when something displays or records it
    record: Path | None = None
    record_fps: float | None = None
    json: Path | None = None
    max_frames: int | None = None
    frame_timeout_s: float = 10.0
    warmup: int = 2

    @property
    def draws(self) -> bool:
        return self.overlay if self.overlay is not None else bool(self.show or self.record)


@dataclass
class LoopResult:
    frames: int
    captured: int
    dropped: int
    reconnects: int
    wall_s: float
    fps: float
    end_reason: str
    stages: dict[str, dict[str, float]]
    own_work_share: float | None
    roi: str
    source_lost: bool = False  # a live source gave up, or reading the source failed
    score: dict[str, Any] | None = None
    written: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def roi_from_xywh(text: str) -> Box:
    """``"x,y,w,h"`` -> (x1, y1, x2, y2); raise EdgetlError on anything else."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise EdgetlError(f"--roi {text!r}: expected x,y,w,h in pixels, e.g. 640,0,640,360") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise EdgetlError(f"--roi {text!r}: x and y must be >= 0, width and height > 0")
    return x, y, x + w, y + h


@contextlib.contextmanager
def graceful_stop() -> Iterator[threading.Event]:
    """Turn the first Ctrl-C (or SIGTERM) into a stop request; a second Ctrl-C interrupts at once."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, _frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.reason = f"stopped by {signal.Signals(signum).name}"  # type: ignore[attr-defined]
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class CameraLoop:
    """One run of the loop over a ``Capture`` with an active ``Runner``; ``run`` returns the summary.

    ``live`` (``--serve``) is handed every processed frame, and the annotated image when it asks for one.
    """

    def __init__(self, runner: Runner, capture: Capture, config: LoopConfig | None = None,
                 truth: GroundTruth | None = None, live: LiveOutput | None = None):
        self.runner, self.capture, self.config, self.truth = runner, capture, config or LoopConfig(), truth
        self.live = live
        if self.config.roi_from_truth and truth is None:
            raise EdgetlError("--roi-from-truth needs --ground-truth")
        self.smoother = LabelSmoother(runner.info.labels, self.config.smoothing)
        self.scorer = Scorer(truth, runner.info.labels, self.roi_note()) if truth else None
        self.times: dict[str, list[float]] = {k: [] for k in REPORTED}
        self.recent: deque[float] = deque(maxlen=30)
        self.frames = 0
        self.t_start = self.t_first = self.t_end = 0.0
        self.last_output_ms = 0.0
        self.source_lost = False
        self.json: JsonlWriter | None = None
        self.recorder: VideoRecorder | None = None
        self.window: Window | None = None

    def roi_note(self) -> str:
        fixed = "ROI x1,y1,x2,y2=" + ",".join(map(str, self.config.roi)) if self.config.roi else "whole frame"
        if self.config.roi_from_truth:
            return f"ground-truth box as ROI: the classifier alone, localisation given; no sign: {fixed}"
        return fixed

    def roi_for(self, index: int) -> Box | None:
        if self.config.roi_from_truth and self.truth is not None:
            box = self.truth.boxes.get(index)
            if box is not None:
                return box
        return self.config.roi

    def run(self) -> LoopResult:
        self._check_frame_size()
        self._warm_up()
        written: list[str] = []
        with graceful_stop() as stop:
            try:
                self._open_outputs()
                self.t_start = time.perf_counter()
                with self.capture:
                    reason = self._loop(stop)
            finally:
                written = self._close_outputs()
        if self.capture.error is not None:
            log.warning("capture thread failed: %s", self.capture.end_reason)
        return self._result(reason, written)

    def _check_frame_size(self) -> None:
        size, roi = self.capture.size, self.config.roi
        if size and roi and (roi[2] > size[0] or roi[3] > size[1]):
            x1, y1, x2, y2 = roi
            raise EdgetlError(f"--roi {x1},{y1},{x2 - x1},{y2 - y1} does not fit in the {size[0]}x{size[1]} frame")
        t = self.truth
        if size and t and t.width and t.height and (t.width, t.height) != tuple(size):
            msg = f"the ground truth is for {t.width}x{t.height} frames, the source gives {size[0]}x{size[1]}"
            if self.config.roi_from_truth:
                raise EdgetlError(msg + ": its boxes do not fit; use the video it was made for")
            log.warning("%s", msg)

    def _warm_up(self) -> None:
        s = self.runner.info.preprocess.size
        for _ in range(self.config.warmup):
            self.runner.infer(np.zeros((1, 3, s, s), np.float32))

    def _open_outputs(self) -> None:
        c = self.config
        if c.show:
            self.window = Window()
        if c.record:
            self.recorder = VideoRecorder(c.record, c.record_fps or self.capture.fps or 30.0)
        if c.json:
            self.json = JsonlWriter(c.json)

    def _close_outputs(self) -> list[str]:
        written, failed = [], []
        for out in (self.json, self.recorder):
            if out is not None:
                try:
                    path = out.close()
                except EdgetlError as exc:  # close the others first: each finishes or removes its file
                    failed.append(exc)
                    continue
                written += [str(path)] if path else []
        if self.window is not None:
            self.window.close()
        if failed:
            raise failed[0]
        return written

    def _loop(self, stop: threading.Event) -> str:
        c = self.config
        t_wait = time.perf_counter()
        while True:
            if stop.is_set():
                return getattr(stop, "reason", "stopped")
            if c.max_frames is not None and self.frames >= c.max_frames:
                return f"{c.max_frames} frames processed (--max-frames)"
            frame = self.capture.get(timeout=0.1)
            if frame is None:
                if self.capture.done:
                    self.source_lost = self.capture.spec.live or self.capture.error is not None
                    return self.capture.end_reason or "end of source"
                since = self.capture.reading_since
                if since is not None and time.perf_counter() - since > c.frame_timeout_s:
                    self.source_lost = True
                    return f"{self.capture.spec.display} delivered no frame for {c.frame_timeout_s:g} s"
                continue
            t_arrive = time.perf_counter()
            self.t_first = self.t_first or t_arrive
            self.times["wait"].append((t_arrive - t_wait) * 1e3)
            keep = self._process(frame, t_arrive)
            t_wait = time.perf_counter()
            if not keep:
                return "window closed (q)"

    def _process(self, frame: Frame, t1: float) -> bool:
        r, roi = self.runner, self.roi_for(frame.index)
        batch = r.preprocess([crop_roi(frame.image, roi)])
        t2 = time.perf_counter()
        logits = r.infer(batch)
        t3 = time.perf_counter()
        pred = r.postprocess(logits, self.config.topk)[0]
        decision = self.smoother.update(softmax(logits)[0])
        if self.scorer is not None:
            self.scorer.add(frame.index, decision.label)
        t4 = time.perf_counter()
        ms = {"capture": frame.read_ms, "preprocess": (t2 - t1) * 1e3, "infer": (t3 - t2) * 1e3,
              "postprocess": (t4 - t3) * 1e3}
        keep = self._output(frame, roi, decision, pred, ms, t4)
        t5 = time.perf_counter()
        ms["output"] = self.last_output_ms = (t5 - t4) * 1e3
        for k, v in ms.items():
            self.times[k].append(v)
        self.times["latency"].append((t5 - frame.t) * 1e3)
        self.recent.append(t5)
        self.frames += 1
        self.t_end = t5
        return keep

    def _output(self, frame: Frame, roi: Box | None, decision, pred, ms: dict[str, float], t4: float) -> bool:
        keep = True
        live_image = self.live is not None and self.live.wants_image()
        if self.config.draws or live_image:
            shown = {**ms, "output": self.last_output_ms}
            draw_overlay(frame.image, decision.label, decision.confidence, self.live_fps(), shown, roi)
        if self.recorder is not None:
            self.recorder.write(frame.image)
        if self.window is not None:
            keep = self.window.show(frame.image)
        if self.json is not None:
            line_ms = {k: round(v, 3) for k, v in ms.items()}
            line_ms["output"] = round((time.perf_counter() - t4) * 1e3, 3)  # all but writing this line
            self.json.write({"frame": frame.index, "t": round(frame.t - self.t_start, 4), "label": decision.label,
                             "confidence": round(decision.confidence, 4),
                             "topk": [[lab, round(p, 4)] for lab, p in pred.topk], "ms": line_ms})
        if self.live is not None:
            self._feed_live(frame, decision, pred, ms, live_image)
        return keep

    def _feed_live(self, frame: Frame, decision, pred, ms: dict[str, float], with_image: bool) -> None:
        """Hand the live view this frame (references only: it never waits or copies in this thread)."""
        now = time.perf_counter()
        self.live.frame(LiveFrame(
            index=frame.index, t=now - self.t_start, label=decision.label, confidence=decision.confidence,
            topk=tuple(pred.topk), ms={"wait": self.times["wait"][-1], **ms, "output": self.last_output_ms,
                                       "latency": (now - frame.t) * 1e3},
            fps=self.live_fps(), frames=self.frames + 1, captured=self.capture.captured,
            dropped=self.capture.dropped, reconnects=self.capture.reconnected,
            image=frame.image if with_image else None))

    def live_fps(self) -> float | None:
        if len(self.recent) < 2:
            return None
        return (len(self.recent) - 1) / max(self.recent[-1] - self.recent[0], 1e-9)

    def _result(self, reason: str, written: list[str]) -> LoopResult:
        wall = max(self.t_end - self.t_first, 0.0) if self.frames else 0.0
        stages = {k: summarize_ms(v) for k, v in self.times.items() if v}
        processing = [sum(self.times[k]) for k in STAGES if k != "capture"]
        own = sum(sum(self.times[k]) for k in OWN_WORK)
        return LoopResult(
            frames=self.frames, captured=self.capture.captured, dropped=self.capture.dropped,
            reconnects=self.capture.reconnected, wall_s=round(wall, 3),
            fps=round(self.frames / wall, 2) if wall > 0 else 0.0, end_reason=reason, stages=stages,
            own_work_share=round(own / sum(processing), 4) if sum(processing) > 0 else None,
            roi=self.roi_note(), source_lost=self.source_lost, score=self.scorer.report() if self.scorer else None, written=written)


def run_loop(runner: Runner, capture: Capture, config: LoopConfig | None = None,
             truth: GroundTruth | None = None, live: LiveOutput | None = None) -> LoopResult:
    """Run the camera loop until the source ends, the user stops it or the camera gives up."""
    try:
        return CameraLoop(runner, capture, config, truth, live).run()
    finally:
        capture.close()


def format_summary(r: LoopResult) -> list[str]:
    """The exit summary as text lines: a per-stage percentile table, FPS and why the run ended."""
    lines = [f"{'stage':<12}{'p50':>9}{'p90':>9}{'p99':>9}{'mean':>9}  ms"]
    for k in REPORTED:
        s = r.stages.get(k)
        if s:
            lines.append(f"{k:<12}{s['p50']:>9.2f}{s['p90']:>9.2f}{s['p99']:>9.2f}{s['mean']:>9.2f}")
    share = f"; the loop's own work is {100 * r.own_work_share:.1f}% of processing" if r.own_work_share else ""
    lines.append(f"{r.frames} frames processed ({r.captured} captured, {r.dropped} dropped, "
                 f"{r.reconnects} reconnects) in {r.wall_s:.2f} s wall clock: {r.fps:.1f} FPS{share}")
    lines.append(f"input: {r.roi}; ended: {r.end_reason}")
    return lines
