"""The camera loop: it wires the stages, each a module with one job, and times each one.

    capture (sources) -> locate (locate: frame -> boxes) -> crop + batch + classify (classify: the
    Runner) -> postprocess (decide: a label per box, or the smoothed answer of the whole frame) ->
    track (track / smoothing: boxes and labels across frames) -> events (events: announced once,
    logged when they end) -> outputs (overlay, JSONL, record, window, live view)

``capture`` is the time the source took to deliver a frame (in the capture thread, in parallel with the
rest); ``wait`` is how long the loop stood idle waiting for one; ``locate`` finding the boxes;
``preprocess`` cropping and preparing them as one batch; ``infer`` the model; ``postprocess`` turning
logits into labels (and smoothing); ``track`` following boxes across frames (and scoring, with ground
truth); ``output`` events, overlay and files; ``latency`` is a frame's age when its output was done.
FPS is frames over wall-clock time.
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
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from edgetl.bench.timing import summarize_ms
from edgetl.camera.classify import CropClassifier
from edgetl.camera.decide import BoxAnswers, Shown, SmoothedAnswer
from edgetl.camera.events import EventLog
from edgetl.camera.live import LiveFrame, LiveOutput
from edgetl.camera.locate import choose_locator, infer_batch, make_locator, max_boxes, parse_xywh
from edgetl.camera.overlay import draw_overlay
from edgetl.camera.outputs import JsonlWriter, VideoRecorder, Window
from edgetl.camera.score import GroundTruth, Scorer, SignScorer, check_truth_fits
from edgetl.camera.smoothing import SmoothingConfig
from edgetl.camera.sources import Capture, Frame
from edgetl.camera.track import Event, TrackConfig
from edgetl.errors import EdgetlError
from edgetl.proposals import FrameLocator, Located
from edgetl.runtime import Runner

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]
STAGES = ("capture", "locate", "preprocess", "infer", "postprocess", "track", "output")
OWN_WORK = ("locate", "preprocess", "postprocess", "track", "output")  # the loop's work besides capture and the model
REPORTED = ("wait", *STAGES, "latency")


@dataclass(frozen=True)
class LoopConfig:
    """What the loop does with each frame; ``roi`` is (x1, y1, x2, y2) in frame pixels.

    ``locate`` names a locator of ``locate.LOCATORS`` (None: ``locate.choose_locator``'s rule) and
    ``locate_options`` its options (typed, or command-line text). ``smoothing`` decides what the frame
    locator shows; ``tracking`` follows a box locator's boxes (its ``background`` names the class that
    means "no sign here", for both). ``events`` is the ``--events`` JSONL file.
    """

    roi: Box | None = None
    roi_from_truth: bool = False  # crop each frame to its ground-truth box when it has one
    locate: str | None = None
    locate_options: Mapping[str, Any] = field(default_factory=dict)
    topk: int = 3
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    tracking: TrackConfig = field(default_factory=TrackConfig)
    show: bool = False
    overlay: bool | None = None  # None: draw only when something displays or records it
    record: Path | None = None
    record_fps: float | None = None
    json: Path | None = None
    events: Path | None = None
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
    roi: str  # what was classified: the whole frame, an ROI, the ground-truth box, or the located boxes
    locator: str = "frame"
    locate: dict[str, Any] = field(default_factory=dict)  # why this locator, boxes per frame, frames capped
    events: int = 0  # signs announced
    source_lost: bool = False  # a live source gave up, or reading the source failed
    score: dict[str, Any] | None = None
    written: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


roi_from_xywh = parse_xywh  # ``"x,y,w,h"`` -> (x1, y1, x2, y2); the frame locator's --roi


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

    Everything that cannot work is refused here, before the first frame (a locator option of another
    locator, an ROI outside the frame, ground truth of another video). ``notes`` are what the user
    should hear once at the start (a model without the background class, a batch profile smaller than
    a frame's boxes); ``run`` logs them. ``live`` (``--serve``) is handed every processed frame, the
    annotated image when it asks for one, and every sign announced; ``on_event`` gets each
    announcement as it happens (the CLI prints it).
    """

    def __init__(self, runner: Runner, capture: Capture, config: LoopConfig | None = None,
                 truth: GroundTruth | None = None, live: LiveOutput | None = None,
                 on_event: Callable[[Event], None] | None = None):
        self.runner, self.capture, self.config, self.truth = runner, capture, config or LoopConfig(), truth
        self.live, self.on_event = live, on_event
        c, labels = self.config, runner.info.labels
        self.background = c.tracking.background
        options = {**c.locate_options, **({"roi": c.roi} if c.roi is not None else {})}
        self.locator_name, self.locator_why = self._choose_locator(options)
        self.locator = make_locator(self.locator_name, **options)
        self.boxes = self.locator_name != "frame"  # box locators track boxes; the frame locator smooths
        self.answers = (BoxAnswers(labels, c.tracking, c.topk) if self.boxes
                        else SmoothedAnswer(labels, c.smoothing, self.background, c.topk))
        self.classifier = CropClassifier(runner)
        self._check_frame_size()
        self.notes = self._notes()
        self.scorer = self._scorer() if truth else None
        self.times: dict[str, list[float]] = {k: [] for k in REPORTED}
        self.recent: deque[float] = deque(maxlen=30)
        self.frames = self.boxes_seen = self.frames_capped = 0
        self.t_start = self.t_first = self.t_end = 0.0
        self.last_output_ms = 0.0
        self.source_lost = False
        self.json: JsonlWriter | None = None
        self.recorder: VideoRecorder | None = None
        self.window: Window | None = None
        self.events: EventLog | None = None

    def _choose_locator(self, options: Mapping[str, Any]) -> tuple[str, str]:
        c = self.config
        if c.roi_from_truth:
            if self.truth is None:
                raise EdgetlError("--roi-from-truth needs --ground-truth")
            if c.locate not in (None, "frame") or options:
                raise EdgetlError("--roi-from-truth crops each frame to its ground-truth box (the frame locator): "
                                  "it takes no --locate other than frame and no --roi or locator option")
            return "frame", "--roi-from-truth: the ground-truth box is the crop"
        return choose_locator(c.locate, self.runner.info.labels, self.background, options)

    def _notes(self) -> list[str]:
        notes = []
        if self.boxes and self.background not in self.runner.info.labels:
            notes.append(f"{self.runner.path.name} has no {self.background!r} class (--background-label): every box "
                         f"the {self.locator_name} locator finds is called one of its classes, so false alarms "
                         f"cannot be rejected; train with a background class (edgetl data roadsigns writes one)")
        flag = "--max-boxes" if self.locator_name == "signs" else f"the {self.locator_name} locator"
        note = self.classifier.batch_note(max_boxes(self.locator_name, self.locator, self.capture.size), flag)
        return notes + ([note] if note else [])

    def _scorer(self) -> Scorer | SignScorer:
        assert self.truth is not None
        if self.boxes:
            return SignScorer(self.truth, self.runner.info.labels, self.locator_name, self.capture.fps)
        return Scorer(self.truth, self.runner.info.labels, self.roi_note())

    def roi_note(self) -> str:
        """What the classifier was given, for the summary and the score."""
        if self.boxes:
            return f"boxes located by {self.locator_name}"
        roi = getattr(self.locator, "roi", None)
        fixed = "ROI x1,y1,x2,y2=" + ",".join(map(str, roi)) if roi else "whole frame"
        if self.config.roi_from_truth:
            return f"ground-truth box as ROI: the classifier alone, localisation given; no sign: {fixed}"
        return fixed

    def describe(self) -> str:
        """One line: how the frames are located and decided."""
        if self.boxes:
            t = self.config.tracking
            return (f"locate: {self.locator_name} ({self.locator_why}); tracks confirmed after {t.confirm_after} "
                    f"frames, dropped after {t.drop_after}")
        return f"locate: frame, {self.roi_note()} ({self.locator_why}); smoothing: {self.config.smoothing.describe()}"

    def roi_for(self, index: int) -> Box | None:
        if self.config.roi_from_truth and self.truth is not None:
            box = self.truth.boxes.get(index)
            if box is not None:
                return box
        return getattr(self.locator, "roi", None)

    def run(self) -> LoopResult:
        for note in self.notes:
            log.warning("%s", note)
        self._warm_up()
        written: list[str] = []
        reason = "stopped"
        with graceful_stop() as stop:
            try:
                self._open_outputs()
                self.t_start = time.perf_counter()
                with self.capture:
                    reason = self._loop(stop)
            finally:
                self._finish_tracks()
                written = self._close_outputs()
        if self.capture.error is not None:
            log.warning("capture thread failed: %s", self.capture.end_reason)
        return self._result(reason, written)

    def _check_frame_size(self) -> None:
        size, roi = self.capture.size, getattr(self.locator, "roi", None)
        if size and roi and (roi[2] > size[0] or roi[3] > size[1]):
            x1, y1, x2, y2 = roi
            raise EdgetlError(f"--roi {x1},{y1},{x2 - x1},{y2 - y1} does not fit in the {size[0]}x{size[1]} frame")
        if self.truth is not None:
            check_truth_fits(self.truth, size, self.capture.num_frames, self.capture.spec.display)

    def _warm_up(self) -> None:
        s = self.runner.info.preprocess.size
        for _ in range(self.config.warmup):
            infer_batch(self.runner, np.zeros((1, 3, s, s), np.float32))

    def _open_outputs(self) -> None:
        c = self.config
        if c.show:
            self.window = Window()
        if c.record:
            self.recorder = VideoRecorder(c.record, c.record_fps or self.capture.fps or 30.0)
        if c.json:
            self.json = JsonlWriter(c.json)
        self.events = EventLog(c.events, self.on_event, self.live)

    def _finish_tracks(self) -> None:
        """End every track still open: their final events go to --events before it is closed."""
        ended = self.answers.tracker.finish()
        if self.events is not None:
            self.events.record(ended)

    def _close_outputs(self) -> list[str]:
        written, failed = [], []
        for out in (self.json, self.events, self.recorder):
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

    def _locate(self, frame: Frame) -> Located:
        if self.config.roi_from_truth:
            return FrameLocator(self.roi_for(frame.index)).locate(frame.image)
        located = self.locator.locate(frame.image)
        self.boxes_seen += len(located)
        if located.capped:
            if not self.frames_capped:
                log.warning("frame %d: the %s locator found %d more candidate boxes than it keeps; it kept the best "
                            "%d (--max-boxes; said once, counted in the summary)", frame.index, self.locator_name,
                            located.capped, len(located))
            self.frames_capped += 1
        return located

    def _process(self, frame: Frame, t1: float) -> bool:
        located = self._locate(frame)
        t2 = time.perf_counter()
        classified = self.classifier.classify(frame.image, located.crops)
        t3 = time.perf_counter()
        decided = self.answers.decide(located, classified.logits)
        t4 = time.perf_counter()
        step = self.answers.tracker.update(frame.index, frame.t - self.t_start, decided.detections)
        shown = self.answers.show(decided, step)
        if self.scorer is not None:
            self._score(frame.index, located, shown)
        t5 = time.perf_counter()
        ms = {"capture": frame.read_ms, "locate": (t2 - t1) * 1e3, "preprocess": classified.preprocess_ms,
              "infer": classified.infer_ms, "postprocess": (t4 - t3) * 1e3, "track": (t5 - t4) * 1e3}
        self.events.step(step)
        confirmed = {v.track_id for v in step.tracks if v.confirmed}
        keep = self._output(frame, shown, confirmed, ms, t5)
        t6 = time.perf_counter()
        ms["output"] = self.last_output_ms = (t6 - t5) * 1e3
        for k, v in ms.items():
            self.times[k].append(v)
        self.times["latency"].append((t6 - frame.t) * 1e3)
        self.recent.append(t6)
        self.frames += 1
        self.t_end = t6
        return keep

    def _score(self, index: int, located: Located, shown: Shown) -> None:
        if isinstance(self.scorer, SignScorer):
            self.scorer.add(index, located.boxes, shown.boxes)
        else:
            self.scorer.add(index, shown.label)

    def _output(self, frame: Frame, shown: Shown, confirmed: set[int], ms: dict[str, float], t5: float) -> bool:
        keep, image = True, frame.image
        empty = image.size == 0
        live_image = self.live is not None and self.live.wants_image() and not empty
        if (self.config.draws or live_image) and not empty:
            boxes = [(d.box, d.label, tid, tid in confirmed) for d, tid in shown.boxes] if self.boxes else []
            drawn_ms = {**ms, "output": self.last_output_ms}
            roi = None if self.boxes else self.roi_for(frame.index)
            draw_overlay(image, shown.label, shown.confidence, self.live_fps(), drawn_ms, roi, boxes)
        if self.recorder is not None:
            self.recorder.write(image)
        if self.window is not None and not empty:
            keep = self.window.show(image)
        if self.json is not None:
            line_ms = {k: round(v, 3) for k, v in ms.items()}
            line_ms["output"] = round((time.perf_counter() - t5) * 1e3, 3)  # all but writing this line
            self.json.write({"frame": frame.index, "t": round(frame.t - self.t_start, 4), "label": shown.label,
                             "confidence": round(shown.confidence, 4),
                             "topk": [[lab, round(p, 4)] for lab, p in shown.topk],
                             "boxes": [{"box": list(d.box), "label": d.label, "confidence": round(d.confidence, 4),
                                        "track": tid} for d, tid in shown.boxes],
                             "ms": line_ms})
        if self.live is not None:
            self._feed_live(frame, shown, ms, live_image)
        return keep

    def _feed_live(self, frame: Frame, shown: Shown, ms: dict[str, float], with_image: bool) -> None:
        """Hand the live view this frame (references only: it never waits or copies in this thread)."""
        now = time.perf_counter()
        self.live.frame(LiveFrame(
            index=frame.index, t=now - self.t_start, label=shown.label, confidence=shown.confidence,
            topk=tuple(shown.topk), ms={"wait": self.times["wait"][-1], **ms, "output": self.last_output_ms,
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
        per_frame = round(self.boxes_seen / self.frames, 2) if self.frames else 0.0
        locate = {"why": self.locator_why, "boxes_per_frame": per_frame,
                  "frames_capped": self.frames_capped, "frames_chunked": self.classifier.chunked_frames}
        score = None
        if isinstance(self.scorer, SignScorer):
            score = self.scorer.report(self.answers.tracker.events)
        elif self.scorer is not None:
            score = self.scorer.report()
        return LoopResult(
            frames=self.frames, captured=self.capture.captured, dropped=self.capture.dropped,
            reconnects=self.capture.reconnected, wall_s=round(wall, 3),
            fps=round(self.frames / wall, 2) if wall > 0 else 0.0, end_reason=reason, stages=stages,
            own_work_share=round(own / sum(processing), 4) if sum(processing) > 0 else None,
            roi=self.roi_note(), locator=self.locator_name, locate=locate,
            events=self.events.announced if self.events else 0, source_lost=self.source_lost, score=score,
            written=written)


def run_loop(runner: Runner, capture: Capture, config: LoopConfig | None = None,
             truth: GroundTruth | None = None, live: LiveOutput | None = None,
             on_event: Callable[[Event], None] | None = None) -> LoopResult:
    """Run the camera loop until the source ends, the user stops it or the camera gives up."""
    try:
        return CameraLoop(runner, capture, config, truth, live, on_event).run()
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
    if r.locator != "frame":
        loc = r.locate
        capped = f", capped at --max-boxes on {loc['frames_capped']} frames" if loc.get("frames_capped") else ""
        chunked = f", run in chunks on {loc['frames_chunked']} frames" if loc.get("frames_chunked") else ""
        lines.append(f"located {loc.get('boxes_per_frame', 0):.1f} boxes per frame{capped}{chunked}; "
                     f"{r.events} sign{'s' if r.events != 1 else ''} announced")
    return lines
