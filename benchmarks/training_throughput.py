"""Training throughput: full fine-tuning vs frozen early stages vs cached features, from one run.

The three variants train the same backbone on the same data at the same batch size with
``edgetl.train.finetune``; images/s per epoch come from the trainer's own epoch records (training steps
only), wall time is the whole call (decoding, feature caching, validation). Ratios are to full fine-tuning.

    python benchmarks/training_throughput.py --out benchmarks/results
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

from edgetl.bench import environment
from edgetl.bench.report import environment_lines
from edgetl.fileio import write_json, write_text
from edgetl.train.finetune import Callbacks, FinetuneConfig, finetune

VARIANTS = (("full fine-tuning", {"freeze": "0"}),
            ("full fine-tuning, channels_last off", {"freeze": "0", "channels_last": "off"}),
            ("frozen early stages (auto: 2)", {"freeze": "auto"}),
            ("frozen 4 stages", {"freeze": "4"}),
            ("cached features (all frozen)", {"freeze": "all", "cache_features": True}))


class Records(Callbacks):
    def __init__(self) -> None:
        self.epochs: list[dict] = []

    def on_epoch_end(self, record: dict) -> None:
        self.epochs.append(record)


def run_variant(name: str, opts: dict, args, run: Path) -> dict:
    rec = Records()
    cfg = FinetuneConfig(data=str(args.data), out=str(run), backbone=args.backbone, epochs=args.epochs,
                         batch_size=args.batch_size, image_size=args.image_size, workers=1, device="cpu",
                         weights=args.weights, **opts)
    t0 = time.perf_counter()
    result = finetune(cfg, rec, overwrite=True)
    wall = time.perf_counter() - t0
    ips = [e["images_per_s"] for e in rec.epochs]
    return {"variant": name, **{k: str(v) for k, v in opts.items()}, "epochs": len(ips),
            "images_per_s_per_epoch": ips, "images_per_s": statistics.median(ips),
            "epoch_seconds": [e["seconds"] for e in rec.epochs], "wall_seconds": round(wall, 2),
            "best_val_top1": result.metrics.get("best_val_top1")}


def markdown(rows: list[dict], env: dict, args) -> str:
    full = rows[0]
    out = [f"Training throughput of {args.backbone} at {args.image_size}x{args.image_size}, batch {args.batch_size}, "
           f"{args.epochs} epochs each, on the CPU; images/s = median over epochs of training steps only.", "",
           "| variant | images/s | x full (per epoch) | wall s (whole run) | x full (wall) | best val top-1 |",
           "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r['variant']} | {r['images_per_s']:.0f} | {r['images_per_s'] / full['images_per_s']:.1f} | "
                   f"{r['wall_seconds']:.1f} | {full['wall_seconds'] / r['wall_seconds']:.1f} | "
                   f"{(r['best_val_top1'] or 0):.1%} |")
    return "\n".join(out + ["", "Environment:", "", *environment_lines(env), "", args.note]) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = [r["variant"] for r in rows]
    vals = [r["images_per_s"] for r in rows]
    ax.barh(names, vals, color=["#888", "#aaa", "#4a8", "#6b9", "#48c"][: len(vals)])
    for i, v in enumerate(vals):
        ax.text(v, i, f" {v:.0f} img/s ({v / vals[0]:.1f}x)", va="center", fontsize=8)
    ax.set_xlabel("training images/s per epoch")
    ax.set_xscale("log")
    ax.invert_yaxis()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("benchmarks/work/roadsigns"),
                    help="Image folders (backbones_runtimes.py generates the road-sign set here).")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/work/throughput"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--backbone", default="mobilenet_v2")
    ap.add_argument("--weights", default=None, help="Default: torchvision's ImageNet weights.")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rows = [run_variant(name, opts, args, args.work / f"v{i}") for i, (name, opts) in enumerate(VARIANTS)]
    env = environment.collect()
    result = {"benchmark": "training_throughput", "settings": {k: str(v) for k, v in vars(args).items()},
              "environment": env, "results": rows}
    write_json(args.out / "training_throughput.json", result)
    write_text(args.out / "training_throughput.md", markdown(rows, env, args))
    plot(rows, args.out / "training_throughput.png")
    print(markdown(rows, env, args))


if __name__ == "__main__":
    main()
