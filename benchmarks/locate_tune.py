"""Locators against the drive-by video's ground truth: recall, proposals per frame and time per frame.

Usage: python benchmarks/locate_tune.py [--seconds 24] [--seeds 0] [--every 1]
       [--setting signs] [--setting signs:scale=0.33] [--setting windows:scales=0.1/0.2/0.4,stride=0.5]
       [--json benchmarks/work/locate_tune.json] [--misses DIR] [--crop-size 64 | --model M.onnx]
       python benchmarks/locate_tune.py --video recording.avi [--setting ...]

Frames come from ``edgetl data roadsigns-video``'s own renderer, in memory (no video encoding), so the
locators see the pixels the video would hold before compression. For every frame every setting runs
once, in rotating order, so load from other processes hits all settings alike. A setting is a locator
name with options ``key=value`` separated by commas; list values separate their items with "/". Keys
are the fields of ``SignConfig`` for ``signs`` (scale, colours, min_side, min_score, max_boxes,
nms_iou, fill, ...), of ``WindowConfig`` for ``windows`` and ``roi`` for ``frame``.

Reported per setting, over the recognisable signs of every frame (ground truth format 2: every sign in
view, and whether it is recognisable there):
  recall      a box with IoU >= 0.5 to the sign's box (also by the sign's side: <32, 32-64, >=64 px, and
              by the video's segments: clear, night, glare, blur)
  crop recall the sign's box lies inside a crop and fills at least a third of its side (what the
              classifier gets to see)
  boxes/frame candidate boxes per frame, over all frames (each is one crop for the classifier)
  precision   boxes matching a true box / all boxes, over all frames (a proxy: the classifier and its
              background class reject the rest)
  ms p50/p90  wall-clock time of ``locate`` on one 1280x720 frame
  cpu ms p50  CPU time of this process during ``locate`` (with --threads 1, the locator's own work:
              on a machine shared with other jobs it varies less than the wall clock)
  crops ms    preparing the frame's crops as model batches (``crop_batch``, 64x64 unless --model)
  model ms    the model on them (``infer_crops`` less the preparing), with --model only
The default settings compare the proposer's reduced scale and sliding windows on the same frames.

The tracker's settings are measured with the real classifier by ``benchmarks/signs_loop.py --sweep``.

``--video`` runs the settings on a recording without ground truth (say, real footage without road
signs): boxes per frame and time only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgetl.bench.environment import collect
from edgetl.camera.classify import infer_crops
from edgetl.camera.locate import Locator, crop_batch
from edgetl.proposals import FrameLocator, SignConfig, SignProposer, WindowConfig, WindowLocator, box_iou
from edgetl.synth.video import VideoConfig, plan_segments, render_frames
from edgetl.fileio import write_json
from edgetl.spec import Preprocess

DEFAULT_SETTINGS = (
    "signs:scale=0.5", "signs:scale=1.0", "signs:scale=0.25", "signs:scale=0.5,max_splits=0",
    "windows:scales=0.1/0.2/0.4,stride=0.5", "windows:scales=0.04/0.056/0.08/0.11/0.16/0.22/0.32/0.45,stride=0.25",
)
SIZE_BINS = ((0, 32), (32, 64), (64, 10_000))


def _value(text: str) -> Any:
    items = text.split("/")
    parsed = []
    for v in items:
        try:
            parsed.append(int(v))
        except ValueError:
            try:
                parsed.append(float(v))
            except ValueError:
                parsed.append(v)
    return tuple(parsed) if len(items) > 1 or text.endswith("/") else parsed[0]


def make(setting: str) -> Locator:
    """``name:key=value,...`` -> a locator, options going to its config dataclass."""
    name, _, rest = setting.partition(":")
    kw = {k: _value(v) for k, v in (p.split("=", 1) for p in rest.split(",") if p)}
    if "colours" in kw and isinstance(kw["colours"], str):
        kw["colours"] = (kw["colours"],)
    if "scales" in kw and not isinstance(kw["scales"], tuple):
        kw["scales"] = (float(kw["scales"]),)
    if name == "signs":
        return SignProposer(SignConfig(**kw))
    if name == "windows":
        return WindowLocator(WindowConfig(**kw))
    if name == "frame":
        return FrameLocator(kw.get("roi"))
    raise SystemExit(f"unknown locator {name!r} in setting {setting!r}")


def crop_sees(truth: np.ndarray, crops: np.ndarray) -> bool:
    """The true box inside a crop, filling at least a third of the crop's side."""
    if len(crops) == 0:
        return False
    inside = ((crops[:, 0] <= truth[0]) & (crops[:, 1] <= truth[1]) & (crops[:, 2] >= truth[2])
              & (crops[:, 3] >= truth[3]))
    side = np.maximum(crops[:, 2] - crops[:, 0], crops[:, 3] - crops[:, 1])
    return bool((inside & (max(truth[2] - truth[0], truth[3] - truth[1]) >= side / 3)).any())


