"""The synthetic road-sign showcase data set.

These images are synthetic: OpenCV drawings of European signs composited onto real photographs, then
degraded like camera crops. They stand in for GTSRB where no real traffic-sign images are at hand.

Images come in tracks like GTSRB: the views of one physical sign, approaching, all in one split, so
nothing leaks between train, val, test and calib. Every image's randomness is derived from
(seed, class, track, view), so a seed gives byte-identical files whatever the number of workers.

A ``background`` class (``edgetl.synth.background``) holds crops that are not signs, framed the way
the camera loop frames a sign proposal: what a model needs to say "no sign here". Its tracks are
scenes, each split like a sign's track.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from edgetl import __version__
from edgetl.data import gtsrb
from edgetl.errors import DataError
from edgetl.fileio import sha256_bytes, write_json, write_text
from edgetl.synth.background import BACKGROUND, KINDS, PART_MAX, render_background
from edgetl.synth.draw import SIGN_CLASSES, render_sign
from edgetl.synth.scene import (DATA_SHARE, NOT_SCENERY, Camera, apply_camera, background_crop, backgrounds,
                                draw_post, occlude, paste_sign, random_region, sign_quad)

log = logging.getLogger(__name__)

# The generator's name in manifest.json; GENERATOR_VERSION marks changes to the images it writes.
GENERATOR_NAME = "edgetl.synth.roadsigns"
GENERATOR_VERSION = "3"
SPLIT_FRACTIONS = {"train": 0.70, "val": 0.10, "test": 0.15, "calib": 0.05}
FORMATS = ("imagefolder", "gtsrb")
SIGN_SIZE = 160  # pixels of the drawn sign before it is warped into a view
BACKGROUND_CID = 1000  # the background class's place in the randomness (sign classes are 0..25)
# background images per image of a sign class, measured with the demo's model: 1x and 2x reject 99.5% of
# false sign proposals on the drive-by videos, 2x also most held-out background crops, 4x loses sign crops
# (benchmarks/results/background_size.md)
BACKGROUND_PER_CLASS = 2.0


@dataclass(frozen=True)
class RoadSignConfig:
    """What to generate. ``image_size`` is (min, max) output side; equal values give one size."""

    per_class: int = 250  # measured: 150 -> 96.0%, 250 -> 97.5% test top-1 for a fine-tuned MobileNetV2
    image_size: tuple[int, int] = (64, 64)
    seed: int = 0
    classes: tuple[str, ...] | None = None  # None = all
    views_per_track: int = 3  # few views, many tracks: more distinct signs per image count
    format: str = "imagefolder"
    workers: int | None = None  # None = up to 2 processes
    background: int | None = None  # background images in all; None = BACKGROUND_PER_CLASS x per_class

    def class_names(self) -> tuple[str, ...]:
        """The sign classes."""
        return self.classes or SIGN_CLASSES

    def background_images(self) -> int:
        if self.background is None:
            return int(round(BACKGROUND_PER_CLASS * self.per_class))
        return self.background

    def num_images(self) -> int:
        """How many images the set holds: the signs, then the background class."""
        return self.per_class * len(self.class_names()) + self.background_images()

    def labels(self) -> tuple[str, ...]:
        """Every class written, in label order: the signs, then ``background`` unless it is left out."""
        return self.class_names() + ((BACKGROUND,) if self.background_images() > 0 else ())


@dataclass(frozen=True)
class Track:
    """One physical sign seen ``views`` times, all in ``split``."""

    cid: int  # index in SIGN_CLASSES, so a class subset draws the same signs; BACKGROUND_CID for background
    label: int  # index in the generated class list (RoadSignConfig.labels)
    track: int
    views: int
    split: str


def validate(cfg: RoadSignConfig) -> None:
    """Raise a one-line DataError for a config that cannot produce a usable data set."""
    unknown = [c for c in cfg.class_names() if c not in SIGN_CLASSES]
    if unknown:
        raise DataError(f"unknown road-sign class {unknown[0]!r}; known: {', '.join(SIGN_CLASSES)}")
    if len(set(cfg.class_names())) != len(cfg.class_names()):
        raise DataError("--classes lists a class twice")
    if cfg.format not in FORMATS:
        raise DataError(f"format {cfg.format!r} is not one of {', '.join(FORMATS)}")
    lo, hi = cfg.image_size
    if not 16 <= lo <= hi <= 512:
        raise DataError(f"image size {lo}-{hi} is out of range: use sizes between 16 and 512")
    if cfg.views_per_track < 1:
        raise DataError("views per track must be at least 1")
    tracks = math.ceil(cfg.per_class / cfg.views_per_track)
    need = len(SPLIT_FRACTIONS) * cfg.views_per_track
    if cfg.per_class < 1 or tracks < len(SPLIT_FRACTIONS):
        raise DataError(f"--per-class {cfg.per_class} gives {tracks} track(s) of {cfg.views_per_track} views, "
                        f"too few to fill train/val/test/calib: use --per-class {need} or more")
    bg = cfg.background_images()
    if bg < 0 or 0 < math.ceil(bg / cfg.views_per_track) < len(SPLIT_FRACTIONS):
        raise DataError(f"--background {bg} is too few to fill train/val/test/calib: use 0 (none) or {need} or more")


def plan_tracks(cfg: RoadSignConfig) -> list[Track]:
    """Every track of every class (background last) with its split; deterministic for the seed."""
    out = []
    for label, name in enumerate(cfg.class_names()):
        out += _class_tracks(cfg, SIGN_CLASSES.index(name), label, cfg.per_class)
    if cfg.background_images():
        out += _class_tracks(cfg, BACKGROUND_CID, len(cfg.class_names()), cfg.background_images())
    return out


def _class_tracks(cfg: RoadSignConfig, cid: int, label: int, images: int) -> list[Track]:
    n = math.ceil(images / cfg.views_per_track)
    sizes = {k: max(1, round(f * n)) for k, f in SPLIT_FRACTIONS.items() if k != "train"}
    perm = np.random.default_rng([cfg.seed, cid, 7]).permutation(n)
    split_of = ["train"] * n
    pos = 0
    for k in ("val", "test", "calib"):
        for t in perm[pos:pos + sizes[k]]:
            split_of[t] = k
        pos += sizes[k]
    return [Track(cid, label, t, min(cfg.views_per_track, images - t * cfg.views_per_track), split_of[t])
            for t in range(n)]


def render_track(track: Track, cfg: RoadSignConfig) -> list[tuple[np.ndarray, tuple[int, int, int, int], str | None]]:
    """The views of one track: (BGR image, box x1, y1, x2, y2 exclusive, background kind or None) each.

    The box is the sign's, or for a background view the object its crop frames."""
    if track.cid == BACKGROUND_CID:
        return [(v.image, v.box, v.kind) for v in render_background(
            cfg.seed, track.track, track.views, cfg.class_names(), cfg.image_size, cfg.format == "gtsrb", track.cid)]
    rng = np.random.default_rng([cfg.seed, track.cid, track.track])
    sign, alpha = render_sign(SIGN_CLASSES[track.cid], rng, SIGN_SIZE)
    region = random_region(rng)
    yaw, pitch = float(np.clip(rng.normal(0, 18), -45, 45)), float(np.clip(rng.normal(0, 8), -20, 20))
    roll = float(np.clip(rng.normal(0, 5), -12, 12))
    c0 = float(np.clip(np.exp(rng.normal(np.log(44), 0.4)), 15, 200))  # GTSRB's median crop is ~44 px
    growth = rng.uniform(0.2, 1.0)
    post = rng.random() < 0.5
    post_shade = int(rng.integers(60, 180))
    occluded = rng.random() < 0.15
    occ_seed = int(rng.integers(1 << 31))
    mood = Camera.random(rng)
    out = []
    for v in range(track.views):
        vr = np.random.default_rng([cfg.seed, track.cid, track.track, v])
        crop = int(round(min(250, c0 * (1 + growth * v / max(1, track.views - 1)) * vr.uniform(0.95, 1.05))))
        size = crop if cfg.format == "gtsrb" else int(vr.integers(cfg.image_size[0], cfg.image_size[1] + 1))
        i, fx, fy, fs, flip = region
        view_region = (i, float(np.clip(fx + vr.normal(0, 0.02), 0, 1)), float(np.clip(fy + vr.normal(0, 0.02), 0, 1)),
                       fs * (1 - 0.05 * v), flip)
        cam = dataclasses.replace(Camera.random(vr), gain=mood.gain, gamma=mood.gamma, cast=mood.cast,
                                  scene_gain=mood.scene_gain)
        canvas = background_crop(vr, size, size, view_region)
        if cam.scene_gain != 1.0:
            canvas = (canvas * np.float32(cam.scene_gain)).astype(np.uint8)
        diam = size * vr.uniform(0.62, 0.86)
        cx, cy = size * (0.5 + vr.normal(0, 0.04)), size * (0.5 + vr.normal(0, 0.04))
        quad = sign_quad(cx, cy, diam, yaw + vr.normal(0, 2), pitch, roll + vr.normal(0, 1))
        if post:
            draw_post(canvas, cx, quad[:, 1].max() - 1, diam * 0.07, int(post_shade * cam.scene_gain))
        paste_sign(canvas, sign, alpha, quad)
        if occluded:
            occlude(canvas, np.random.default_rng(occ_seed), quad, 0.22, cam.scene_gain)
        img = apply_camera(canvas, cam, crop, vr)
        x1, y1 = np.floor(quad.min(0)).astype(int)
        x2, y2 = np.ceil(quad.max(0)).astype(int)
        out.append((img, (max(0, x1), max(0, y1), min(size, x2), min(size, y2)), None))
    return out


