"""How many background images the road-sign data set needs: sign accuracy against false alarms rejected.

For each size (a multiple of --per-class), generate the data set with that many background images,
fine-tune the demo's model on it (MobileNetV2, ``edgetl.train.finetune``, --freeze auto), and measure:

  test (the data set's test split)
    sign top-1         sign images given their right label
    signs lost         sign images called background
    background right   background images called background
  video (the drive-by video, rendered in memory; the sign proposer's crops through the model as the
  camera loop runs them: ``edgetl.camera.classify.infer_crops``; a call counts as a sign when it is not
  background and its confidence is at least --min-confidence, the tracker's default)
    sign crops right   proposals at IoU >= 0.5 with a recognisable sign called its label
    sign crops lost    ... called background (or below the confidence)
    false rejected     proposals that touch no sign in view (IoU 0) called background or below the confidence
    false signs/frame  ... called a sign, per frame; and per frame without any sign in view

The video is built from the parts of the photographs the data set never uses (``edgetl.synth.scene``).

Each size is trained once per --seeds (data and training seed alike) and every model sees every video
of --video-seeds; the table sums the counts over them (test and video), so one lucky run weighs less.

Usage: python benchmarks/background_size.py [--per-class 150] [--sizes 0,1,2,4] [--epochs 4] [--seeds 0,1]
       [--video-seconds 24] [--video-seeds 0,1] [--every 2] [--work benchmarks/work/background_size]
       [--out benchmarks/results]
Writes background_size.{json,md} to --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edgetl.bench.environment import collect
from edgetl.camera.classify import infer_crops
from edgetl.fileio import read_json, write_json, write_text
from edgetl.proposals import SignProposer, box_iou
from edgetl.runtime import open_runner
from edgetl.synth.roadsigns import RoadSignConfig, generate_roadsigns
from edgetl.synth.video import VideoConfig, render_frames
from edgetl.train.finetune import FinetuneConfig, finetune


def train(work: Path, per_class: int, size: float, epochs: int, seed: int) -> Path:
    """Data set and fine-tuned run for one background size; reused when already there."""
    name = f"bg{size:g}x_s{seed}"
    data, run = work / f"data_{name}", work / f"run_{name}"
    if not (data / "manifest.json").is_file():
        generate_roadsigns(data, RoadSignConfig(per_class=per_class, image_size=(64, 64), seed=seed,
                                                background=int(round(size * per_class))), overwrite=True)
    if not (run / "metrics.json").is_file() or "test_top1" not in read_json(run / "metrics.json"):
        finetune(FinetuneConfig(data=str(data), out=str(run), backbone="mobilenet_v2", freeze="auto", epochs=epochs,
                                image_size=64, batch_size=64, seed=seed, workers=1))
    return run


def test_counts(run: Path) -> dict[str, int]:
    """Sign images, right and called background; background images and right: the run's test confusion."""
    m = read_json(run / "metrics.json")
    conf = np.asarray(m["confusion"], np.int64)
    labels = (run / "labels.txt").read_text().split()
    bg = labels.index("background") if "background" in labels else None
    signs = [i for i in range(len(labels)) if i != bg]
    out = {"signs": int(conf[signs].sum()), "signs_right": int(sum(conf[i, i] for i in signs)),
           "signs_lost": int(conf[signs][:, bg].sum()) if bg is not None else 0, "background": 0, "background_right": 0}
    if bg is not None:
        out.update(background=int(conf[bg].sum()), background_right=int(conf[bg, bg]))
    return out


def video_counts(run: Path, seconds: float, seed: int, every: int, min_conf: float) -> dict[str, int]:
    proposer = SignProposer()
    tally = dict(sign=0, sign_right=0, sign_lost=0, false=0, false_rejected=0, frames=0, empty_frames=0,
                 false_signs=0, false_signs_empty=0)
    model = run / "model.pt"
    with open_runner(model) as runner:
        labels = list(runner.info.labels)
        bg = labels.index("background") if "background" in labels else -1
        for img, truth in render_frames(VideoConfig(seconds=seconds, seed=seed)):
            if truth["frame"] % every:
                continue
            located = proposer.locate(img)
            tally["frames"] += 1
            empty = not truth["signs"]
            tally["empty_frames"] += empty
            if not len(located):
                continue
            logits = infer_crops(runner, img, located.crops)
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            pred, conf = p.argmax(1), p.max(1)
            called = (pred != bg) & (conf >= min_conf)
            boxes = np.asarray([s["box"] for s in truth["signs"]], np.float64).reshape(-1, 4)
            iou = box_iou(located.boxes, boxes) if len(boxes) else np.zeros((len(located), 0))
            for i in range(len(located)):
                if len(boxes) and iou[i].max() >= 0.5 and truth["signs"][int(iou[i].argmax())]["recognisable"]:
                    tally["sign"] += 1
                    tally["sign_right"] += bool(called[i] and labels[pred[i]] == truth["signs"][int(iou[i].argmax())]["label"])
                    tally["sign_lost"] += not called[i]
                elif not len(boxes) or iou[i].max() == 0:
                    tally["false"] += 1
                    tally["false_rejected"] += not called[i]
                    tally["false_signs"] += bool(called[i])
                    tally["false_signs_empty"] += bool(called[i] and empty)
    return tally


