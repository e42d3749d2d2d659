"""``edgetl export``: options -> ExportConfig -> edgetl.export.export_run, then a summary table."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from edgetl.data.calibration_defaults import DEFAULT_SEED, DEFAULT_SIZE
from edgetl.export.qat_config import DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_MAX_SPEED_COST, QAT_MODES
from edgetl.export.quantize import DEFAULT_TARGET, METHODS, TARGETS
from edgetl.registry import Registry


class RegistryChoice(click.Choice):
    """The names in a registry, read each time click asks: an entry registered after import is offered too."""

    def __init__(self, registry: Registry):
        self.registry = registry
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return self.registry.names()

    @choices.setter
    def choices(self, _value) -> None:  # click.Choice.__init__ assigns; the registry is the only source
        pass


class RegistryOption(click.Option):
    """An option choosing a registry entry; its help is written from the entries when it is shown."""

    def __init__(self, *args, registry: Registry, describe: Callable[[], str], **attrs):
        super().__init__(*args, type=RegistryChoice(registry), **attrs)
        self.describe = describe

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = self.describe()
        return super().get_help_record(ctx)


def _entries(registry: Registry) -> str:
    return "; ".join(f"'{name}' = {entry.description}" for name, entry in registry.items())


def _target_help() -> str:
    return (f"INT8 preset: {_entries(TARGETS)}. Pin a CPU form when the deployment CPU is not this one "
            f"(export.json records this CPU's flags and why a form was chosen).")


def _method_help() -> str:
    defaults = ", ".join(f"{name}: {t.default_method}" for name, t in TARGETS.items())
    return f"Calibration method: {_entries(METHODS)}. [default: the target's measured best ({defaults})]"


def _pct(x) -> str:
    return "-" if x is None else f"{x:.2%}"


def _ms(x) -> str:
    return "-" if x is None else f"{x:.3f} ms"


def _speed(x) -> str:
    return f", {x:.2f}x" if x else ""


def _qat_rows(q: dict) -> list[tuple[str, str, str]]:
    """PTQ against QAT, where --qat was given: each one's drop, float layers and speed-up."""
    sel = q.get("selection")
    if not sel:
        return []
    p, t = q.get("ptq", {}), q.get("qat")
    rows = [("PTQ", "", "misses budget" if "drop_points" not in p else
             f"{p['drop_points']:.2f} pts, {p['float_nodes']} float{_speed(p.get('speedup'))}")]
    if t:
        rows.append(("QAT", "", f"{t['drop_points']:.2f} pts, {t['epochs']} ep{_speed(t.get('speedup'))}"))
    return rows + [("INT8 model kept", "", sel["winner"].upper())]


def summary_table(report: dict) -> str:
    """The readable summary printed after an export."""
    fp, q = report["fp32"], report.get("int8")
    rows = [("", "FP32", "INT8" if q else ""),
            ("top-1", _pct(fp.get("top1")), _pct(q["top1"]) if q else ""),
            ("drop (points)", "", f"{q['drop_points']:.2f}" if q else ""),
            ("agreement with FP32", "", _pct(q["agreement"]) if q else ""),
            ("parity vs torch (max abs)", "-" if fp.get("parity_max_abs") is None else f"{fp['parity_max_abs']:.1e}", ""),
            ("latency, batch 1", _ms(fp.get("latency_ms")), _ms(q.get("latency_ms")) if q else ""),
            ("speed-up", "", f"{q['speedup']:.2f}x" if q and q.get("speedup") else "")]
    if q:
        form = q.get("form", q["target"])
        rows += [("target / method", "", f"{q['target']}{'' if form == q['target'] else f' ({form})'} / {q['method']}"),
                 ("layers kept in float", "", str(len(q["float_nodes"])))]
        rows += _qat_rows(q)
    if "calibration" in report:
        c = report["calibration"]
        rows.append(("calibration images", "", f"{c['images']} ({sum(1 for v in c['per_class'].values() if v)} classes)"))
    w = max(len(r[0]) for r in rows)
    return "\n".join(f"  {a:<{w}}  {b:>12}  {c:>14}".rstrip() for a, b, c in rows if b or c or a == "")


@click.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--opset", default=17, show_default=True, help="ONNX opset (INT8 per-channel needs 13 or higher).")
@click.option("--softmax", is_flag=True, help="Add a second output 'probabilities' (softmax of the logits).")
@click.option("--no-verify", "no_verify", is_flag=True,
              help="Skip the onnxruntime-vs-torch parity check on validation images (not recommended).")
