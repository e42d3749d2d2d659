"""``edgetl run``: recognise from a camera, stream, video file or image folder."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Callable

import click

from edgetl.camera.smoothing import SmoothingConfig
from edgetl.camera.track import BACKGROUND, TrackConfig
from edgetl.camera.sources import source_kinds
from edgetl.cli.backend_options import BackendCommand
from edgetl.cli.locator_options import LocatorCommand

SOURCE_LOST_EXIT = 3  # the summary is printed and files are complete, but the camera went away

EPILOG = """\b
Stop with q in the window or Ctrl-C: a summary of p50/p90/p99 per stage and the FPS is printed
and every file written is complete. Exit status 3 means a live source stopped delivering.
\b
With a box locator (signs, windows) each box is classified, the background class means no sign
there, and a tracker follows each sign across frames: a sign seen --confirm-after frames is
announced once (a line on the terminal, a 'sign' event with --serve, a line of --events when its
track ends). With the frame locator the smoothing options decide the one answer per frame.
"""

SMOOTHING_OPTIONS = ("smooth", "window", "hold")
TRACKING_OPTIONS = ("confirm_after", "drop_after")


class RunCommand(LocatorCommand, BackendCommand):
    """``edgetl run``: locator and backend options and the list of camera sources come from their registries."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("SOURCE is one of (recognised in this order)"):
            formatter.write_dl([(kind.example, kind.description) for kind in source_kinds()])
        super().format_epilog(ctx, formatter)


SERVE_OPTIONS = ("serve", "serve_fps", "serve_width", "serve_token", "serve_clients")