def rates(t: dict[str, int], v: dict[str, int]) -> dict[str, float]:
    """The table's shares from summed test (``t``) and video (``v``) counts."""
    return {"sign_top1": t["signs_right"] / max(1, t["signs"]), "signs_lost": t["signs_lost"] / max(1, t["signs"]),
            "background_right": t["background_right"] / t["background"] if t["background"] else float("nan"),
            "sign_crops_right": v["sign_right"] / max(1, v["sign"]), "sign_crops_lost": v["sign_lost"] / max(1, v["sign"]),
            "false_rejected": v["false_rejected"] / max(1, v["false"]),
            "false_signs_per_frame": v["false_signs"] / max(1, v["frames"]),
            "false_signs_per_empty_frame": v["false_signs_empty"] / max(1, v["empty_frames"])}


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + v for k, v in b.items()}


def markdown(res: dict[str, Any]) -> str:
    a = res["args"]
    lines = ["# Background class size\n",
             f"Data: `edgetl data roadsigns` (synthetic), {a['per_class']} images per sign class; MobileNetV2 64x64, "
             f"--freeze auto, {a['epochs']} epochs; one model per seed ({a['seeds']}). Video: the drive-by video, "
             f"seeds {a['video_seeds']}, {a['video_seconds']} s each, every {a['every']} frame(s); the sign "
             f"proposer's crops; a sign call needs confidence >= {a['min_confidence']}. Counts summed over models "
             f"and videos: {res['rows'][0]['video']['sign']} sign crops and {res['rows'][0]['video']['false']} false "
             f"proposals per size.\n",
             "| background | sign top-1 (test) | signs lost to background (test) | background right (test) | "
             "sign crops right (video) | sign crops lost (video) | false proposals rejected (video) | "
             "false signs per frame | per frame without a sign |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        x = r["rates"]
        bg = "-" if x["background_right"] != x["background_right"] else f"{x['background_right']:.1%}"
        lines.append(f"| {r['size']:g}x ({r['images']}) | {x['sign_top1']:.1%} | {x['signs_lost']:.1%} | {bg} | "
                     f"{x['sign_crops_right']:.1%} | {x['sign_crops_lost']:.1%} | {x['false_rejected']:.1%} | "
                     f"{x['false_signs_per_frame']:.3f} | {x['false_signs_per_empty_frame']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-class", type=int, default=150)
    ap.add_argument("--sizes", default="0,1,2,4", help="background images per sign-class image, comma-separated")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seeds", default="0,1", help="data and training seeds: one model per seed and size")
    ap.add_argument("--video-seconds", type=float, default=24.0)
    ap.add_argument("--video-seeds", default="0,1")
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--min-confidence", type=float, default=0.5)
    ap.add_argument("--work", type=Path, default=Path("benchmarks/work/background_size"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args(argv)
    rows = []
    for size in (float(s) for s in args.sizes.split(",")):
        test: dict[str, int] = {}
        video: dict[str, int] = {}
        for seed in (int(s) for s in args.seeds.split(",")):
            run = train(args.work, args.per_class, size, args.epochs, seed)
            test = _add(test, test_counts(run))
            for vs in (int(s) for s in args.video_seeds.split(",")):
                video = _add(video, video_counts(run, args.video_seconds, vs, args.every, args.min_confidence))
        row = {"size": size, "images": int(round(size * args.per_class)), "test": test, "video": video,
               "rates": rates(test, video)}
        rows.append(row)
        print(row, flush=True)
    res = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "rows": rows,
           "environment": collect(threads=1)}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "background_size.json", res)
    write_text(args.out / "background_size.md", markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
