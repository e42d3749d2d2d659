"""``edgetl demo``: the whole pipeline on synthetic road signs, with progress and one final table."""

from __future__ import annotations

from pathlib import Path

import click

from edgetl.camera.score import announced_when, percent
from edgetl.cli.finetune import FinetuneProgress
from edgetl.cli.progress import Bar


def _sign_rows(cam: dict) -> list[tuple[str, str]]:
    """The camera loop's track and frame scores, as the demo table shows them."""
    score = cam.get("score") or {}
    t, f = score.get("tracks") or {}, score.get("frames") or {}
    delay = t.get("delay_frames") or {}
    delay_ms = t.get("delay_ms") or {}
    per_min = t.get("false_events_per_min")
    when = (f"; announced p50 {announced_when(delay['p50'], delay_ms['p50'])} a sign is recognisable"
            if delay else "")
    return [
        ("signs announced", f"{t.get('once_right', 0)} of {t.get('signs', 0)} once with the right label "
                            f"({percent(t.get('once_right_rate'))}); missed {t.get('missed', 0)}, twice "
                            f"{t.get('twice', 0)}, wrong label {t.get('wrong', 0)}"),
        ("false events", f"{t.get('false_events', 0)} ({'n/a' if per_min is None else f'{per_min:.2f}'} per minute)"
                         f"{when}"),
        ("frame detection", f"recall {percent(f.get('recall'))} of recognisable signs at IoU 0.5, precision "
                            f"{percent(f.get('precision'))}, label accuracy {percent(f.get('label_accuracy'))} of matched "
                            f"boxes"),
        ("", f"({cam['roi']}; the ground truth only scores the run)"),
    ]


def _table(s: dict) -> list[str]:
    ft, ex, cam = s["finetune"], s["export"], s["camera"]
    fp32, int8 = ex["fp32"], ex["int8"]
    locate = (cam.get("stages_ms") or {}).get("locate") or {}
    rows = [
        ("data", f"{s['data']['classes']} classes, synthetic (generated, not photographs)"),
        ("test top-1 FP32", f"{fp32.get('top1', ft['test_top1']):.2%}  (torch model.pt: {ft['test_top1']:.2%})"),
        ("test top-1 INT8", f"{int8.get('top1', 0):.2%}  ({0.0 - int8.get('drop_points', 0) + 0.0:+.2f} points vs FP32, "
                            f"{int8.get('agreement', 0):.2%} of answers agree)"),
        ("latency FP32 / INT8", f"{fp32.get('latency_ms') or 0:.2f} ms / {int8.get('latency_ms') or 0:.2f} ms at batch 1 "
                                f"(onnxruntime CPU, {int8.get('speedup') or 0:.2f}x)"),
        ("camera loop", f"{cam['fps']:.1f} FPS over {cam['frames']} frames of a 1280x720 video "
                        f"({Path(s['deploy_model']).name}; locate p50 {locate.get('p50', 0):.2f} ms)"),
        *_sign_rows(cam),
        ("time", ", ".join(f"{k} {v:.0f}s" for k, v in s["timings_s"].items())),
    ]
    w = max(len(a) for a, _ in rows)
    lines = [f"  {a:<{w}}  {b}" for a, b in rows]
    lines.append("")
    lines += [f"  {k:<{w}}  {v}" for k, v in s["artifacts"].items()]
    return lines


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("edgetl-demo"), show_default=True,
              help="Folder for everything the demo writes (a previous demo there is replaced).")
@click.option("--fast", is_flag=True, help="Smaller data, fewer epochs, a shorter video: about two minutes.")
@click.option("--tiny", is_flag=True, hidden=True, help="Smallest sizes: checks that every stage runs (tests).")
@click.option("--seed", type=int, default=0, show_default=True)
def demo(out: Path, fast: bool, tiny: bool, seed: int) -> None:
    """Generate synthetic road signs, fine-tune MobileNetV2, export FP32 and INT8, benchmark, find, track
    and announce the signs of a drive-by video with the camera loop, and print one table. Runs offline."""
    from edgetl.demo import DemoConfig, roadsign_config, run_demo
    from edgetl.fileio import check_output

    check_output(out, kind="folder")

    bars: list[Bar] = []

    def bar(total: int, desc: str, unit: str):
        """A progress bar that appears on its first update (stages run one after another)."""
        def update(n: int) -> None:
            if not bars:
                bars.append(Bar(total, desc=desc, unit=unit))
            bars[0].update(n)
        return update

    def step(name: str, msg: str) -> None:
        while bars:
            bars.pop().close()
        click.echo(f"[{name}] {msg}")

    cfg = DemoConfig(out=out, size="tiny" if tiny else "fast" if fast else "default", seed=seed)
    click.echo(f"edgetl demo ({cfg.size}): {cfg.preset.per_class} images per class, {cfg.preset.epochs} epochs, "
               f"{cfg.preset.video_seconds:.0f} s video -> {out}/")
    try:
        summary = run_demo(cfg, step, train_callbacks=FinetuneProgress(True),
                           data_progress=bar(total=roadsign_config(cfg).num_images(), desc="road signs", unit="img"),
                           video_progress=bar(total=int(cfg.preset.video_seconds * 30), desc="drive-by video", unit="frame"))
    finally:
        while bars:
            bars.pop().close()
    click.echo("")
    click.echo("edgetl demo: results")
    for line in _table(summary):
        click.echo(line)
    click.echo("")
    click.echo(f"next: edgetl run {summary['deploy_model']} {out}/drive.mp4 --ground-truth {out}/drive.gt.json "
               f"--events {out}/events.jsonl")