def _encode(img: np.ndarray, ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, img, [cv2.IMWRITE_PNG_COMPRESSION, 1] if ext == ".png" else [])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {ext} image")
    return buf.tobytes()


def _track_dir(track: Track, cfg: RoadSignConfig) -> str:
    if cfg.format == "gtsrb":
        return f"{track.split}/{track.label:05d}"
    return f"{track.split}/{cfg.labels()[track.label]}"


def _write_track(args: tuple[Track, RoadSignConfig, str]) -> list[dict]:
    """Render one track and write its files under ``root``; return one record per view."""
    track, cfg, root = args
    ext = ".ppm" if cfg.format == "gtsrb" else ".png"
    records = []
    for v, (img, box, kind) in enumerate(render_track(track, cfg)):
        rel = f"{_track_dir(track, cfg)}/{track.track:05d}_{v:05d}{ext}"
        data = _encode(img, ext)
        path = Path(root, rel)
        if v == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)  # the whole folder is renamed into place when complete
        records.append({"path": rel, "sha256": sha256_bytes(data), "label": track.label, "split": track.split,
                        "track": track.track, "size": [img.shape[1], img.shape[0]], "roi": list(box)})
        if kind:
            records[-1]["kind"] = kind
    return records


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one image per process; OpenCV threads would only compete
    backgrounds()


