"""INT8 for ``--target cpu`` on this CPU: every candidate form and calibration method, measured in one run.

Usage: python benchmarks/export_int8.py RUN [--threads 1] [--out benchmarks/results]

RUN is a fine-tuned run folder (``edgetl finetune``; MobileNetV2 on the synthetic road signs for the
issue's targets). The script runs ``edgetl export RUN --int8 --target cpu`` through the library (the
product's own result), then quantizes the same FP32 model with the same calibration set in every
candidate form (QDQ/QOperator x U8S8/U8S8+reduce_range/S8S8/U8U8) and method, and times all of them
against FP32 in interleaved rounds at batch 1. Writes export_int8.json and export_int8.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgetl.data.images import load_images
from edgetl.export.evaluate import accuracy, measure_latency, predict_logits, reference_logits
from edgetl.export.pipeline import ExportConfig, calibration_set, export_run, open_data
from edgetl.export.quantize import (METHODS, TargetPreset, calibration_reader, get_target, prepare_for_quantization,
                                    quantize_int8)
from edgetl.fileio import write_json, write_text
from edgetl.runtime.onnxruntime_runner import OnnxRuntimeRunner, read_onnx_info

TARGET_DROP, TARGET_SPEEDUP = 0.3, 1.5

FORMS = {
    "qdq_u8s8": dict(quant_format="qdq", activation_type="uint8", activation_symmetric=False),
    "qdq_u8s8_reduce_range": dict(quant_format="qdq", activation_type="uint8", activation_symmetric=False, reduce_range=True),
    "qdq_s8s8": dict(quant_format="qdq"),
    "qdq_u8u8": dict(quant_format="qdq", activation_type="uint8", weight_type="uint8", activation_symmetric=False,
                     weight_symmetric=False),
    "qop_u8s8": dict(quant_format="qoperator", activation_type="uint8", activation_symmetric=False),
    "qop_u8s8_reduce_range": dict(quant_format="qoperator", activation_type="uint8", activation_symmetric=False,
                                  reduce_range=True),
    "qop_s8s8": dict(quant_format="qoperator"),
    "qop_u8u8": dict(quant_format="qoperator", activation_type="uint8", weight_type="uint8",
                     activation_symmetric=False, weight_symmetric=False),
}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return sorted(f for f in flags if f.startswith(("avx", "amx")) or "vnni" in f)


def top1(path: Path, images, classes, reference: bool = False) -> tuple[float, np.ndarray]:
    if reference:
        logits = reference_logits(path, images)
    else:
        with OnnxRuntimeRunner(path) as r:
            logits = predict_logits(r, images)
    return accuracy(logits, images.labels, classes).top1, logits.argmax(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    product = export_run(ExportConfig(run=args.run, int8=True, target="cpu", threads=args.threads)).report
    info = read_onnx_info(args.run / "model.onnx")
    cfg = ExportConfig(run=args.run, int8=True)
    data = open_data(cfg)
    calib = calibration_set(cfg, info, data)
    sets = {s: load_images(data.splits[s], info.preprocess) for s in ("val", "test") if data.splits.get(s)}
    fp32 = args.run / "model.onnx"
    ref = {s: top1(fp32, imgs, info.labels) for s, imgs in sets.items()}
    rows: dict[str, dict] = {"fp32": {s: ref[s][0] for s in sets}}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        prepared = prepare_for_quantization(fp32, d / "prepared.onnx")
        calib_images = load_images(calib.samples, info.preprocess)
        models = {"fp32": fp32}
        variants = [(f, "minmax") for f in FORMS] + [("qdq_u8s8_reduce_range", m) for m in METHODS if m != "minmax"]
        variants += [("tensorrt", m) for m in METHODS]
        variants += [("qdq_s8s8", "minmax@reference")]
        for form, method in variants:
            name = f"{form}/{method}"
            reference = form == "tensorrt" or method.endswith("@reference")
            method = method.split("@")[0]
            preset = get_target("tensorrt") if form == "tensorrt" else TargetPreset(name=form, **FORMS[form])
            reader = calibration_reader(calib_images, method)
            out = d / (name.replace("/", "_").replace("@", "_") + ".onnx")
            quantize_int8(prepared, out, reader, preset, method)
            row = {"form": form, "method": method, "preset": preset.to_dict(),
                   "evaluated_with": "Q/DQ as written (optimisations off)" if reference else "onnxruntime CPU kernels"}
            for s, imgs in sets.items():
                acc, pred = top1(out, imgs, info.labels, reference)
                row[s] = acc
                row[f"{s}_drop_points"] = round((ref[s][0] - acc) * 100, 3)
                row[f"{s}_agreement"] = float((pred == ref[s][1]).mean())
            rows[name] = row
            if method == "minmax" and not reference:
                models[name] = out
            print(f"{name:34s} " + "  ".join(f"{s} {row[s]:.4f} ({row[s + '_drop_points']:+.2f})" for s in sets), flush=True)
        one = next(sets["val"].batches(1))
        lat = measure_latency(models, one, threads=args.threads, iters=100, rounds=7)
    for name, ms in lat.items():
        rows[name]["latency_ms"] = round(ms, 4)
        rows[name]["speedup"] = round(lat["fp32"] / ms, 3)
    result = {
        "machine": {"cpu": cpu_name(), "flags": cpu_flags(), "cores": os.cpu_count(), "python": sys.version.split()[0],
                    "onnxruntime": __import__("onnxruntime").__version__, "threads": args.threads},
        "model": {"backbone": info.backbone, "classes": info.num_classes, "input": info.preprocess.size},
        "data": {s: len(v) for s, v in sets.items()} | {"calibration": len(calib.samples)},
        "targets": {"max_drop_points": TARGET_DROP, "min_speedup": TARGET_SPEEDUP},
        "edgetl_export": {k: product[k] for k in ("fp32", "int8", "calibration")},
        "variants": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "export_int8.json", result)
    write_text(args.out / "export_int8.md", markdown(result))
    print(markdown(result))


def markdown(r: dict) -> str:
    p, m = r["edgetl_export"], r["machine"]
    q = p["int8"]
    ok_drop, ok_speed = q["drop_points"] <= TARGET_DROP, (q["speedup"] or 0) >= TARGET_SPEEDUP
    lines = [
        "# INT8 for `--target cpu`: measured in one run",
        "",
        f"{m['cpu']} ({', '.join(m['flags']) or 'no AVX flags'}), {m['cores']} cores shared with other work, "
        f"onnxruntime {m['onnxruntime']}, {m['threads']} thread(s), batch 1. Model: {r['model']['backbone']}, "
        f"{r['model']['classes']} classes, {r['model']['input']}x{r['model']['input']}; images: "
        + ", ".join(f"{k} {v}" for k, v in r["data"].items()) + ".",
        "",
        "## What `edgetl export RUN --int8 --target cpu` produced",
        "",
        f"- FP32 top-1 {p['fp32']['top1']:.4f}, INT8 top-1 {q['top1']:.4f}: drop {q['drop_points']:.2f} points "
        f"(target <= {TARGET_DROP}: {'met' if ok_drop else 'NOT met'}), agreement {q['agreement']:.4f}",
        f"- latency FP32 {p['fp32']['latency_ms']:.3f} ms, INT8 {q['latency_ms']:.3f} ms: {q['speedup']:.2f}x "
        f"(target >= {TARGET_SPEEDUP}x: {'met' if ok_speed else 'NOT met'})",
        f"- method {q['method']}, layers kept in float: {len(q['float_nodes'])}, calibration images "
        f"{p['calibration']['images']}",
        "",
        "## Every candidate, same FP32 model, same calibration set",
        "",
        "Rows marked `tensorrt` or `@reference` are judged with Q/DQ executed as written (onnxruntime with graph "
        "optimisations off, the arithmetic TensorRT implements); the others with onnxruntime's optimised CPU "
        "kernels, which is what runs on this CPU. Latency only for forms that run on this CPU.",
        "",
        "| form / method | val top-1 | val drop (pts) | test top-1 | test drop (pts) | agreement (val) | latency ms | speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in r["variants"].items():
        def g(k, f="{:.4f}"):
            return f.format(row[k]) if row.get(k) is not None else "-"
        lines.append(f"| {name} | {g('val')} | {g('val_drop_points', '{:+.2f}')} | {g('test')} | "
                     f"{g('test_drop_points', '{:+.2f}')} | {g('val_agreement')} | {g('latency_ms', '{:.3f}')} | "
                     f"{g('speedup', '{:.2f}x')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
