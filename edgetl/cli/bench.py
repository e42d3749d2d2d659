"""``edgetl bench``: options -> BenchConfig -> edgetl.bench.bench_models -> table, JSON, Markdown."""

from __future__ import annotations

from pathlib import Path

import click

from edgetl.cli.backend_options import BackendCommand
from edgetl.cli.progress import Bar


def _int_list(ctx, param, value: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: use comma-separated integers, e.g. 1,8") from None
    if not out or any(v < 1 for v in out):
        raise click.BadParameter(f"{value!r}: batch sizes must be 1 or more")
    return out


def _print_table(results: list[dict]) -> None:
    power = any("power" in r for r in results)
    name_w = max(len(r["model"]) for r in results)
    head = (f"{'model':<{name_w}}  {'backend':<11} {'prec':<5} {'batch':>5}  {'p50':>8} {'p90':>8} {'p99':>8} "
            f"{'mean':>8} {'std':>7}  {'img/s':>8}  {'ratio':>5}" + ("  {:>6} {:>8}".format("W", "J/img") if power else ""))
    click.echo(head)
    for r in results:
        line = (f"{r['model']:<{name_w}}  {r['backend']:<11} {r['precision']:<5} {r['batch']:>5}  "
                f"{r['p50_ms']:>8.2f} {r['p90_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['mean_ms']:>8.2f} {r['std_ms']:>7.2f}  "
                f"{r['throughput']:>8.1f}  {r['ratio_to_first']:>5.3g}")
        if power and r.get("power"):
            p = r["power"]
            line += f"  {p['average_w']:>6.2f} {p['joules_per_image'] or 0:>8.4f}"
        click.echo(line)
        for name, s in (r.get("stages") or {}).items():
            click.echo(f"{'':<{name_w}}    {name:<22} {'':>5}  {s['p50_ms']:>8.2f} {s['p90_ms']:>8.2f} "
                       f"{s['p99_ms']:>8.2f} {s['mean_ms']:>8.2f} {s['std_ms']:>7.2f}")
    click.echo("latency in ms per call; ratio = median per-round p50 ratio to the first model (interleaved runs)")


@click.command(cls=BackendCommand)
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--batch", "batches", default="1", callback=_int_list, show_default=True,
              help="Batch sizes, comma-separated (e.g. 1,8).")
@click.option("--warmup", type=click.IntRange(0), default=10, show_default=True, help="Untimed calls per model and batch.")
@click.option("--iters", type=click.IntRange(1), default=None, help="Timed rounds (one call of every model each).")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Time budget per batch size instead of --iters. Default: 3 s.")
@click.option("--end-to-end", is_flag=True,
              help="Time preprocessing from a decoded 1280x720 frame, inference and postprocessing, per stage.")
@click.option("--power/--no-power", "power", default=None,
              help="Sample board power with tegrastats (default: on a Jetson where tegrastats exists).")
@click.option("--power-interval", type=click.IntRange(10), default=100, show_default=True,
              help="tegrastats interval in ms.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write results and environment as JSON.")
@click.option("--markdown", "markdown", is_flag=False, flag_value="-", default=None,
              type=click.Path(dir_okay=False, allow_dash=True),
              help="Print Markdown tables instead of the plain table, or write them to a file if given one.")
def bench(models, batches, warmup, iters, seconds, end_to_end, power, power_interval, json_path, markdown,
          backend_options):
    """Measure latency percentiles and throughput of MODELS (.pt, .onnx, .engine), interleaved.

    Every model gets the same input; with several models the rounds alternate between them, and each is
    given as a ratio to the first, so noise from the machine cancels out. Each model gets the backend
    options (--provider, --device, --threads...) its backend takes.
    """
    from edgetl.bench import BenchConfig, bench_models, to_markdown
    from edgetl.errors import EdgetlError
    from edgetl.fileio import check_output

    if iters is not None and seconds is not None:
        raise click.UsageError("give --iters or --seconds, not both")
    for path in (json_path, None if markdown == "-" else markdown):
        if path:
            check_output(path)
    cfg = BenchConfig(batches=batches, warmup=warmup, iters=iters, seconds=seconds, options=backend_options,
                      end_to_end=end_to_end,
                      power={None: "auto", True: "on", False: "off"}[power], power_interval_ms=power_interval)
    bar = _RoundBar(len(batches), iters)
    try:
        report = bench_models([str(m) for m in models], cfg, on_round=bar.update)
    except EdgetlError:
        bar.close()
        raise
    bar.close()
    data = report.to_dict()
    if markdown == "-":
        click.echo(to_markdown(data), nl=False)
    else:
        _print_table(data["results"])
        if markdown:
            report.write_markdown(markdown)
            click.echo(f"markdown: {markdown}")
    if json_path:
        report.write_json(json_path)
        click.echo(f"json: {json_path}")


class _RoundBar:
    """A bar over timed rounds, one per batch size, on stderr and only on a terminal (so piped Markdown and
    logs stay clean)."""

    def __init__(self, batches: int, iters: int | None):
        self.bar: Bar | None = None
        self.batch: int | None = None
        self.total = iters

    def update(self, batch: int) -> None:
        if batch != self.batch:
            self.close()
            self.batch = batch
            self.bar = Bar(self.total, desc=f"batch {batch}", unit="round")
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