class Tally:
    """Counts and times of one setting."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self.cpu_ms: list[float] = []
        self.crop_ms: list[float] = []
        self.infer_ms: list[float] = []
        self.by_cue: dict[str, int] = {}
        self.frames = self.boxes = self.matched_boxes = self.capped = self.frames_with_signs = 0
        self.hits = {b: [0, 0] for b in SIZE_BINS}
        self.by_segment: dict[str, list[int]] = {}
        self.crop_hits = 0

    def add(self, located, signs: list[list[int]] | None, ms: float, cpu_ms: float,
            segment: str = "clear") -> list[bool]:
        """One frame: its boxes against its recognisable signs' boxes (None: a recording without truth);
        whether each sign was found."""
        self.ms.append(ms)
        self.cpu_ms.append(cpu_ms)
        for cue in located.cues:
            key = cue.split()[0]
            self.by_cue[key] = self.by_cue.get(key, 0) + 1
        self.frames += 1
        self.boxes += len(located)
        self.capped += located.capped > 0
        if not signs:
            return []
        self.frames_with_signs += 1
        t = np.asarray(signs, np.float64).reshape(-1, 4)
        iou = box_iou(located.boxes, t) if len(located) else np.zeros((0, len(t)))
        self.matched_boxes += int((iou >= 0.5).any(axis=1).sum())
        found = [bool(v) for v in (iou >= 0.5).any(axis=0)] if len(located) else [False] * len(t)
        for box, hit in zip(t, found):
            side = max(box[2] - box[0], box[3] - box[1])
            for lo, hi in SIZE_BINS:
                if lo <= side < hi:
                    self.hits[(lo, hi)][0] += hit
                    self.hits[(lo, hi)][1] += 1
            seg = self.by_segment.setdefault(segment, [0, 0])
            seg[0] += hit
            seg[1] += 1
            self.crop_hits += crop_sees(box, located.crops)
        return found

    def report(self) -> dict[str, Any]:
        labelled = sum(n for _, n in self.hits.values())
        found = sum(h for h, _ in self.hits.values())
        ms = np.asarray(self.ms)
        return {
            "recognisable_signs": labelled, "recall": _rate(found, labelled),
            "recall_by_side": {f"{lo}-{hi if hi < 10_000 else ''}": _rate(h, n) for (lo, hi), (h, n) in self.hits.items()},
            "recall_by_segment": {k: _rate(h, n) for k, (h, n) in sorted(self.by_segment.items())},
            "crop_recall": _rate(self.crop_hits, labelled),
            "boxes_per_frame": round(self.boxes / max(self.frames, 1), 2),
            "precision": _rate(self.matched_boxes, self.boxes) if labelled else None, "frames_capped": self.capped,
            "boxes_per_frame_by_cue": {k: round(v / max(self.frames, 1), 2) for k, v in sorted(self.by_cue.items())},
            "ms_p50": round(float(np.percentile(ms, 50)), 3), "ms_p90": round(float(np.percentile(ms, 90)), 3),
            "cpu_ms_p50": round(float(np.percentile(self.cpu_ms, 50)), 3),
            "crop_ms_p50": _p50(self.crop_ms), "infer_ms_p50": _p50(self.infer_ms),
        }


def _p50(values: list[float]) -> float | None:
    return round(float(np.percentile(values, 50)), 3) if values else None


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def classify(tally: Tally, img: np.ndarray, located, pre: Preprocess | None, runner) -> None:
    """Time what the crops cost after locating: preparing them as model batches of at most 64 (as
    ``infer_crops`` does), and with a model, preparing and running them (``infer_crops``)."""
    if pre is None:
        return
    t0 = time.perf_counter()
    for i in range(0, len(located.crops), 64):
        crop_batch(img, located.crops[i:i + 64], pre)
    t1 = time.perf_counter()
    tally.crop_ms.append((t1 - t0) * 1e3)
    if runner is not None:
        infer_crops(runner, img, located.crops)
        tally.infer_ms.append((time.perf_counter() - t1) * 1e3 - tally.crop_ms[-1])


def segment_at(frame: int, segments) -> str:
    """The kind of the video's night, glare or blur segment a frame lies in, or "clear"."""
    return next((g.kind for g in segments if g.start <= frame < g.end), "clear")


def run(settings: list[str], seconds: float, seeds: list[int], every: int, misses: Path | None,
        pre: Preprocess | None = None, runner=None) -> dict[str, Any]:
    locators = [make(s) for s in settings]
    tallies = [Tally() for _ in settings]
    k = 0
    for seed in seeds:
        cfg = VideoConfig(seconds=seconds, seed=seed)
        segments = plan_segments(cfg)
        for img, truth in render_frames(cfg):
            if truth["frame"] % every:
                continue
            signs = [s for s in truth["signs"] if s["recognisable"]]
            segment = segment_at(truth["frame"], segments)
            for j in range(len(locators)):  # rotating order: no setting always runs first
                i = (j + k) % len(locators)
                t0, c0 = time.perf_counter(), time.process_time()
                located = locators[i].locate(img)
                t1, c1 = time.perf_counter(), time.process_time()
                found = tallies[i].add(located, [s["box"] for s in signs], (t1 - t0) * 1e3, (c1 - c0) * 1e3, segment)
                classify(tallies[i], img, located, pre, runner)
                for sign, hit in zip(signs, found):
                    if misses and not hit:
                        _save_miss(misses, settings[i], seed, truth["frame"], sign, img, located)
            k += 1
    return {s: t.report() for s, t in zip(settings, tallies)}