def serve_options(f: Callable) -> Callable:
    """The --serve* options, given to the command as one ``serve`` argument (a ServeConfig or None)."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        values = {k: kwargs.pop(k) for k in SERVE_OPTIONS}
        ctx = click.get_current_context()
        given = [k for k in SERVE_OPTIONS[1:] if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE]
        if values["serve"] is None and given:
            raise click.UsageError(f"--{given[0].replace('_', '-')} needs --serve [HOST:]PORT")
        return f(*args, serve=_serve_config(values) if values["serve"] is not None else None, **kwargs)

    for decorator in reversed((
        click.option("--serve", metavar="[HOST:]PORT",
                     help="Serve a live page, MJPEG stream, stats and events over HTTP (on 127.0.0.1 unless "
                          "HOST is given; 0.0.0.0: every interface; port 0: a free one)."),
        click.option("--serve-fps", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
                     help="Most frames a second encoded for viewers."),
        click.option("--serve-width", type=click.IntRange(16), default=640, show_default=True,
                     help="Wider frames are scaled down to this width for viewers."),
        click.option("--serve-token", envvar="EDGETL_SERVE_TOKEN", show_envvar=True,
                     help="Require this token (16+ characters) on every request: 'Authorization: Bearer TOKEN', "
                          "or open the page as /?token=TOKEN."),
        click.option("--serve-clients", type=click.IntRange(1), default=4, show_default=True,
                     help="Viewers at once (of the stream, and of the events); more are refused with 503."),
    )):
        wrapper = decorator(wrapper)
    return wrapper


def _serve_config(values: dict):
    from edgetl.camera.serve import ServeConfig, parse_address

    host, port = parse_address(values["serve"])
    return ServeConfig(host, port, values["serve_fps"], values["serve_width"], values["serve_token"],
                       values["serve_clients"])


def _open_server(serve):
    """Bind --serve now, so that a port in use fails before the model loads; closed with the command."""
    if serve is None:
        return None
    from edgetl.camera.serve import LiveServer

    server = LiveServer(serve)
    click.get_current_context().call_on_close(server.close)
    return server


def _start_server(server, runner, spec) -> None:
    server.start({"model": runner.path.name, "backend": runner.backend, "precision": runner.precision,
                  "source": spec.display})
    token = " (every request needs the token: open it as /?token=TOKEN)" if server.config.token else ""
    click.echo(f"live view on {server.url}{token}; /stream.mjpg /stats.json /events", err=True)
    if server.config.public and not server.config.token:
        click.echo(f"warning: anyone who can reach {server.config.host} can watch; set --serve-token", err=True)


@click.command("run", cls=RunCommand, epilog=EPILOG)
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("source")
@click.option("--topk", type=click.IntRange(1), default=3, show_default=True, help="Classes listed per frame.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="Under this (smoothed) confidence the answer is 'unknown'; with a box locator, a box's sign "
                   f"label under it counts as background [default: {SmoothingConfig.threshold:g} with the frame "
                   f"locator, {TrackConfig.min_confidence:g} with box locators].")
@click.option("--background-label", default=BACKGROUND, show_default=True,
              help="The class that means 'no sign here'. A model without it still runs, but cannot reject "
                   "false alarms.")
@click.option("--smooth", type=click.Choice(["none", "mean", "vote"]), default="mean", show_default=True,
              help="[frame] Combine the last --window frames: average their probabilities, or vote.")
@click.option("--window", type=click.IntRange(1), default=5, show_default=True, help="[frame] Frames smoothed over.")
@click.option("--hold", type=click.IntRange(1), default=2, show_default=True,
              help="[frame] Frames a new answer must win in a row before it is shown (1: switch at once).")
@click.option("--confirm-after", type=click.IntRange(1), default=TrackConfig.confirm_after, show_default=True,
              help="[signs, windows] Frames a sign must be seen with its label before it is announced.")
@click.option("--drop-after", type=click.IntRange(1), default=TrackConfig.drop_after, show_default=True,
              help="[signs, windows] Frames without a sign before its track ends.")
@click.option("--events", "events_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write one JSON line per sign announced: track id, label, confidence, first and last frame "
                   "and time, announced frame and time, best-view box.")
@click.option("--headless", is_flag=True, help="No window (on a device without a display, or over SSH).")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), help="Write the overlaid video (.mp4, .avi).")
@click.option("--record-fps", type=click.FloatRange(min=1), help="Frame rate of --record [default: the source's].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write one JSON line per frame: frame, t, label, confidence, topk, boxes (box, label, "
                   "confidence, track), ms.")
@click.option("--summary", "summary_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the exit summary (and score) as JSON.")
@click.option("--no-drop", is_flag=True,
              help="Process every frame of a file, as fast as possible (default: play it in real time and "
                   "take the newest frame, like a camera).")
@click.option("--max-frames", type=click.IntRange(1), help="Stop after this many processed frames.")
@click.option("--ground-truth", type=click.Path(dir_okay=False, path_type=Path),
              help="Score against per-frame ground truth (NAME.gt.json from 'edgetl data roadsigns-video').")
@click.option("--roi-from-truth", is_flag=True,
              help="Crop each frame to its ground-truth box (frame locator): scores the classifier alone, "
                   "localisation given.")
@click.option("--reconnects", type=click.IntRange(0), default=5, show_default=True,
              help="Reopen attempts when a live source stops delivering.")
@click.option("--frame-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds a read may hang before the source counts as gone.")
@serve_options
def run(model: Path, source: str, topk: int, threshold: float, background_label: str, smooth: str, window: int,
        hold: int, confirm_after: int, drop_after: int, events_path: Path | None, headless: bool,
        record: Path | None, record_fps: float | None, json_path: Path | None, summary_path: Path | None,
        no_drop: bool, max_frames: int | None, ground_truth: Path | None, roi_from_truth: bool, reconnects: int,
        frame_timeout: float, locate: str | None, locate_options: dict, backend_options: dict, serve=None) -> None:
    """Recognise what SOURCE shows with MODEL (.pt, .onnx, .int8.onnx or .engine).

    The backend options (--provider, --device, --threads, --rebuild-stale) are those of the model's backend.
    """
    from edgetl.camera.events import format_event
    from edgetl.camera.loop import CameraLoop, LoopConfig, format_summary
    from edgetl.camera.score import format_report, load_ground_truth
    from edgetl.camera.sources import Capture, parse_source
    from edgetl.fileio import check_output, remove_stale_temps, write_json
    from edgetl.runtime import open_runner

    spec = parse_source(source)
    for path in (json_path, events_path, record, summary_path):
        if path is not None:
            check_output(path)
    if record is not None:  # a killed recording cannot be played; a killed JSONL log (.tmp) is kept to be read
        remove_stale_temps(record.parent, [record.name])
    truth = load_ground_truth(ground_truth) if ground_truth else None
    tracking = TrackConfig(confirm_after=confirm_after, drop_after=drop_after, background=background_label,
                           min_confidence=TrackConfig.min_confidence if threshold is None else threshold)
    smoothing = SmoothingConfig(smooth, window, hold, SmoothingConfig.threshold if threshold is None else threshold)
    config = LoopConfig(
        roi_from_truth=roi_from_truth, locate=locate, locate_options=locate_options, topk=topk,
        smoothing=smoothing, tracking=tracking, show=not headless,
        record=record, record_fps=record_fps, json=json_path, events=events_path, max_frames=max_frames,
        frame_timeout_s=frame_timeout)
    server = _open_server(serve)
    with open_runner(model, **backend_options) as runner:
        capture = Capture(spec, drop=not no_drop, reconnects=reconnects)
        try:
            loop = CameraLoop(runner, capture, config, truth, live=server.broadcast if server else None,
                              on_event=lambda e: click.echo(format_event(e)))
            _refuse_unused(loop.boxes)
            size = f"{capture.size[0]}x{capture.size[1]}" if capture.size else "size unknown"
            pace = (f", played in real time at {capture.fps:g} fps (--no-drop: every frame, as fast as possible)"
                    if capture.realtime else f" @ {capture.fps:g} fps" if capture.fps else "")
            click.echo(f"{runner.path.name} ({runner.backend}, {runner.precision}) on {spec.display} ({size}{pace}); "
                       f"{loop.describe()}; Ctrl-C to stop", err=True)
            if server is not None:
                _start_server(server, runner, spec)
            result = loop.run()
        finally:
            capture.close()
        if server is not None:
            server.close(result.end_reason)
    for line in format_summary(result):
        click.echo(line)
    if result.score:
        for line in format_report(result.score):
            click.echo(line)
    if summary_path:
        write_json(summary_path, {"model": str(model), "source": spec.display, "backend": runner.backend,
                                  "precision": runner.precision, "smoothing": config.smoothing.__dict__,
                                  "tracking": tracking.__dict__, **result.to_dict()})
    for path in result.written + ([str(summary_path)] if summary_path else []):
        click.echo(f"wrote {path}", err=True)
    if result.source_lost:
        sys.exit(SOURCE_LOST_EXIT)


def _refuse_unused(boxes: bool) -> None:
    """Options that mean nothing for the locator this run uses are refused, never silently ignored."""
    ctx = click.get_current_context()
    given = [k for k in (SMOOTHING_OPTIONS if boxes else TRACKING_OPTIONS)
             if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE]
    if not given:
        return
    flags = ", ".join("--" + k.replace("_", "-") for k in given)
    if boxes:
        raise click.UsageError(f"{flags}: smoothing decides the frame locator's one answer per frame; this run "
                               f"locates boxes, whose tracks vote instead (--confirm-after, --drop-after); "
                               f"pass --locate frame to smooth the whole frame")
    raise click.UsageError(f"{flags}: the tracker follows the boxes of a box locator (--locate signs or windows); "
                           f"this run classifies the whole frame, smoothed (--smooth, --window, --hold)")
