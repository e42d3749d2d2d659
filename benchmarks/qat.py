"""Quantization-aware training against PTQ, on the issue's two cases, in one run.

Usage: python benchmarks/qat.py [--size full|tiny] [--work benchmarks/work/qat] [--out benchmarks/results]

Two runs of the synthetic road signs, each fine-tuned with the product's own ``finetune`` (MobileNetV2 from
ImageNet weights, 64x64, stem and first stage frozen), then exported with ``edgetl export --int8 --qat on``
through the library, so PTQ (with its float fallbacks) and QAT are measured by the same gates in the same
export:

- ``tensorrt``: the demo's default size (250 images per class, 8 epochs) with the ``tensorrt`` preset.
  Target: QAT loses at most 0.1 points of test top-1 with no tensor in float.
- ``cpu``: the demo's ``--fast`` size (40 per class, 3 epochs), where PTQ with the ``cpu`` preset keeps
  tensors in float. Target: QAT within ``--max-drop`` with every tensor in INT8, and its speed-up over
  FP32 at least PTQ's (with fallbacks) + 0.2x; FP32, PTQ and QAT are timed in one interleaved run
  (``--latency-iters`` calls per round, 5 rounds, batch 1).

It also reports QAT's wall time per epoch (training steps only) against the run's own fine-tuning epochs.
Writes qat.json (with the environment) and qat.md. ``--size tiny`` runs every step in about a minute
(numbers meaningless) to check the script.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgetl.bench import environment
from edgetl.bench.report import environment_lines
from edgetl.export.pipeline import ExportConfig, export_run
from edgetl.export import qat
from edgetl.export.qat import DEFAULT_EPOCHS, DEFAULT_LR, QatConfig
from edgetl.export.quantize import get_target
from edgetl.fileio import read_json, write_json, write_text
from edgetl.synth.roadsigns import RoadSignConfig, generate_roadsigns
from edgetl.train.finetune import FinetuneConfig, finetune

TRT_MAX_DROP, SPEEDUP_MARGIN = 0.1, 0.2


@dataclass(frozen=True)
class Case:
    name: str
    target: str
    per_class: int
    epochs: int
    qat_epochs: int
    qat_lr: float
    max_drop: float = 0.5


def cases(size: str, args) -> list[Case]:
    if size == "tiny":
        return [Case("tensorrt", "tensorrt", 12, 1, 1, DEFAULT_LR, 100.0),
                Case("cpu", "cpu", 12, 1, 1, DEFAULT_LR, 100.0)]
    return [Case("tensorrt", "tensorrt", 250, 8, args.qat_epochs, args.qat_lr),
            Case("cpu", "cpu", 40, 3, args.fast_qat_epochs, args.fast_qat_lr)]


def prepare_run(case: Case, work: Path, seed: int, reuse: bool) -> Path:
    """Data and a fine-tuned run for ``case`` (kept in ``work`` for --reuse)."""
    data, run = work / f"{case.name}-data", work / f"{case.name}-run"
    if reuse and (run / "model.pt").is_file():
        return run
    shutil.rmtree(data, ignore_errors=True)
    generate_roadsigns(data, RoadSignConfig(per_class=case.per_class, image_size=(64, 64), seed=seed))
    finetune(FinetuneConfig(data=str(data), out=str(run), backbone="mobilenet_v2", freeze="auto", epochs=case.epochs,
                            image_size=64, batch_size=64, seed=seed, workers=2), overwrite=True)
    return run


def measure(case: Case, run: Path, threads: int, iters: int) -> dict:
    for name in ("model.int8.onnx", "model.int8.onnx.json", "export.json"):
        (run / name).unlink(missing_ok=True)
    result = export_run(ExportConfig(run=run, int8=True, target=case.target, eval_split="test", max_drop=case.max_drop,
                                     threads=threads, latency_iters=iters,
                                     qat=QatConfig("on", case.qat_epochs, case.qat_lr)))
    rep = result.report
    q = rep["int8"]
    ft = [e for e in read_json(run / "metrics.json")["epochs"]]
    return {"case": case.name, "target": case.target, "per_class": case.per_class, "finetune_epochs": case.epochs,
            "fp32_top1": rep["fp32"]["top1"], "max_drop": case.max_drop, "ptq": q["ptq"],
            "qat": {k: v for k, v in q["qat"].items()}, "selection": q["selection"],
            "fp32_latency_ms": rep["fp32"]["latency_ms"], "kept_latency_ms": q.get("latency_ms"),
            "finetune_seconds_per_epoch": sum(e["seconds"] for e in ft) / len(ft),
            "finetune_images_per_s": sum(e["images_per_s"] for e in ft) / len(ft)}


def verdict(r: dict) -> str:
    p, q = r["ptq"], r["qat"]
    if r["case"] == "tensorrt":
        ok = q["drop_points"] <= TRT_MAX_DROP and q["float_nodes"] == 0
        return f"{'met' if ok else 'MISSED'}: QAT drop <= {TRT_MAX_DROP} points, no float tensor"
    need = (p.get("speedup") or 0) + SPEEDUP_MARGIN
    ok = q["within_budget"] and q["float_nodes"] == 0 and (q.get("speedup") or 0) >= need
    return f"{'met' if ok else 'MISSED'}: QAT within --max-drop, all INT8, speed-up >= {need:.2f}x"


def _x(v) -> str:
    return "-" if v is None else f"{v:.2f}x"


def markdown(rows: list[dict], env: dict, size: str) -> str:
    out = [f"# QAT against PTQ (benchmarks/qat.py --size {size})", "",
           "| case | FP32 test top-1 | PTQ drop (pts) | PTQ float tensors | PTQ speed-up | QAT drop (pts) "
           "| QAT float tensors | QAT speed-up | QAT epochs, lr | kept | target |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p, q = r["ptq"], r["qat"]
        ptq_drop = f"{p['drop_points']:.2f}" if "drop_points" in p else "misses the budget"
        out.append(f"| {r['case']} ({r['target']}, {r['per_class']}/class, {r['finetune_epochs']} ep) | "
                   f"{r['fp32_top1']:.2%} | {ptq_drop} | {p.get('float_nodes', '-')} | {_x(p.get('speedup'))} | "
                   f"{q['drop_points']:.2f} | {q['float_nodes']} | {_x(q.get('speedup'))} | "
                   f"{q['epochs']}, {q['lr']:g} | "
                   f"{r['selection']['winner'].upper()} | {verdict(r)} |")
    out += ["", "Wall time per epoch (training steps only; fine-tuning trains with the stem and first stage frozen, "
            "QAT trains every layer through the fake quantizers):", "",
            "| case | fine-tuning s/epoch (images/s) | QAT s/epoch (images/s) | QAT / fine-tuning |",
            "|---|---|---|---|"]
    for r in rows:
        q = r["qat"]
        out.append(f"| {r['case']} | {r['finetune_seconds_per_epoch']:.1f} ({r['finetune_images_per_s']:.0f}) | "
                   f"{q['seconds_per_epoch']:.1f} ({q['images_per_s'] or 0:.0f}) | "
                   f"{q['seconds_per_epoch'] / r['finetune_seconds_per_epoch']:.2f}x |")
    out += ["", "What `--qat auto` would do, and why the kept model won:", ""]
    for r in rows:
        cost = r["selection"]["fallback_speed_cost"]
        auto = qat.why_qat(QatConfig("auto"), get_target(r["target"]), qat.Candidate("ptq", **r["ptq"]), cost) \
            if "drop_points" in r["ptq"] else "PTQ misses the budget"
        out.append(f"- {r['case']}: PTQ's float tensors cost {'-' if cost is None else f'{cost:.0%}'} of the all-INT8 "
                   f"speed-up; --qat auto {'runs QAT: ' + auto if auto else 'keeps PTQ'}; kept "
                   f"{r['selection']['winner'].upper()}: {r['selection']['why']}")
    return "\n".join(out + ["", "Environment:", "", *environment_lines(env)]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=["full", "tiny"], default="full")
    ap.add_argument("--work", type=Path, default=Path(__file__).parent / "work" / "qat")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime threads for the latency measurement")
    ap.add_argument("--latency-iters", type=int, default=200, help="calls of each model per round (5 rounds)")
    ap.add_argument("--qat-epochs", type=int, default=DEFAULT_EPOCHS, help="QAT epochs, tensorrt case")
    ap.add_argument("--qat-lr", type=float, default=DEFAULT_LR, help="QAT learning rate, tensorrt case")
    ap.add_argument("--fast-qat-epochs", type=int, default=DEFAULT_EPOCHS, help="QAT epochs, cpu (--fast) case")
    ap.add_argument("--fast-qat-lr", type=float, default=DEFAULT_LR, help="QAT learning rate, cpu (--fast) case")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true", help="keep the data and runs of an earlier call in --work")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    rows = []
    for case in cases(args.size, args):
        run = prepare_run(case, args.work, args.seed, args.reuse)
        rows.append(measure(case, run, args.threads, args.latency_iters))
    env = environment.collect(args.threads)
    stem = "qat" if args.size == "full" else f"qat_{args.size}"
    write_json(args.out / f"{stem}.json", {"size": args.size, "environment": env, "results": rows})
    text = markdown(rows, env, args.size)
    write_text(args.out / f"{stem}.md", text)
    print(text)


if __name__ == "__main__":
    main()
