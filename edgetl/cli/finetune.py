"""``edgetl finetune``: options -> FinetuneConfig -> edgetl.train.finetune.finetune."""

from __future__ import annotations

from pathlib import Path

import click

from edgetl.backbones import names as backbone_names
from edgetl.cli.progress import Bar
from edgetl.data.layouts import LAYOUTS
from edgetl.train.distill import DEFAULT_ALPHA, DEFAULT_TEMPERATURE

DISTILL_OPTIONS = ("teacher", "distill_alpha", "distill_temperature", "distill_baseline")


def _freeze_value(ctx, param, value: str) -> str:
    if value in ("auto", "all") or value.isdigit():
        return value
    raise click.BadParameter("use a number of stages, 'auto' or 'all'")


class FinetuneProgress:
    """What a finetune prints (rank 0 only): the setup, a bar over each epoch's batches on a terminal, and
    one line per epoch."""

    def __init__(self, enabled: bool):
        self.enabled, self.bar = enabled, None

    def on_setup(self, s: dict) -> None:
        if not self.enabled:
            return
        click.echo(f"data: {s['layout']}, {len(s['classes'])} classes, " +
                   ", ".join(f"{k} {v}" for k, v in s["counts"].items()) +
                   f"; device {s['device']}{' x' + str(s['world']) if s['world'] > 1 else ''}"
                   f"{', AMP' if s['amp'] else ''}{', channels_last' if s['channels_last'] else ''}; "
                   f"weights: {s['weights']}")
        click.echo(f"frozen: {s['frozen_stages']} of {s['num_stages']} stages (BatchNorm statistics fixed)")
        w = max(len(r["stage"]) for r in s["parameters"])
        click.echo(f"  {'stage':<{w}}  {'trainable':>10}  {'total':>10}")
        for r in s["parameters"]:
            click.echo(f"  {r['stage']:<{w}}  {r['trainable']:>10,}  {r['total']:>10,}")
        tt = sum(r["trainable"] for r in s["parameters"])
        tot = sum(r["total"] for r in s["parameters"])
        click.echo(f"  {'all':<{w}}  {tt:>10,}  {tot:>10,}  ({tt / tot:.1%} trainable)")
        if s.get("distillation"):
            d, t = s["distillation"], s["distillation"]["teacher"]
            own = f", test top-1 {t['test_top1']:.2%} in its run" if t["test_top1"] is not None else ""
            click.echo(f"teacher: {t['path']} ({t['backbone']} at {t['input_size']} px{own}); "
                       f"alpha {d['alpha']:g}, temperature {d['temperature']:g}")

    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        if self.enabled:
            self.bar = Bar(batches, desc=f"epoch {epoch}/{epochs}", unit="batch")

    def on_batch(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.postfix(loss=f"{loss:.3f}")

    def on_epoch_end(self, r: dict) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.enabled:
            teacher = f"  teacher {r['teacher_seconds']:.1f} s" if "teacher_seconds" in r else ""
            click.echo(f"epoch {r['epoch']:>3}  loss {r['train_loss']:.4f}  val top-1 {r['val_top1']:.2%}  "
                       f"{r['images_per_s'] or 0:.0f} img/s{teacher}{'  *best' if r['best'] else ''}")


def _help() -> str:
    """The command's help, listing the data layouts there are."""
    w = max(len(name) for name in LAYOUTS)
    layouts = "\n".join(f"  {lay.name:<{w}}  {lay.summary}" for lay in LAYOUTS.values())
    return ("Fine-tune a pretrained backbone on DATA into the run folder -o RUN.\n\n"
            "DATA is a folder or a manifest file in one of these layouts, found from its files:\n\n\b\n" +
            layouts + "\n\n"
            "Class names come from labels.txt, else the folder names, GTSRB's 43 names or the manifest's "
            "labels. The first line printed names the layout found.")


@click.command(help=_help())
@click.argument("data", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path), help="Run folder to write.")
@click.option("--backbone", type=click.Choice(backbone_names()), default="mobilenet_v2", show_default=True)
@click.option("--weights", default=None, help="Weights file, or 'none' for random init. Default: find the backbone's ImageNet weights.")
@click.option("--freeze", default="auto", callback=_freeze_value, show_default=True,
              help="Stages to freeze (BatchNorm statistics too): a number, 'auto' (the generic early ones) or 'all'.")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(2), default=64, show_default=True)
