"""Device check: what a CUDA machine without TensorRT can verify, in one short run (under 8 minutes).

1. The ``cuda``-marked tests (training, the torch runner and onnxruntime's CUDA provider on the GPU).
2. The same short fine-tune on CUDA (AMP, channels_last) and on the CPU: images/s per epoch, wall time and
   val top-1 side by side, from one run.
3. onnxruntime's CUDA provider against its CPU provider on the exported model, interleaved, where
   onnxruntime-gpu is installed (otherwise recorded as absent).

Writes ``device_check.{json,md}`` into ``--out`` like the other benchmarks, with the environment.

    python benchmarks/device_check.py --out benchmarks/results
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edgetl.bench import environment
from edgetl.bench.report import environment_lines
from edgetl.fileio import write_json, write_text

log = logging.getLogger("device_check")
ROOT = Path(__file__).resolve().parent.parent


def cuda_facts() -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available():
        return {"available": False, "torch": torch.__version__, "cuda": torch.version.cuda}
    major, minor = torch.cuda.get_device_capability(0)
    return {"available": True, "torch": torch.__version__, "cuda": torch.version.cuda,
            "gpu": torch.cuda.get_device_name(0), "capability": f"{major}.{minor}",
            "bf16": torch.cuda.is_bf16_supported()}


def run_cuda_tests(timeout: int) -> dict[str, Any]:
    """``pytest -m cuda``: counts from the summary line, and the tail of the output."""
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "-rs", "tests"]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        out, rc = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        out, rc = f"{exc.stdout or ''}\ntimed out after {timeout} s", 124
    last = out.strip().splitlines()[-1] if out.strip() else ""
    counts = {}
    for word in ("passed", "failed", "skipped", "error", "deselected"):
        m = re.search(rf"(\d+) {word}", last)
        counts[word] = int(m.group(1)) if m else 0
    return {"command": " ".join(cmd[1:]), "returncode": rc, "seconds": round(time.perf_counter() - t0, 1),
            **counts, "tail": out.strip().splitlines()[-25:]}


def make_data(work: Path, per_class: int, image_size: int) -> Path:
    """The synthetic road-sign set through the product's own command (so module moves do not matter)."""
    data = work / "signs"
    if not (data / "manifest.json").is_file():
        subprocess.run([sys.executable, "-m", "edgetl", "data", "roadsigns", str(data), "--per-class", str(per_class),
                        "--image-size", str(image_size), "--overwrite"], cwd=ROOT, check=True)
    return data


def finetune_on(device: str, data: Path, run: Path, args) -> dict[str, Any]:
    from edgetl.train.finetune import Callbacks, FinetuneConfig, finetune

    class Records(Callbacks):
        def __init__(self) -> None:
            self.epochs: list[dict] = []

        def on_epoch_end(self, record: dict) -> None:
            self.epochs.append(record)

    rec = Records()
    cfg = FinetuneConfig(data=str(data), out=str(run), backbone=args.backbone, weights=args.weights,
                         epochs=args.epochs, batch_size=args.batch_size, image_size=args.image_size,
                         device=device, workers=2, channels_last="on")
    t0 = time.perf_counter()
    result = finetune(cfg, rec, overwrite=True)
    ips = [e["images_per_s"] for e in rec.epochs if e.get("images_per_s")]
    return {"device": device, "images_per_s": statistics.median(ips) if ips else None,
            "images_per_s_per_epoch": ips, "wall_seconds": round(time.perf_counter() - t0, 1),
            "best_val_top1": result.metrics.get("best_val_top1"), "run": run.name}


def onnxruntime_cuda(run: Path, data: Path, seconds: float) -> dict[str, Any]:
    import onnxruntime as ort

    providers = ort.get_available_providers()
    if "CUDAExecutionProvider" not in providers:
        return {"available": False, "providers": providers,
                "note": "onnxruntime here is a CPU build; install onnxruntime-gpu to measure its CUDA provider"}
    from edgetl.bench import BenchConfig, bench_models
    from edgetl.export import ExportConfig, export_run

    export_run(ExportConfig(run=run, data=data))
    rows = []
    for provider in ("cpu", "cuda"):
        config = BenchConfig(batches=(1, 32), seconds=seconds, options={"providers": [provider]})
        report = bench_models([str(run / "model.onnx")], config).to_dict()
        rows += [{"providers": provider, **r} for r in report["results"]]
    return {"available": True, "providers": providers, "results": rows}


def markdown(result: dict[str, Any]) -> str:
    c, t = result["cuda"], result["tests"]
    out = ["# Device check", "",
           f"GPU: {c.get('gpu', 'none')} (compute {c.get('capability', '-')}), torch {c['torch']}, CUDA {c['cuda']}", "",
           f"`pytest -m cuda`: {t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped, "
           f"{t['error']} errors in {t['seconds']} s (exit {t['returncode']})", ""]
    ft = result.get("finetune") or []
    if ft:
        cpu = next((r for r in ft if r["device"] == "cpu"), None)
        out += ["| fine-tune on | images/s | x CPU | wall s | best val top-1 |", "| --- | --- | --- | --- | --- |"]
        for r in ft:
            ratio = (r["images_per_s"] / cpu["images_per_s"]) if cpu and cpu["images_per_s"] and r["images_per_s"] else None
            out.append(f"| {r['device']} | {r['images_per_s'] or 0:.0f} | {ratio or 0:.1f} | {r['wall_seconds']} | "
                       f"{(r['best_val_top1'] or 0):.1%} |")
        out.append("")
    o = result.get("onnxruntime_cuda") or {}
    if o.get("available"):
        out += ["| onnxruntime providers | batch | p50 ms | img/s |", "| --- | --- | --- | --- |"]
        out += [f"| {r['providers']} | {r['batch']} | {r['p50_ms']:.3f} | {r['throughput']:.0f} |" for r in o["results"]]
    elif o:
        out.append(f"onnxruntime CUDA provider: not measured ({o.get('note')})")
    return "\n".join(out + ["", "Environment:", "", *environment_lines(result["environment"])]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "work" / "device_check")
    ap.add_argument("--backbone", default="mobilenet_v2")
    ap.add_argument("--weights", default=None, help="Default: torchvision's ImageNet weights ('none': random init).")
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=3.0, help="Timing budget per provider and batch.")
    ap.add_argument("--test-timeout", type=int, default=240)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    result: dict[str, Any] = {"benchmark": "device_check", "settings": {k: str(v) for k, v in vars(args).items()},
                              "cuda": cuda_facts()}
    result["tests"] = run_cuda_tests(args.test_timeout)
    if result["cuda"]["available"]:
        data = make_data(args.work, args.per_class, args.image_size)
        result["finetune"] = [finetune_on(d, data, args.work / f"run-{d}", args) for d in ("cuda", "cpu")]
        result["onnxruntime_cuda"] = onnxruntime_cuda(args.work / "run-cuda", data, args.seconds)
    result["environment"] = environment.collect()
    result["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(args.out / "device_check.json", result)
    write_text(args.out / "device_check.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