def _pool_context() -> multiprocessing.context.BaseContext:
    """A clean start (no fork of a parent that may hold OpenCV or torch thread pools)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return multiprocessing.get_context("spawn")


def _run(tasks: list, workers: int, progress: Callable[[int], None] | None) -> list[dict]:
    records: list[dict] = []
    if workers <= 1:
        results = map(_write_track, tasks)
    else:
        pool = _pool_context().Pool(workers, initializer=_init_worker)
        results = pool.imap_unordered(_write_track, tasks, chunksize=4)
    try:
        for recs in results:
            records += recs
            if progress:
                progress(len(recs))
    finally:
        if workers > 1:
            pool.terminate()
            pool.join()
    return records


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def generate_roadsigns(out: str | os.PathLike, cfg: RoadSignConfig, overwrite: bool = False,
                       progress: Callable[[int], None] | None = None) -> dict:
    """Write the synthetic data set to ``out`` and return its manifest.

    The set is built in a hidden folder beside ``out`` and renamed into place when complete.
    """
    validate(cfg)
    out = Path(out)
    _check_target(out, overwrite)
    tracks = plan_tracks(cfg)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        workers = cfg.workers or default_workers()
        log.info("generating %d synthetic images in %d tracks with %d worker(s)",
                 sum(t.views for t in tracks), len(tracks), workers)
        records = _run([(t, cfg, str(tmp)) for t in tracks], workers, progress)
        records.sort(key=lambda r: r["path"])
        if cfg.format == "gtsrb":
            records = _write_gtsrb_tables(tmp, records, cfg)
        write_text(tmp / "labels.txt", "".join(f"{c}\n" for c in cfg.labels()))
        manifest = _manifest(tmp, records, tracks, cfg)
        write_json(tmp / "manifest.json", manifest)
        _swap_into_place(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return manifest


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is not a folder: choose another output path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DataError(f"{out} exists and is not empty: choose another folder or pass --overwrite")


def _swap_into_place(tmp: Path, out: Path) -> None:
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    if old.exists():
        shutil.rmtree(old)


def _write_gtsrb_tables(root: Path, records: list[dict], cfg: RoadSignConfig) -> list[dict]:
    """GT csv per class folder; the test split becomes one flat folder with GT-final_test.csv."""
    by_dir: dict[str, list[dict]] = {}
    for r in records:
        by_dir.setdefault(r["path"].rsplit("/", 1)[0], []).append(r)
    test_rows = []
    for d, recs in sorted(by_dir.items()):
        if d.startswith("test/"):
            for r in recs:
                name = f"{len(test_rows):05d}.ppm"
                (root / r["path"]).rename(root / "test" / name)
                r["path"] = f"test/{name}"
                test_rows.append(r)
            (root / d).rmdir()
            continue
        rows = [(r["path"].rsplit("/", 1)[1], *r["size"], tuple(r["roi"]), r["label"]) for r in recs]
        write_text(root / d / f"GT-{d.rsplit('/', 1)[1]}.csv", gtsrb.format_gt_csv(rows))
    rows = [(r["path"].rsplit("/", 1)[1], *r["size"], tuple(r["roi"]), r["label"]) for r in test_rows]
    write_text(root / "test" / "GT-final_test.csv", gtsrb.format_gt_csv(rows))
    return sorted(records, key=lambda r: r["path"])


def _content_hash(root: Path, records: Sequence[dict]) -> str:
    """sha256 over every image's path and hash, the GT tables and labels.txt."""
    lines = [f"{r['path']} {r['sha256']}" for r in records]
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".csv", ".txt"):
            lines.append(f"{p.relative_to(root).as_posix()} {sha256_bytes(p.read_bytes())}")
    return sha256_bytes("\n".join(sorted(lines)).encode())


