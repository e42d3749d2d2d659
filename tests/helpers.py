"""Helpers for tests: tiny image trees and a tiny trained model, made in seconds on the CPU."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np


def default_sigint() -> None:
    """``preexec_fn`` for a child the test will Ctrl-C: the default SIGINT handler, even when the suite
    runs where SIGINT is ignored (a background job), which a child would otherwise inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def draw_class_image(cls: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A BGR image whose class is easy to learn: a coloured shape per class, on noise."""
    img = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
    colour = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0)][cls % 6]
    c, r = size // 2 + int(rng.integers(-2, 3)), size // 3 + int(rng.integers(-1, 2))
    if cls % 3 == 0:
        cv2.circle(img, (c, c), r, colour, -1)
    elif cls % 3 == 1:
        cv2.rectangle(img, (c - r, c - r), (c + r, c + r), colour, -1)
    else:
        pts = np.array([[c, c - r], [c - r, c + r], [c + r, c + r]], np.int32)
        cv2.fillPoly(img, [pts], colour)
    return img


def make_image_tree(root: Path, classes: list[str], per_class: int, seed: int = 0, size: int = 32,
                    ext: str = ".png") -> Path:
    rng = np.random.default_rng(seed)
    for ci, name in enumerate(classes):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(str(d / f"{i:04d}{ext}"), draw_class_image(ci, rng, size))
    return root



def train_tiny_model(out: Path, data_root: Path, classes: list[str], size: int = 32, steps: int = 60,
                     backbone: str = "mobilenet_v3_small", seed: int = 0) -> Path:
    """Write an edgetl ``model.pt`` trained briefly from random weights on ``data_root/train``.

    Independent of ``edgetl finetune`` so runtime, export and bench tests do not depend on it.
    """
    import torch

    from edgetl import backbones, checkpoint
    from edgetl.preprocess import normalize, prepare_uint8, read_image
    from edgetl.spec import ModelInfo

    torch.manual_seed(seed)
    spec = backbones.get_spec(backbone)
    model = backbones.build_model(spec, len(classes))
    pre = spec.default_preprocess(size)
    paths = [(p, i) for i, c in enumerate(classes) for p in sorted((data_root / "train" / c).iterdir())]
    x = torch.from_numpy(normalize(np.stack([prepare_uint8(read_image(p), pre) for p, _ in paths]), pre))
    y = torch.tensor([i for _, i in paths])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(y), (16,))
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    # Re-estimate BatchNorm statistics over the data: 60 steps are too few for their running averages.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None
        model(x)
    model.eval()
    info = ModelInfo(backbone=backbone, labels=tuple(classes), preprocess=pre)
    return checkpoint.save_model(out, model, info)


GTSRB_CSV_HEADER = "Width,Height,Roi.X1,Roi.Y1,Roi.X2,Roi.Y2,ClassId,Path"


def write_png(path: Path, w: int, h: int, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((h, w, 3), value % 256, np.uint8)
    img[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = (value * 7) % 256
    assert cv2.imwrite(str(path), img)


def make_gtsrb_csv(root: Path, class_ids: Iterable[int] = range(43), tracks: int = 2, views: int = 2,
                   test_per_class: int = 1) -> Path:
    """The Kaggle mirror's tree: Train/<id>/000CC_TTTTT_VVVVV.png + Train.csv, flat Test/ + Test.csv,
    Meta/<id>.png + Meta.csv; commas, CRLF, the real column orders; ROI X2/Y2 inclusive as in GTSRB."""
    class_ids = list(class_ids)
    train = [GTSRB_CSV_HEADER]
    for cid in class_ids:
        for t in range(tracks):
            for v in range(views):
                w, h = 26 + v, 28 + t
                rel = f"Train/{cid}/{cid:05d}_{t:05d}_{v:05d}.png"
                write_png(root / rel, w, h, 5 * cid)
                train.append(f"{w},{h},5,{5 + v},{w - 6},{h - 5},{cid},{rel}")
    (root / "Train.csv").write_text("\r\n".join(train) + "\r\n")
    test = [GTSRB_CSV_HEADER]
    for i, cid in enumerate(c for _ in range(test_per_class) for c in class_ids):
        rel = f"Test/{i:05d}.png"
        write_png(root / rel, 30, 30, 5 * cid)
        test.append(f"30,30,6,6,23,24,{cid},{rel}")
    (root / "Test.csv").write_text("\r\n".join(test) + "\r\n")
    meta = ["Path,ClassId,ShapeId,ColorId,SignId"]
    for cid in class_ids:
        write_png(root / "Meta" / f"{cid}.png", 40, 40, 5 * cid)
        meta.append(f"Meta/{cid}.png,{cid},{cid % 5},{cid % 4},{cid // 10 + 1}.{cid % 10}")
    (root / "Meta.csv").write_text("\r\n".join(meta) + "\r\n")
    return root


def fill_disk(monkeypatch, names: tuple[str, ...] | None = None, after: int = 0) -> None:
    """Make atomic and streaming writes of files named ``names`` (every file when None) fail as on a full
    disk (ENOSPC): their temporary files become links to /dev/full. The first ``after`` writes succeed.

    Needs no root and no small file system, only Linux's /dev/full.
    """
    import os

    import pytest

    import edgetl.camera.outputs as outputs
    import edgetl.fileio as fileio

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full to stand in for a full disk")
    real = fileio.temp_beside
    seen = [0]

    def temp_beside(target, suffix: str = ".tmp") -> Path:
        tmp = real(target, suffix)
        if names is None or Path(target).name in names:
            seen[0] += 1
            if seen[0] > after:
                tmp.unlink()
                tmp.symlink_to("/dev/full")
        return tmp

    monkeypatch.setattr(fileio, "temp_beside", temp_beside)
    monkeypatch.setattr(outputs, "temp_beside", temp_beside)


def file_size_limit(nbytes: int):
    """``preexec_fn`` for a child whose writes past ``nbytes`` per file fail (EFBIG), as a real disk limit
    makes them fail: RLIMIT_FSIZE, with SIGXFSZ ignored so the write returns an error instead of killing."""
    import resource

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return limit


def low_disk(monkeypatch, free: int = 1000) -> None:
    """Make the disk look almost full (``free`` bytes) to the early checks and the recorder."""
    import shutil
    from types import SimpleNamespace

    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=10**12, used=10**12 - free, free=free))


def leftovers(folder: Path) -> list[str]:
    """Temporary files and staging folders edgetl's writers name, found anywhere under ``folder``."""
    import re

    pattern = re.compile(r"^\.(.+\.[a-z0-9_]{8}(\.part)?\.[A-Za-z0-9]+|export-[a-z0-9_]{8})$")
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*") if pattern.match(p.name))
