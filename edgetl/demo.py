"""The whole pipeline on synthetic road signs, offline, in one call.

Generate the data, fine-tune MobileNetV2 from its ImageNet weights with early stages frozen, export
FP32 and INT8 (calibrated, gated), benchmark both, run the camera loop on a drive-by video the way a
dash camera would (it finds the signs itself: ``--locate signs``, no help from the ground truth, which
only scores the run), and summarise. Every step is a library call the CLI also exposes, so what the demo shows
is exactly what a user gets from the individual commands.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from edgetl.errors import EdgetlError
from edgetl.fileio import read_json, write_json

if TYPE_CHECKING:
    from edgetl.synth.roadsigns import RoadSignConfig

log = logging.getLogger(__name__)

MARKER = "demo.json"


@dataclass(frozen=True)
class DemoSize:
    per_class: int
    epochs: int
    video_seconds: float
    bench_seconds: float
    max_drop: float = 0.5  # INT8 accuracy budget, points of top-1


# "default" fits in about ten minutes on two CPU cores and "fast" in about two; "tiny" only checks that
# every stage runs (the test suite uses it): its model is too small for its accuracy to mean anything.
SIZES = {
    "default": DemoSize(per_class=250, epochs=8, video_seconds=20.0, bench_seconds=6.0),
    "fast": DemoSize(per_class=40, epochs=3, video_seconds=8.0, bench_seconds=2.0),
    "tiny": DemoSize(per_class=20, epochs=1, video_seconds=6.0, bench_seconds=0.5, max_drop=100.0),
}


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("edgetl-demo")
    size: str = "default"
    seed: int = 0
    backbone: str = "mobilenet_v2"
    image_size: int = 64

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise EdgetlError(f"demo size {self.size!r}: choose one of {', '.join(SIZES)}")

    @property
    def preset(self) -> DemoSize:
        return SIZES[self.size]


Step = Callable[[str, str], None]  # (step name, what happened)


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise EdgetlError(f"{out} exists and is not an edgetl demo folder: choose another --out")
        shutil.rmtree(out)  # a previous demo run: start afresh
    out.mkdir(parents=True, exist_ok=True)


STARTING = {
    "data": "generating synthetic road signs",
    "finetune": "fine-tuning from ImageNet weights",
    "export": "exporting ONNX, checking it against torch, calibrating INT8, gating accuracy and speed",
    "bench": "timing model.pt, model.onnx and model.int8.onnx from a decoded 1280x720 frame",
    "camera": "rendering the drive-by video, then finding, tracking and announcing its signs",
}


def run_demo(cfg: DemoConfig, step: Step | None = None, train_callbacks: Any = None,
             data_progress: Callable[[int], None] | None = None,
             video_progress: Callable[[int], None] | None = None) -> dict:
    """Run every stage into ``cfg.out``; return the summary (also written to ``demo.json``)."""
    step = step or (lambda name, msg: log.info("%s: %s", name, msg))
    out = Path(cfg.out)
    _prepare_out(out)
    summary: dict[str, Any] = {"config": {**asdict(cfg), "out": str(out)}, "synthetic_data": True,
                               "complete": False, "timings_s": {}}
    write_json(out / MARKER, summary)
    t_all = time.perf_counter()

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        step(name, STARTING[name] + " ...")
        t = time.perf_counter()
        result = fn()
        summary["timings_s"][name] = round(time.perf_counter() - t, 1)
        write_json(out / MARKER, summary)
        return result

    data = timed("data", lambda: _data(cfg, out, step, data_progress))
    summary["data"] = data
    run = timed("finetune", lambda: _finetune(cfg, out, step, train_callbacks))
    summary["finetune"] = run
    export = timed("export", lambda: _export(cfg, out, step))
    summary["export"] = export
    summary["deploy_model"] = export["deploy_model"]
    summary["bench"] = timed("bench", lambda: _bench(cfg, out, step))
    summary["camera"] = timed("camera", lambda: _camera(cfg, out, export["deploy_model"], step, video_progress))
    summary["timings_s"]["total"] = round(time.perf_counter() - t_all, 1)
    summary["complete"] = True
    summary["artifacts"] = _artifacts(out)
    write_json(out / MARKER, summary)
    return summary


def roadsign_config(cfg: DemoConfig) -> "RoadSignConfig":
    """The synthetic data set the demo generates."""
    from edgetl.synth.roadsigns import RoadSignConfig

    return RoadSignConfig(per_class=cfg.preset.per_class, image_size=(64, 64), seed=cfg.seed)


def _data(cfg: DemoConfig, out: Path, step: Step, progress: Any) -> dict:
    from edgetl.synth.roadsigns import generate_roadsigns

    manifest = generate_roadsigns(out / "data", roadsign_config(cfg), progress=progress)
    counts = {split: s["images"] for split, s in manifest["splits"].items()}
    step("data", f"{len(manifest['classes'])} synthetic road-sign classes, " +
         ", ".join(f"{k} {v}" for k, v in counts.items()))
    return {"path": str(out / "data"), "classes": len(manifest["classes"]), "images": counts,
            "content_sha256": manifest["content_sha256"]}


def _finetune(cfg: DemoConfig, out: Path, step: Step, progress: Any) -> dict:
    from edgetl.train.finetune import FinetuneConfig, finetune

    fc = FinetuneConfig(data=str(out / "data"), out=str(out / "run"), backbone=cfg.backbone, freeze="auto",
                        epochs=cfg.preset.epochs, image_size=cfg.image_size, batch_size=64, seed=cfg.seed,
                        workers=2)
    result = finetune(fc, progress)
    m = result.metrics
    frozen = result.parameters
    trainable = sum(r["trainable"] for r in frozen)
    total = sum(r["total"] for r in frozen)
    step("finetune", f"{cfg.backbone} from ImageNet weights, {trainable / total:.1%} of parameters trainable, "
                     f"{len(m['epochs'])} epochs: val top-1 {m['best_val_top1']:.2%}, test top-1 {m.get('test_top1', 0):.2%}")
    return {"run": str(out / "run"), "val_top1": m["best_val_top1"], "test_top1": m.get("test_top1"),
            "epochs": len(m["epochs"]), "images_per_s": [e.get("images_per_s") for e in m["epochs"]]}


def _export(cfg: DemoConfig, out: Path, step: Step) -> dict:
    from edgetl.export.pipeline import ExportConfig, export_run

    result = export_run(ExportConfig(run=out / "run", int8=True, target="cpu", eval_split="test",
                                      max_drop=cfg.preset.max_drop))
    r = result.report
    fp32, int8 = r["fp32"], r.get("int8", {})
    for notice in result.notices:
        step("export", notice)
    # the camera loop runs what export recommends: INT8 only where it measured faster and stayed accurate
    deploy = out / "run" / ("model.int8.onnx" if int8.get("recommended") else "model.onnx")
    step("export", f"FP32 ONNX verified (max |diff| {fp32.get('parity_max_abs', float('nan')):.1e}); INT8 "
                   f"{int8.get('method')} calibration: test top-1 {int8.get('top1', 0):.2%} "
                   f"({0.0 - int8.get('drop_points', 0) + 0.0:+.2f} points vs FP32), {int8.get('speedup') or 0:.2f}x FP32 speed")
    return {"fp32": fp32, "int8": int8, "calibration": r.get("calibration"), "deploy_model": str(deploy),
            "notices": result.notices}


def _bench(cfg: DemoConfig, out: Path, step: Step) -> dict:
    from edgetl.bench.runner import BenchConfig, bench_models

    models = [out / "run" / "model.pt", out / "run" / "model.onnx", out / "run" / "model.int8.onnx"]
    models = [m for m in models if m.is_file()]
    report = bench_models(models, BenchConfig(batches=(1,), seconds=cfg.preset.bench_seconds, warmup=5, end_to_end=True))
    data = report.to_dict()
    write_json(out / "bench.json", data)
    rows = data["results"]
    step("bench", "; ".join(f"{Path(r['model']).name}: p50 {r['p50_ms']:.2f} ms" for r in rows))
    return {"path": str(out / "bench.json"), "results": rows}


def _camera(cfg: DemoConfig, out: Path, model: str, step: Step, progress: Callable[[int], None] | None) -> dict:
    from edgetl.camera.loop import LoopConfig, run_loop
    from edgetl.camera.score import load_ground_truth
    from edgetl.camera.sources import Capture, parse_source
    from edgetl.data.groundtruth import ground_truth_path
    from edgetl.synth.video import VideoConfig, generate_video
    from edgetl.runtime import open_runner

    video = out / "drive.mp4"
    generate_video(video, VideoConfig(seconds=cfg.preset.video_seconds, seed=cfg.seed), progress=progress)
    truth = load_ground_truth(ground_truth_path(video))
    loop_cfg = LoopConfig(locate="signs", record=out / "drive.annotated.mp4", json=out / "drive.frames.jsonl",
                          events=out / "drive.events.jsonl")
    with open_runner(model) as runner:
        result = run_loop(runner, Capture(parse_source(str(video)), drop=False), loop_cfg, truth)
    score = result.score or {}
    summary = {"video": str(video), "frames": result.frames, "fps": round(result.fps, 1), "roi": result.roi,
               "locator": result.locator, "events": result.events, "stages_ms": result.stages,
               "locate": result.locate, "score": score, "written": result.written}
    write_json(out / "drive.summary.json", summary)
    tracks = score.get("tracks") or {}
    step("camera", f"{result.frames} frames at {result.fps:.1f} FPS; {tracks.get('once_right', 0)} of "
                   f"{tracks.get('signs', 0)} signs announced once with the right label, "
                   f"{tracks.get('false_events', 0)} false events ({result.roi})")
    return summary


def _artifacts(out: Path) -> dict:
    names = {"data": "data", "run": "run", "model.pt": "run/model.pt", "model.onnx": "run/model.onnx",
             "model.int8.onnx": "run/model.int8.onnx", "export.json": "run/export.json",
             "metrics.json": "run/metrics.json", "confusion.png": "run/confusion.png", "bench.json": "bench.json",
             "video": "drive.mp4", "annotated video": "drive.annotated.mp4", "frames": "drive.frames.jsonl",
             "events": "drive.events.jsonl", "summary": MARKER}
    return {k: str(out / v) for k, v in names.items() if (out / v).exists()}


def load_summary(out: Path) -> dict:
    return read_json(Path(out) / MARKER)