def _manifest(root: Path, records: list[dict], tracks: list[Track], cfg: RoadSignConfig) -> dict:
    names = cfg.labels()
    splits = {}
    for split in SPLIT_FRACTIONS:
        recs = [r for r in records if r["split"] == split]
        per = [0] * len(names)
        for r in recs:
            per[r["label"]] += 1
        splits[split] = {"images": len(recs), "tracks": sum(t.split == split for t in tracks),
                         "per_class": dict(zip(names, per))}
    return {
        "synthetic": True,
        "description": "Synthetic road signs: OpenCV drawings of European signs composited onto real "
                       "photographs and degraded like camera crops. Not photographs of real signs.",
        "generator": GENERATOR_NAME,
        "generator_version": GENERATOR_VERSION,
        "edgetl_version": __version__,
        "seed": cfg.seed,
        "format": cfg.format,
        "image_size": list(cfg.image_size) if cfg.format != "gtsrb" else "camera crop, 15-250 px",
        "per_class": cfg.per_class,
        "views_per_track": cfg.views_per_track,
        "classes": list(names),
        "splits": splits,
        "backgrounds": [n for n, _ in backgrounds()],
        "photo_parts": f"the data set uses the left {DATA_SHARE:.0%} of each scenery photo and the whole of "
                       f"{', '.join(NOT_SCENERY)}; the drive-by video uses the rest of the scenery photos",
        "background": _background_summary(records, cfg),
        "num_images": len(records),
        "content_sha256": _content_hash(root, records),
    }


def _background_summary(records: list[dict], cfg: RoadSignConfig) -> dict | None:
    """What the background class holds: its images per kind of crop, and how it was made."""
    if not cfg.background_images():
        return None
    kinds = {k: sum(r.get("kind") == k for r in records) for k in KINDS}
    return {"images": cfg.background_images(), "kinds": kinds, "part_max": PART_MAX,
            "description": "crops that hold no sign (at most part_max of one), framed like sign proposals: boxes "
                           "the sign proposer returns on photo scenes with painted non-signs (proposal), painted "
                           "non-signs and their parts (thing), parts of signs (sign_part), plain crops (photo)"}
