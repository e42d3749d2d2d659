"""How hard is the synthetic road-sign set? A trivial baseline next to a fine-tuned model.

The baseline is logistic regression on raw pixels (scikit-learn, images resized to --pixels square,
standardised), trained on train/ and scored on test/ of a set made by ``edgetl data roadsigns``. With
--run, the fine-tuned model's test top-1 from RUN/metrics.json is put in the same table.

    edgetl data roadsigns data/roadsigns
    edgetl finetune data/roadsigns -o runs/roadsigns --epochs 8 --image-size 64 --freeze auto
    python benchmarks/roadsigns_baseline.py data/roadsigns --run runs/roadsigns --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import cv2
import numpy as np

from edgetl.data.layouts import load_dataset
from edgetl.fileio import read_json, write_json, write_text
from edgetl.preprocess import read_image


def load_pixels(samples, size: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([cv2.resize(read_image(s.path), (size, size), interpolation=cv2.INTER_AREA).reshape(-1)
                  for s in samples]).astype(np.float32) / 255.0
    return x, np.array([s.label for s in samples])


def baseline(data_root: Path, size: int, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_dataset(data_root)
    xtr, ytr = load_pixels(data.splits["train"], size)
    xte, yte = load_pixels(data.splits["test"], size)
    start = time.perf_counter()
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000, random_state=seed))
    clf.fit(xtr, ytr)
    pred = clf.predict(xte)
    per_class = {c: float(np.mean(pred[yte == i] == i)) for i, c in enumerate(data.classes) if np.any(yte == i)}
    return {"model": f"logistic regression on raw {size}x{size} pixels", "test_top1": float(np.mean(pred == yte)),
            "train_top1": float(clf.score(xtr, ytr)), "train_images": len(ytr), "test_images": len(yte),
            "fit_seconds": round(time.perf_counter() - start, 1), "classes": len(data.classes),
            "worst_classes": dict(sorted(per_class.items(), key=lambda kv: kv[1])[:5])}


def finetuned(run: Path) -> dict:
    m = read_json(run / "metrics.json")
    cfg = read_json(run / "config.json") if (run / "config.json").is_file() else {}
    flags = " ".join(f"--{k.replace('_', '-')} {cfg[k]}" for k in ("epochs", "image_size", "freeze", "lr",
                                                                     "backbone_lr_scale") if k in cfg)
    return {"model": f"fine-tuned {cfg.get('backbone', 'model')} ({flags})", "test_top1": m.get("test_top1"),
            "best_val_top1": m.get("best_val_top1"), "best_epoch": m.get("best_epoch"),
            "train_seconds": round(sum(e.get("seconds", 0) for e in m.get("epochs", [])), 1)}


def markdown(res: dict) -> str:
    d = res["data"]
    lines = [
        "# Synthetic road signs: fine-tuned model vs a trivial baseline",
        "",
        f"Data: `edgetl data roadsigns` (synthetic), seed {d.get('seed')}, {len(d.get('classes', []))} classes, "
        f"{d['splits']['train']['images']} train / {d['splits']['test']['images']} test images, "
        f"content sha256 `{str(d.get('content_sha256'))[:16]}...`.",
        "",
        "| model | test top-1 |",
        "|---|---|",
    ]
    for r in res["results"]:
        top1 = r["test_top1"]
        lines.append(f"| {r['model']} | {'n/a' if top1 is None else f'{100 * top1:.1f}%'} |")
    b = res["results"][0]
    lines += ["", f"Baseline train top-1 {100 * b['train_top1']:.1f}% (it memorises, it does not generalise); "
              f"hardest classes for it: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in b["worst_classes"].items()),
              "", f"Machine: {platform.machine()}, {platform.python_version()}, numpy {np.__version__}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="a folder written by 'edgetl data roadsigns'")
    ap.add_argument("--run", type=Path, help="an 'edgetl finetune' run folder on the same data (metrics.json)")
    ap.add_argument("--pixels", type=int, default=32, help="baseline input side in pixels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    res = {"data": json.loads((args.data / "manifest.json").read_text()), "results": [baseline(args.data, args.pixels,
                                                                                              args.seed)]}
    res["data"].pop("description", None)
    if args.run:
        res["results"].append(finetuned(args.run))
    write_json(args.out / "roadsigns_baseline.json", res)
    write_text(args.out / "roadsigns_baseline.md", markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
