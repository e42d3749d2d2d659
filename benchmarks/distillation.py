"""Distillation: a small student with a larger (or larger-input) teacher against the same student alone.

For each data set: fine-tune the teacher, the student alone, and the student with ``--teacher`` at every
(alpha, temperature) of the grid, all with ``edgetl.train.finetune`` for the same epochs; report test top-1,
the gain over the student alone, and the wall time per epoch with the teacher's share. Data sets:

- ``roadsigns``: the synthetic road signs (generated here, as by ``edgetl data roadsigns``);
- ``fashion-mnist``: real product photographs (28x28 greyscale) that Debian's ``dataset-fashion-mnist``
  package ships in /usr/share/datasets/fashion-mnist, written out as an ImageFolder tree, class-balanced
  and seeded.

    python benchmarks/distillation.py --datasets roadsigns,fashion-mnist --out benchmarks/results
"""

from __future__ import annotations

import argparse
import gzip
import logging
import statistics
from pathlib import Path

import cv2
import numpy as np

from edgetl.bench import environment
from edgetl.bench.report import environment_lines
from edgetl.fileio import read_json, write_json, write_text
from edgetl.train.finetune import Callbacks, FinetuneConfig, finetune

log = logging.getLogger("distillation")
FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle_boot")


def _idx(path: Path) -> np.ndarray:
    """An MNIST idx file (gzip) as a numpy array."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fashion_mnist_tree(root: Path, per_class: int, test_per_class: int, seed: int) -> Path:
    """train/ val/ (85/15 of ``per_class`` from the training file) and test/ (from the test file) as PNGs."""
    if (root / "labels.txt").is_file():
        return root
    if not (FASHION / "train-images-idx3-ubyte.gz").is_file():
        raise SystemExit(f"Fashion-MNIST is not in {FASHION}: apt-get install dataset-fashion-mnist")
    rng = np.random.default_rng(seed)
    sources = {"train": ("train", per_class), "test": ("t10k", test_per_class)}
    for split, (prefix, n) in sources.items():
        images = _idx(FASHION / f"{prefix}-images-idx3-ubyte.gz")
        labels = _idx(FASHION / f"{prefix}-labels-idx1-ubyte.gz")
        for c, name in enumerate(FASHION_CLASSES):
            pick = rng.permutation(np.flatnonzero(labels == c))[:n]
            n_val = round(0.15 * n) if split == "train" else 0
            for j, i in enumerate(pick):
                sub = "val" if j < n_val else split
                out = root / sub / name / f"{prefix}_{i:05d}.png"
                out.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(out), images[i])
    write_text(root / "labels.txt", "\n".join(FASHION_CLASSES) + "\n")
    return root


def roadsigns_tree(root: Path, per_class: int, seed: int) -> Path:
    from edgetl.synth.roadsigns import RoadSignConfig, generate_roadsigns

    if not (root / "labels.txt").is_file():
        generate_roadsigns(root, RoadSignConfig(per_class=per_class, seed=seed, workers=1))
    return root


class Epochs(Callbacks):
    def __init__(self) -> None:
        self.records: list[dict] = []

    def on_epoch_end(self, record: dict) -> None:
        self.records.append(record)


def _done(run: Path, settings: dict) -> bool:
    """``run`` already holds a complete fine-tune with these settings."""
    if not (run / "metrics.json").is_file() or not read_json(run / "metrics.json").get("complete"):
        return False
    saved = read_json(run / "config.json")
    return all(saved.get(k) == v for k, v in settings.items())


def train(data: Path, run: Path, args, **kw) -> dict:
    """One fine-tune (reused if ``run`` already holds it complete); test top-1 and epoch timings."""
    metrics = run / "metrics.json"
    settings = dict(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, **kw)
    if not _done(run, settings):
        finetune(FinetuneConfig(data=str(data), out=str(run), workers=1, device="cpu", **settings), Epochs(),
                 overwrite=True)
    m = read_json(metrics)
    epochs = m["epochs"]
    row = {"run": str(run), "test_top1": m.get("test_top1"), "epochs": len(epochs),
           "epoch_seconds": statistics.median(e["seconds"] for e in epochs)}
    if "distillation" in m:
        d = m["distillation"]
        row.update(alpha=d["alpha"], temperature=d["temperature"], teacher_top1=d["teacher_top1"],
                   teacher_seconds=statistics.median(e["teacher_seconds"] for e in epochs))
    return row


def run_dataset(name: str, data: Path, args) -> list[dict]:
    work = args.work / name
    teacher_kw = dict(backbone=args.teacher_backbone, image_size=args.teacher_size, lr=args.teacher_lr)
    student_kw = dict(backbone=args.student_backbone, image_size=args.student_size)
    teacher_run = args.teacher_run or work / "teacher"
    if args.teacher_run:  # an existing run, e.g. one teacher for students of several seeds
        m = read_json(teacher_run / "metrics.json")
        saved = read_json(teacher_run / "config.json")
        teacher = {"run": str(teacher_run), "test_top1": m.get("test_top1"), "epochs": len(m["epochs"]),
                   "epoch_seconds": statistics.median(e["seconds"] for e in m["epochs"]),
                   "backbone": saved["backbone"], "image_size": saved["image_size"]}
    else:
        teacher = {**train(data, teacher_run, args, **teacher_kw), **teacher_kw}
    teacher["model"] = "teacher"
    alone = {**train(data, work / "student_alone", args, **student_kw), "model": "student alone", **student_kw}
    rows = [teacher, alone]
    for alpha, temp in args.grid:
        r = train(data, work / f"student_a{alpha:g}_t{temp:g}", args, teacher=str(teacher_run),
                  distill_alpha=alpha, distill_temperature=temp, **student_kw)
        rows.append({**r, "model": "student + teacher", **student_kw})
    for r in rows:
        r["dataset"] = name
        r["gain_points"] = 100 * (r["test_top1"] - alone["test_top1"]) if r["model"] == "student + teacher" else None
    return rows


def markdown(rows: list[dict], env: dict, args) -> str:
    t = next(r for r in rows if r["model"] == "teacher")
    out = [f"Distillation: {args.student_backbone} at {args.student_size} px, alone and with a "
           f"{t['backbone']} teacher at {t['image_size']} px; {args.epochs} epochs each, batch "
           f"{args.batch_size}, seed {args.seed}, one run each. Seconds are the median per epoch (training steps).", "",
           "| data | model | alpha | T | test top-1 | gain (points) | s/epoch | teacher s/epoch |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        gain = f"{r['gain_points']:+.2f}" if r["gain_points"] is not None else ""
        out.append(f"| {r['dataset']} | {r['model']} ({r['backbone']}, {r['image_size']} px) | {r.get('alpha', '')} | "
                   f"{r.get('temperature', '')} | {r['test_top1']:.2%} | {gain} | {r['epoch_seconds']:.1f} | "
                   f"{r.get('teacher_seconds', '')} |")
    return "\n".join(out + ["", "Environment:", "", *environment_lines(env), "", args.note]) + "\n"


def _grid(text: str) -> list[tuple[float, float]]:
    """'0.5:1,0.5:4' -> [(0.5, 1.0), (0.5, 4.0)] (alpha:temperature pairs)."""
    return [tuple(float(v) for v in pair.split(":")) for pair in text.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="roadsigns,fashion-mnist")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/work/distillation"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--per-class", type=int, default=250,
                    help="Road signs per class; Fashion-MNIST train+val per class.")
    ap.add_argument("--test-per-class", type=int, default=100, help="Fashion-MNIST test images per class.")
    ap.add_argument("--student-backbone", default="mobilenet_v2")
    ap.add_argument("--student-size", type=int, default=64)
    ap.add_argument("--teacher-backbone", default="mobilenet_v2")
    ap.add_argument("--teacher-size", type=int, default=128)
    ap.add_argument("--teacher-lr", type=float, default=2e-3, help="The teacher's head learning rate.")
    ap.add_argument("--teacher-run", type=Path, default=None,
                    help="Use this finished run as the teacher instead of training one (one data set only).")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--grid", type=_grid, default=_grid("0.5:1,0.5:2,0.5:4,0.9:4"),
                    help="alpha:temperature pairs to train the student with.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    makers = {"roadsigns": lambda root: roadsigns_tree(root, args.per_class, args.seed),
              "fashion-mnist": lambda root: fashion_mnist_tree(root, args.per_class, args.test_per_class, args.seed)}
    rows = []
    for name in args.datasets.split(","):
        rows += run_dataset(name, makers[name](args.work / f"data-{name}"), args)
    env = environment.collect()
    result = {"benchmark": "distillation", "settings": {k: str(v) for k, v in vars(args).items()},
              "environment": env, "results": rows}
    write_json(args.out / "distillation.json", result)
    write_text(args.out / "distillation.md", markdown(rows, env, args))
    print(markdown(rows, env, args))


if __name__ == "__main__":
    main()
