"""``edgetl data``: the synthetic road-sign showcase data set and drive-by video."""

from __future__ import annotations

import time
from pathlib import Path

import click

from edgetl.cli.progress import Bar

SYNTHETIC_NOTE = ("The images are synthetic: OpenCV drawings of European road signs composited onto real "
                  "photographs that scikit-image and scikit-learn ship, degraded like camera crops.")


def _size_range(ctx, param, value: str) -> tuple[int, int]:
    try:
        lo, _, hi = value.partition("-")
        lo_i, hi_i = int(lo), int(hi or lo)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size like 64 or a range like 48-96") from None
    if not 16 <= lo_i <= hi_i <= 512:
        raise click.BadParameter(f"{value!r}: sizes must be 16..512 with MIN <= MAX")
    return lo_i, hi_i


def _class_list(ctx, param, value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(c.strip() for c in value.split(",") if c.strip())


@click.group()
def data() -> None:
    """Generate the synthetic road-sign showcase data and video (offline; the data is synthetic)."""


@data.command("roadsigns")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--per-class", type=int, default=250, show_default=True,
              help="Images per class, in tracks of --views-per-track views of one sign.")
@click.option("--image-size", default="64", show_default=True, callback=_size_range, metavar="N|MIN-MAX",
              help="Output side in pixels, or a range drawn per image (ignored by --format gtsrb, which keeps "
                   "the camera crop size).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--classes", callback=_class_list, default=None, metavar="A,B,...",
              help="Only these classes (names as in labels.txt) [default: all 26].")
@click.option("--views-per-track", type=click.IntRange(1, 30), default=3, show_default=True,
              help="Views of one physical sign; a track never spans two splits.")
@click.option("--format", "fmt", type=click.Choice(["imagefolder", "gtsrb"]), default="imagefolder",
              show_default=True, help="imagefolder: OUT/{train,val,test,calib}/<class>/*.png; "
                                      "gtsrb: the official GTSRB layout (.ppm, GT csv with ROI).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Processes [default: up to 2]; the output does not depend on it.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists and is not empty.")
def roadsigns(out: Path, per_class: int, image_size: tuple[int, int], seed: int, classes: tuple[str, ...] | None,
              views_per_track: int, fmt: str, workers: int | None, overwrite: bool) -> None:
    """Write a synthetic road-sign data set to OUT, split into train/val/test/calib.

    26 classes modelled on European signs, including look-alikes (speed limits, mirrored arrows),
    with perspective, blur, night, glare, colour casts, fading, occlusion and JPEG artefacts.
    Writes OUT/labels.txt and OUT/manifest.json (counts, seed, version, content hash).
    """
    from edgetl.fileio import check_output, writing
    from edgetl.synth.roadsigns import RoadSignConfig, generate_roadsigns, validate

    check_output(out, kind="folder")
    check_output(out.parent, kind="folder")  # the set is built beside OUT, then renamed into place
    cfg = RoadSignConfig(per_class=per_class, image_size=image_size, seed=seed, classes=classes,
                         views_per_track=views_per_track, format=fmt, workers=workers)
    validate(cfg)
    total = per_class * len(cfg.class_names())
    start = time.perf_counter()
    with Bar(total, desc="road signs", unit="img") as bar, writing(out):  # a full disk names OUT
        manifest = generate_roadsigns(out, cfg, overwrite=overwrite, progress=bar.update)
    secs = time.perf_counter() - start
    counts = ", ".join(f"{k} {v['images']}" for k, v in manifest["splits"].items())
    click.echo(f"wrote {manifest['num_images']} synthetic images of {len(manifest['classes'])} classes to {out} "
               f"in {secs:.1f} s ({counts})")
    click.echo(SYNTHETIC_NOTE)
    click.echo(f"content sha256 {manifest['content_sha256']}")
    size = image_size[1] if fmt == "imagefolder" else 64
    click.echo(f"next: edgetl finetune {out} -o runs/roadsigns --image-size {size}")


@data.command("roadsigns-video")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seconds", type=click.FloatRange(1, 3600), default=24.0, show_default=True)
@click.option("--fps", type=click.IntRange(1, 120), default=30, show_default=True)
@click.option("--resolution", default="1280x720", show_default=True, metavar="WxH")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--classes", callback=_class_list, default=None, metavar="A,B,...",
              help="Only these classes [default: all 26].")
@click.option("--overwrite", is_flag=True, help="Replace OUT and its ground truth if they exist.")
def roadsigns_video(out: Path, seconds: float, fps: int, resolution: str, seed: int,
                    classes: tuple[str, ...] | None, overwrite: bool) -> None:
    """Write a synthetic drive-by video OUT (.mp4, mp4v) and its per-frame ground truth OUT.gt.json.

    A real-photo background pans; signs appear small, grow and pass, with gaps between. A frame is
    labelled only when its sign is at least 24 px and mostly inside the frame. The video is synthetic.
    """
    from edgetl.data.groundtruth import ground_truth_path
    from edgetl.synth.video import VideoConfig, generate_video

    try:
        w, h = (int(v) for v in resolution.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{resolution!r} is not WxH like 1280x720", param_hint="--resolution") from None
    if w < 64 or h < 64 or w % 2 or h % 2:
        raise click.BadParameter("width and height must be even and at least 64", param_hint="--resolution")
    cfg = VideoConfig(seconds=seconds, fps=fps, width=w, height=h, seed=seed, classes=classes)
    with Bar(int(round(seconds * fps)), desc="video", unit="frame") as bar:
        gt = generate_video(out, cfg, overwrite=overwrite, progress=bar.update)
    labelled = sum(f["label"] is not None for f in gt["frames"])
    shown = sorted({f["label"] for f in gt["frames"] if f["label"]})
    click.echo(f"wrote {out} ({gt['num_frames']} frames, {w}x{h} at {fps} fps) and {ground_truth_path(out)}: "
               f"{labelled} frames show a recognisable sign ({len(shown)} classes)")
    click.echo("The video is synthetic: drawn signs over panned real photographs.")
    click.echo(f"next: edgetl run runs/roadsigns/model.onnx {out} --ground-truth {ground_truth_path(out)} --roi-from-truth")
