"""INT8 for ``--target cpu`` on this CPU: the form edgetl chooses, every candidate form and method, in one run.

Usage: python benchmarks/export_int8.py RUN [--threads 1] [--out benchmarks/results]

RUN is a fine-tuned run folder (``edgetl finetune``; MobileNetV2 on the synthetic road signs for the
issue's targets). The script runs ``edgetl export RUN --int8 --target cpu --rechoose`` through the library
(the product's own choice of form for this CPU, measured afresh), then quantizes the same FP32 model with
the same calibration set in the registered CPU forms (cpu-avx2, cpu-vnni) and the other forms tried
(QDQ/QOperator x U8S8/S8S8/U8U8, per-tensor weights) and methods, and times FP32, the product's model and
every form in the same interleaved rounds at batch 1. The product's model and the former preset
(cpu-avx2) are also timed as a pair on their own: among many models, whichever runs right after FP32 finds
its caches emptied (the order is shuffled each round, so that cost is spread, not removed), which a pair
without FP32 does not suffer.

Results are named by the CPU's class (see edgetl.export.quantize.CPU_CLASSES), so a run on a VNNI CPU
writes export_int8_vnni.{json,md} beside the AVX2 CPU's export_int8_avx2.{json,md} instead of replacing
it. Every result records the CPU's model and flags and the full environment.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from edgetl.bench.environment import collect
from edgetl.data.images import load_images
from edgetl.export.evaluate import accuracy, measure_latency, predict_logits, reference_logits
from edgetl.export.pipeline import ExportConfig, calibration_set, export_run, open_data
from edgetl.export.quantize import (CPU_CLASSES, METHODS, TARGETS, TargetPreset, calibration_reader,
                                    cpu_features, get_target, prepare_for_quantization, quantize_int8)
from edgetl.fileio import write_json, write_text
from edgetl.runtime.onnxruntime_runner import OnnxRuntimeRunner, read_onnx_info

TARGET_DROP, TARGET_SPEEDUP = 0.3, 1.5
TODAY = "cpu-avx2"  # the preset --target cpu was before it chose per CPU
PRODUCT = "edgetl --target cpu"

# Forms besides the registered targets, to show why they are not candidates.
FORMS = {
    "qdq_u8s8_per_tensor": dict(quant_format="qdq", activation_type="uint8", activation_symmetric=False,
                                per_channel=False),
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


def preset_for(form: str) -> TargetPreset:
    return TargetPreset(name=form, **FORMS[form]) if form in FORMS else get_target(form)


def top1(path: Path, images, classes, reference: bool = False) -> tuple[float, np.ndarray]:
    if reference:
        logits = reference_logits(path, images)
    else:
        with OnnxRuntimeRunner(path) as r:
            logits = predict_logits(r, images)
    return accuracy(logits, images.labels, classes).top1, logits.argmax(1)


def judge(row: dict, path: Path, sets: dict, ref: dict, classes, reference: bool) -> dict:
    """Top-1, drop (points) and agreement with FP32 of the model at ``path`` on every split, into ``row``."""
    for s, imgs in sets.items():
        acc, pred = top1(path, imgs, classes, reference)
        row[s] = acc
        row[f"{s}_drop_points"] = (ref[s][0] - acc) * 100
        row[f"{s}_agreement"] = float((pred == ref[s][1]).mean())
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    cpu = cpu_features()
    product = export_run(ExportConfig(run=args.run, int8=True, target="cpu", threads=args.threads,
                                      rechoose=True)).report
    info = read_onnx_info(args.run / "model.onnx")
    cfg = ExportConfig(run=args.run, int8=True)
    data = open_data(cfg)
    calib = calibration_set(cfg, info, data)
    sets = {s: load_images(data.splits[s], info.preprocess) for s in ("val", "test") if data.splits.get(s)}
    fp32 = args.run / "model.onnx"
    ref = {s: top1(fp32, imgs, info.labels) for s, imgs in sets.items()}
    rows: dict[str, dict] = {"fp32": {s: ref[s][0] for s in sets}}
    q = product["int8"]
    rows[PRODUCT] = judge({"form": q["form"], "method": q["method"], "float_nodes": len(q["float_nodes"]),
                           "evaluated_with": "onnxruntime CPU kernels"},
                          args.run / "model.int8.onnx", sets, ref, info.labels, False)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        prepared = prepare_for_quantization(fp32, d / "prepared.onnx")
        calib_images = load_images(calib.samples, info.preprocess)
        models = {"fp32": fp32, PRODUCT: args.run / "model.int8.onnx"}
        cpu_forms = [n for n, t in TARGETS.items() if t.cpu_classes and not t.per_cpu]  # cpu-avx2, cpu-vnni
        variants = [(f, "minmax") for f in cpu_forms + list(FORMS)]
        variants += [(q["form"], m) for m in METHODS if m != "minmax"]
        variants += [("tensorrt", m) for m in METHODS] + [("qdq_s8s8", "minmax@reference")]
        for form, method in variants:
            name = f"{form}/{method}"
            reference = form == "tensorrt" or method.endswith("@reference")
            method = method.split("@")[0]
            preset = preset_for(form)
            out = d / (name.replace("/", "_").replace("@", "_") + ".onnx")
            quantize_int8(prepared, out, calibration_reader(calib_images, method), preset, method)
            row = {"form": form, "method": method, "preset": preset.to_dict(),
                   "evaluated_with": "Q/DQ as written (optimisations off)" if reference else "onnxruntime CPU kernels"}
            rows[name] = judge(row, out, sets, ref, info.labels, reference)
            if method == "minmax" and not reference:
                models[name] = out
            print(f"{name:34s} " + "  ".join(f"{s} {row[s]:.4f} ({row[s + '_drop_points']:+.2f})" for s in sets),
                  flush=True)
        one = next(sets["val"].batches(1))
        lat = measure_latency(models, one, threads=args.threads, iters=100, rounds=7)
        pair = measure_latency({PRODUCT: models[PRODUCT], TODAY: models[f"{TODAY}/minmax"]}, one,
                               threads=args.threads, iters=200, rounds=7)
    for name, ms in lat.items():
        rows[name]["latency_ms"] = ms
        rows[name]["speedup"] = lat["fp32"] / ms
    env = collect(args.threads)
    result = {
        "machine": {"cpu": cpu.model, "flags": list(cpu.flags), "class": cpu.int8_class,
                    "cores": env["cpu"]["logical_cpus"], "python": env["versions"]["python"],
                    "onnxruntime": env["versions"]["onnxruntime"], "threads": args.threads},
        "environment": env,
        "model": {"backbone": info.backbone, "classes": info.num_classes, "input": info.preprocess.size},
        "data": {s: len(v) for s, v in sets.items()} | {"calibration": len(calib.samples)},
        "targets": {"max_drop_points": TARGET_DROP, "min_speedup": TARGET_SPEEDUP},
        "edgetl_export": {k: product[k] for k in ("fp32", "int8", "calibration")},
        "side_by_side_ms": pair,
        "variants": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"export_int8_{cpu.int8_class}"
    write_json(args.out / f"{stem}.json", result)
    write_text(args.out / f"{stem}.md", markdown(result))
    print(markdown(result))


def verdict(r: dict) -> list[str]:
    """The chosen form against the former preset, from the same run, timed as a pair."""
    rows, pair = r["variants"], r["side_by_side_ms"]
    chosen, today = rows[PRODUCT], rows[f"{TODAY}/minmax"]
    drops = {s: (chosen[f"{s}_drop_points"], today[f"{s}_drop_points"]) for s in ("val", "test") if s in chosen}
    return [
        f"## `--target cpu` ({chosen['form']}) against the former preset ({TODAY}), same run",
        "",
        f"- speed: {pair[TODAY] / pair[PRODUCT]:.2f}x the former preset's (p50 {pair[PRODUCT]:.3f} ms vs "
        f"{pair[TODAY]:.3f} ms, the two timed alone in interleaved rounds)",
        "- accuracy loss vs FP32: " + "; ".join(f"{s} {a:+.2f} vs {b:+.2f} points" for s, (a, b) in drops.items()),
        f"- {chosen['float_nodes']} layer(s) kept in float by the accuracy gate",
        "",
    ]


def markdown(r: dict) -> str:
    p, m = r["edgetl_export"], r["machine"]
    q = p["int8"]
    choice = q.get("cpu_form") or {}
    ok_drop, ok_speed = q["drop_points"] <= TARGET_DROP, (q["speedup"] or 0) >= TARGET_SPEEDUP
    lines = [
        f"# INT8 for `--target cpu` on a {m['class']} CPU: measured in one run",
        "",
        f"{m['cpu']} ({', '.join(m['flags']) or 'no AVX flags'}; class {m['class']}: {CPU_CLASSES[m['class']]}), "
        f"{m['cores']} cores shared with other work, onnxruntime {m['onnxruntime']}, {m['threads']} thread(s), "
        f"batch 1. Model: {r['model']['backbone']}, {r['model']['classes']} classes, "
        f"{r['model']['input']}x{r['model']['input']}; images: " + ", ".join(f"{k} {v}" for k, v in r["data"].items())
        + ".",
        "",
        "## What `edgetl export RUN --int8 --target cpu` produced",
        "",
        f"- form {q['form']}: {choice.get('reason', '-')}",
        f"- FP32 top-1 {p['fp32']['top1']:.4f}, INT8 top-1 {q['top1']:.4f}: drop {q['drop_points']:.2f} points "
        f"(target <= {TARGET_DROP}: {'met' if ok_drop else 'NOT met'}), agreement {q['agreement']:.4f}",
        f"- latency FP32 {p['fp32']['latency_ms']:.3f} ms, INT8 {q['latency_ms']:.3f} ms: {q['speedup']:.2f}x "
        f"(target >= {TARGET_SPEEDUP}x: {'met' if ok_speed else 'NOT met'})",
        f"- method {q['method']}, layers kept in float: {len(q['float_nodes'])}, calibration images "
        f"{p['calibration']['images']}",
        "",
    ]
    if choice.get("measured"):
        lines += ["Candidates measured by the export itself (val split, this CPU's kernels):", "",
                  "| form | drop (points) | agreement | logit RMS error vs FP32 | latency ms |", "|---|---|---|---|---|"]
        lines += [f"| {c['form']} | {c['drop_points']:+.2f} | {c['agreement']:.4f} | {c['logit_rmse']:.4f} | "
                  f"{'-' if c['latency_ms'] is None else format(c['latency_ms'], '.3f')} |" for c in choice["measured"]]
        lines.append("")
    lines += verdict(r)
    lines += [
        "## Every form, same FP32 model, same calibration set, timed in the same rounds",
        "",
        "Rows marked `tensorrt` or `@reference` are judged with Q/DQ executed as written (onnxruntime with graph "
        "optimisations off, the arithmetic TensorRT implements); the others with onnxruntime's optimised CPU "
        "kernels, which is what runs on this CPU. Latency only for forms that run on this CPU. All of them run "
        "in the same rounds, in an order shuffled each round; whichever runs right after FP32 finds its caches "
        "emptied: compare speed-ups of a few percent with the pair above, not here.",
        "",
        "| form / method | val top-1 | val drop (pts) | test top-1 | test drop (pts) | agreement (val) | latency ms | speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in r["variants"].items():
        def g(k, f="{:.4f}"):
            return f.format(row[k]) if row.get(k) is not None else "-"
        label = f"{name} (chose {row['form']})" if name == PRODUCT else name
        lines.append(f"| {label} | {g('val')} | {g('val_drop_points', '{:+.2f}')} | {g('test')} | "
                     f"{g('test_drop_points', '{:+.2f}')} | {g('val_agreement')} | {g('latency_ms', '{:.3f}')} | "
                     f"{g('speedup', '{:.2f}x')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