def _save_miss(folder: Path, setting: str, seed: int, frame: int, sign: dict, img: np.ndarray, located) -> None:
    out = img.copy()
    for b in located.boxes:
        cv2.rectangle(out, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), (0, 255, 0), 1)
    x1, y1, x2, y2 = sign["box"]
    cv2.rectangle(out, (x1, y1), (x2, y2), (255, 0, 255), 1)
    pad = max(x2 - x1, y2 - y1) * 2
    view = out[max(0, y1 - pad):y2 + pad, max(0, x1 - pad):x2 + pad]
    folder.mkdir(parents=True, exist_ok=True)
    name = "".join(ch if ch.isalnum() or ch in "._=-" else "_" for ch in setting)
    cv2.imwrite(str(folder / f"{name}_s{seed}_f{frame:04d}_{sign['label']}.png"),
                cv2.resize(view, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST) if pad < 60 else view)


def table(results: dict[str, Any]) -> list[str]:
    head = ["setting", "recall", "<32", "32-64", ">=64", "by segment", "crop recall", "boxes/frame", "precision",
            "ms p50", "ms p90", "cpu ms p50", "crops ms p50", "model ms p50", "boxes by cue"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    for s, r in results.items():
        by = list(r["recall_by_side"].values())
        segs = " ".join(f"{k} {pct(v)}" for k, v in r["recall_by_segment"].items())
        lines.append("| " + " | ".join([f"`{s}`", pct(r["recall"]), *map(pct, by), segs, pct(r["crop_recall"]),
                                          f"{r['boxes_per_frame']:.1f}", pct(r["precision"]),
                                          f"{r['ms_p50']:.2f}", f"{r['ms_p90']:.2f}", f"{r['cpu_ms_p50']:.2f}",
                                          _ms(r["crop_ms_p50"]), _ms(r["infer_ms_p50"]),
                                          " ".join(f"{k} {v}" for k, v in r["boxes_per_frame_by_cue"].items())]) + " |")
    return lines


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setting", action="append", help="locator:key=value,... (repeatable)")
    ap.add_argument("--seconds", type=float, default=24.0)
    ap.add_argument("--seeds", default="0", help="video seeds, comma separated")
    ap.add_argument("--every", type=int, default=1, help="use every Nth frame")
    ap.add_argument("--threads", type=int, default=None, help="cv2.setNumThreads (default: OpenCV's)")
    ap.add_argument("--json", type=Path, default=None, help="write the results and environment here")
    ap.add_argument("--crop-size", type=int, default=64,
                    help="time preparing the crops as one batch of this input size (0: do not)")
    ap.add_argument("--model", type=Path, default=None,
                    help="also time this model on every frame's crops (its own input size)")
    ap.add_argument("--misses", type=Path, default=None, help="save a picture of every missed labelled frame here")
    ap.add_argument("--video", type=Path, default=None, help="instead: a recording without ground truth")
    a = ap.parse_args(argv)
    if a.threads is not None:
        cv2.setNumThreads(a.threads)
    if a.video:
        return main_video(a)
    settings = a.setting or list(DEFAULT_SETTINGS)
    seeds = [int(s) for s in a.seeds.split(",")]
    if a.model:
        from edgetl.runtime import open_runner

        with open_runner(a.model, threads=a.threads) as runner:
            results = run(settings, a.seconds, seeds, a.every, a.misses, runner.info.preprocess, runner)
    else:
        pre = Preprocess(size=a.crop_size, resize=a.crop_size) if a.crop_size else None
        results = run(settings, a.seconds, seeds, a.every, a.misses, pre)
    print("\n".join(table(results)))
    if a.json:
        write_json(a.json, {"video": {"seconds": a.seconds, "seeds": seeds, "every": a.every, "size": [1280, 720]},
                            "results": results, "environment": collect(threads=a.threads)})
    return 0


def main_video(a: argparse.Namespace) -> int:
    """Boxes per frame and time of each setting on a recording (every ``--every``-th frame)."""
    settings = a.setting or list(DEFAULT_SETTINGS[:3])
    locators, tallies = [make(s) for s in settings], [Tally() for _ in settings]
    cap = cv2.VideoCapture(str(a.video))
    if not cap.isOpened():
        raise SystemExit(f"OpenCV cannot read {a.video}")
    n = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if n % a.every == 0:
            for i, loc in enumerate(locators):
                t0, c0 = time.perf_counter(), time.process_time()
                located = loc.locate(img)
                tallies[i].add(located, None, (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3)
        n += 1
    cap.release()
    print(f"{a.video.name}: {n} frames, every {a.every}")
    results = {s: t.report() for s, t in zip(settings, tallies)}
    print("\n".join(table(results)))
    if a.json:
        write_json(a.json, {"video": str(a.video.name), "frames": n, "results": results,
                            "environment": collect(threads=a.threads)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
