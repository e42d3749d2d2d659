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


def _background(ctx, param, value: str | None) -> tuple[float, bool] | None:
    """``N`` images in all, or ``Kx`` times --per-class: (number, is a multiplier); None = the default."""
    if value is None:
        return None
    text = value.strip().lower()
    try:
        number = float(text[:-1]) if text.endswith("x") else int(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number of images like 500 or a multiple like 2x") from None
    if number < 0:
        raise click.BadParameter(f"{value!r}: use 0 (no background class) or more")
    return number, text.endswith("x")


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
@click.option("--background", "background", callback=_background, default=None, metavar="N|Kx",
              help="Images of the 'background' class (crops that are not signs, framed like sign proposals, "
                   "so a model can reject false alarms): N in all, or K times --per-class; 0 leaves it out "
                   "[default: 2x, measured].")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Processes [default: up to 2]; the output does not depend on it.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists and is not empty.")
def roadsigns(out: Path, per_class: int, image_size: tuple[int, int], seed: int, classes: tuple[str, ...] | None,
              views_per_track: int, fmt: str, background: tuple[float, bool] | None, workers: int | None,
              overwrite: bool) -> None:
    """Write a synthetic road-sign data set to OUT, split into train/val/test/calib.

    26 classes modelled on European signs, including look-alikes (speed limits, mirrored arrows),
    with perspective, blur, night, glare, colour casts, fading, occlusion and JPEG artefacts, and a
    'background' class of things that are not signs. Writes OUT/labels.txt and OUT/manifest.json
    (counts, seed, version, content hash).
    """
    from edgetl.fileio import check_output, writing
    from edgetl.synth.roadsigns import RoadSignConfig, generate_roadsigns, validate

    check_output(out, kind="folder")
    check_output(out.parent, kind="folder")  # the set is built beside OUT, then renamed into place
    bg = None if background is None else int(round(background[0] * per_class if background[1] else background[0]))
    cfg = RoadSignConfig(per_class=per_class, image_size=image_size, seed=seed, classes=classes,
                         views_per_track=views_per_track, format=fmt, workers=workers, background=bg)
    validate(cfg)
    total = cfg.num_images()
    start = time.perf_counter()
    with Bar(total, desc="road signs", unit="img") as bar, writing(out):  # a full disk names OUT
        manifest = generate_roadsigns(out, cfg, overwrite=overwrite, progress=bar.update)
    secs = time.perf_counter() - start
    counts = ", ".join(f"{k} {v['images']}" for k, v in manifest["splits"].items())
    bg = manifest.get("background")
    what = f" (signs and background: {bg['images']} crops that are not signs)" if bg else ""
    click.echo(f"wrote {manifest['num_images']} synthetic images of {len(manifest['classes'])} classes{what} to {out} "
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

    A real-photo background pans; signs appear small, grow and pass, on both sides of the road and at
    different heights, sometimes two at once, among red and blue things that are not signs, with
    night, glare and motion-blur segments. The ground truth lists every sign in view per frame with
    its box, label, track and whether it is recognisable (at least 24 px, mostly inside the frame,
    not lost to blur, darkness or glare). The video is synthetic.
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
    recognisable = [[s for s in f["signs"] if s["recognisable"]] for f in gt["frames"]]
    tracks = {s["track"] for f in gt["frames"] for s in f["signs"]}
    shown = {s["label"] for f in gt["frames"] for s in f["signs"]}
    segments = ", ".join(f"{k} {sum(s['kind'] == k for s in gt['segments'])}" for k in ("night", "glare", "blur"))
    click.echo(f"wrote {out} ({gt['num_frames']} frames, {w}x{h} at {fps} fps) and {ground_truth_path(out)}: "
               f"{len(tracks)} signs of {len(shown)} classes; {sum(map(bool, recognisable))} frames show a "
               f"recognisable sign, {sum(len(r) > 1 for r in recognisable)} two or more; segments: {segments}")
    click.echo("The video is synthetic: drawn signs and distractors over panned real photographs.")
    click.echo(f"next: edgetl run runs/roadsigns/model.onnx {out} --ground-truth {ground_truth_path(out)}")