@click.option("--image-size", type=click.IntRange(16), default=None, help="Input size. Default: the backbone's (224).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True, help="Head learning rate.")
@click.option("--backbone-lr-scale", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Unfrozen backbone stages learn at lr times this.")
@click.option("--unfreeze-at", type=click.IntRange(1), default=None, help="From this epoch on, every stage trains.")
@click.option("--label-smoothing", type=click.FloatRange(0, 0.5), default=0.1, show_default=True)
@click.option("--patience", type=click.IntRange(1), default=None, help="Stop after N epochs without a better val top-1.")
@click.option("--val-fraction", type=click.FloatRange(0, 0.9), default=0.15, show_default=True,
              help="Held out for validation when the data has no val split.")
@click.option("--test-fraction", type=click.FloatRange(0, 0.9), default=0.0, show_default=True,
              help="Held out for test when splitting a class-folder tree or manifest rows without a split.")
@click.option("--cache-features", is_flag=True, help="With --freeze all: compute backbone features once, train the head on them.")
@click.option("--hflip", is_flag=True, help="Add horizontal flips (off: keep-left/keep-right signs are mirror images).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True, help="Decoding threads/workers.")
@click.option("--channels-last", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True)
@click.option("--resume", "resume", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Continue the run in this folder from its last complete epoch (--epochs may raise the total).")
@click.option("--overwrite", is_flag=True, help="Train into a run folder that already holds a model.")
@click.option("--teacher", default=None, metavar="RUN",
              help="Distil from this edgetl run (any backbone and input size, the same labels in the same order).")
@click.option("--distill-alpha", type=click.FloatRange(0, 1, min_open=True), default=DEFAULT_ALPHA, show_default=True,
              help="Weight of the teacher's soft targets; the labels' cross-entropy gets 1 - alpha.")
@click.option("--distill-temperature", type=click.FloatRange(0, min_open=True), default=DEFAULT_TEMPERATURE,
              show_default=True, help="Softmax temperature of teacher and student in the soft term.")
@click.option("--distill-baseline", default=None, metavar="RUN",
              help="A run of this student trained without the teacher, measured beside it in the final table.")
def finetune(data, out, resume, overwrite, epochs, freeze, **opts):
    import os

    from edgetl.train.finetune import FinetuneConfig
    from edgetl.train.finetune import finetune as run_finetune

    if resume is None and (data is None or out is None):
        raise click.UsageError("give DATA and -o RUN (or --resume RUN)")
    _check_distill_options(resume is not None, opts)
    if resume is not None:
        out = resume
        data = data or "."
    epochs_given = click.get_current_context().get_parameter_source("epochs").name != "DEFAULT"
    cfg = FinetuneConfig(data=str(data), out=str(out), freeze=freeze,
                         epochs=epochs if (resume is None or epochs_given) else 0, **opts)
    main = int(os.environ.get("RANK", "0")) == 0
    result = run_finetune(cfg, FinetuneProgress(main), resume=resume is not None, overwrite=overwrite)
    if not main:
        return
    m = result.metrics
    click.echo("")
    click.echo(f"best val top-1   {m['best_val_top1']:.2%} (epoch {m.get('best_epoch')})")
    for split in ("test", "val"):
        if f"{split}_top1" in m and m.get("evaluated_on") == split:
            click.echo(f"{split} top-1       {m[f'{split}_top1']:.2%} (best epoch, per-class in metrics.json)")
    if "distillation" in m:
        _distillation_table(m["distillation"])
    if result.stopped_early:
        click.echo("stopped early (--patience)")
    click.echo(f"run folder       {result.run}  (model.pt, metrics.json, confusion.png, labels.txt, train.log)")
    click.echo(f"next:            edgetl export {result.run} --int8")


def _check_distill_options(resuming: bool, opts: dict) -> None:
    """Distillation options only with --teacher, and never on --resume (the run keeps its own teacher)."""
    ctx = click.get_current_context()
    given = [f"--{name.replace('_', '-')}" for name in DISTILL_OPTIONS
             if ctx.get_parameter_source(name).name != "DEFAULT"]
    if resuming and given:
        raise click.UsageError(f"--resume continues with the teacher and settings the run recorded: drop {given[0]}")
    if not opts.get("teacher") and given:
        raise click.UsageError(f"{given[0]} is for distillation: add --teacher RUN")


def _distillation_table(d: dict) -> None:
    """Teacher, student with the teacher and student alone, on the same split."""
    t, s = d["teacher"], d["student"]
    click.echo(f"distillation on {d['split']} (alpha {d['alpha']:g}, temperature {d['temperature']:g}):")
    click.echo(f"  teacher         {d['teacher_top1']:7.2%}  {t['backbone']} at {t['input_size']} px, {t['path']}")
    click.echo(f"  student         {d['student_top1']:7.2%}  {s['backbone']} at {s['input_size']} px, with the teacher")
    if "baseline" in d:
        b = d["baseline"]
        click.echo(f"  student alone   {b['top1']:7.2%}  {b['run']['backbone']} at {b['run']['input_size']} px, "
                   f"{b['run']['path']}")
    else:
        click.echo("  student alone   not measured: --distill-baseline RUN names a run of it without --teacher")