@click.option("--int8", is_flag=True, help="Also write model.int8.onnx (Q/DQ), gated on accuracy and speed.")
@click.option("--target", cls=RegistryOption, registry=TARGETS, describe=_target_help, default=DEFAULT_TARGET,
              show_default=True)
@click.option("--method", cls=RegistryOption, registry=METHODS, describe=_method_help, default=None)
@click.option("--calib", type=click.Path(exists=True, path_type=Path), default=None,
              help="Calibration images: a folder (class folders or plain images) or a manifest JSON "
                   "[default: the run data's calib/ split].")
@click.option("--calib-size", default=DEFAULT_SIZE, show_default=True, type=click.IntRange(min=1),
              help="Images sampled class-stratified for calibration.")
@click.option("--max-drop", default=0.5, show_default=True, type=click.FloatRange(min=0),
              help="Largest top-1 loss allowed for INT8, in percentage points.")
@click.option("--eval-split", type=click.Choice(["val", "test"]), default="val", show_default=True,
              help="Split that verification and the accuracy gate use.")
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None,
              help="Data folder or manifest file [default: the one in RUN/config.json].")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1),
              help="onnxruntime threads for the latency measurement.")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, help="Seed of the calibration sampling.")
@click.option("--qat", "qat_mode", type=click.Choice(QAT_MODES), default="off", show_default=True,
              help="Quantization-aware training after PTQ: 'auto' runs it when PTQ misses --max-drop or its float "
                   "layers cost more than --qat-max-cost of the speed-up; 'on' always. The better model by the "
                   "gates' numbers is kept, and export.json says which and why.")
@click.option("--qat-epochs", default=DEFAULT_EPOCHS, show_default=True, type=click.IntRange(min=1),
              help="Epochs of quantization-aware training on the run's train split.")
@click.option("--qat-lr", default=DEFAULT_LR, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Learning rate of quantization-aware training.")
@click.option("--qat-max-cost", default=DEFAULT_MAX_SPEED_COST, show_default=True, type=click.FloatRange(0, 1),
              help="With --qat auto: the share of the all-INT8 speed-up PTQ's float layers may cost before QAT runs.")
@click.option("--rechoose", is_flag=True,
              help="With --target cpu: measure the candidate forms on this CPU again instead of reusing the "
                   "choice cached in RUN/calib_cache/.")
def export(run: Path, opset: int, softmax: bool, no_verify: bool, int8: bool, target: str, method: str | None,
           calib: Path | None, calib_size: int, max_drop: float, eval_split: str, data: Path | None,
           threads: int, seed: int, qat_mode: str, qat_epochs: int, qat_lr: float, qat_max_cost: float,
           rechoose: bool) -> None:
    """Export RUN/model.pt to RUN/model.onnx (verified against torch), and with --int8 to RUN/model.int8.onnx.

    Writes RUN/export.json with accuracies, parity, latency and the calibration set; nothing already in RUN
    is replaced unless every check passes.
    """
    from edgetl.cli.finetune import FinetuneProgress
    from edgetl.export import ExportConfig, export_run
    from edgetl.export.qat_config import QatConfig

    qat = QatConfig(qat_mode, qat_epochs, qat_lr, qat_max_cost) if qat_mode != "off" else None
    cfg = ExportConfig(run=run, opset=opset, softmax=softmax, verify=not no_verify, int8=int8, target=target,
                       method=method, calib=calib, calib_size=calib_size, max_drop=max_drop,
                       eval_split=eval_split, data=data, threads=threads, seed=seed, qat=qat, rechoose=rechoose)
    result = export_run(cfg, train_callbacks=FinetuneProgress(True) if qat else None)
    click.echo(summary_table(result.report))
    choice = (result.report.get("int8") or {}).get("cpu_form")
    if choice:
        click.echo(f"form {choice['chosen']} for this CPU ({choice['cpu']['class']}): {choice['reason']}"
                   f"{' [cached]' if choice.get('cached') else ''}")
    sel = (result.report.get("int8") or {}).get("selection")
    if sel:
        click.echo(f"QAT: {'ran: ' + sel['why_qat'] if sel['qat_ran'] else 'not needed'}; kept "
                   f"{sel['winner'].upper()}: {sel['why']}")
    for note in result.notices:
        click.secho(f"WARNING: {note}", fg="yellow", bold=True, err=True)
    for f in result.files:
        click.echo(f"wrote {f}")
    q = result.report.get("int8")
    if q and q["target"] == "tensorrt":
        click.echo(f"next: copy {run / 'model.int8.onnx'} to the Jetson and run 'edgetl build {run / 'model.int8.onnx'}'")
    else:
        best = run / ("model.int8.onnx" if q and q.get("recommended") else "model.onnx")
        click.echo(f"next: edgetl bench {best}")
