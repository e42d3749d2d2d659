"""``edgetl build MODEL.onnx``: a TensorRT engine and its manifest, on the device that will run it."""

from __future__ import annotations

import time
from pathlib import Path

import click

from edgetl.data.calibration_defaults import DEFAULT_SIZE as DEFAULT_CALIB_SIZE
from edgetl.trt.options import PRECISIONS, BatchProfile, BuildError, BuildOptions


def _batch(ctx, param, value: str) -> BatchProfile:
    try:
        return BatchProfile.parse(value)
    except BuildError as exc:
        raise click.BadParameter(str(exc).removeprefix(f"--batch {value!r}: ")) from None


@click.command()
@click.argument("onnx", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Engine path [default: MODEL.engine beside the ONNX]; the manifest is ENGINE.json.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="auto: int8 for a Q/DQ graph, else fp16. int8 takes its scales from the Q/DQ graph "
                   "(TensorRT 8.x: calibrates a plain graph with --calib). best: fp16 plus int8 where quantized.")
@click.option("--batch", default=str(BatchProfile()), callback=_batch, show_default=True, metavar="MIN:OPT:MAX",
              help="Batch sizes the engine accepts (N for a fixed batch), tuned for OPT; the default takes the "
                   "camera loop's crops of a frame (up to its --max-boxes) as one batch.")
@click.option("--dla", "dla_core", type=click.IntRange(0), default=None,
              help="Run on this DLA core (Jetson AGX/NX Orin, Xavier), layers DLA cannot run fall back to the GPU.")
@click.option("--workspace", "workspace_mib", type=click.IntRange(1), default=None, metavar="MIB",
              help="Builder workspace limit in MiB [default: TensorRT's, the device memory].")
@click.option("--timing-cache", type=click.Path(dir_okay=False), default=None,
              help="Load layer timings from this file if it exists and save them after the build (faster rebuilds).")
@click.option("--calib", type=click.Path(exists=True), default=None,
              help="TensorRT 8.x implicit INT8 only: calibration folder or manifest, as for 'edgetl export --int8'.")
@click.option("--calib-size", type=click.IntRange(1), default=DEFAULT_CALIB_SIZE, show_default=True,
              help="Images sampled class-stratified from a --calib folder.")
@click.option("--rebuild-stale", is_flag=True,
              help="Keep an existing engine that is up to date; build only when it is missing or stale.")
def build(onnx: Path, output: Path | None, precision: str, batch: BatchProfile, dla_core: int | None,
          workspace_mib: int | None, timing_cache: str | None, calib: str | None, calib_size: int,
          rebuild_stale: bool) -> None:
    """Build a TensorRT engine from ONNX (run it on the device that will use the engine).

    Writes MODEL.engine, a plain serialized plan that trtexec and DeepStream load, and MODEL.engine.json
    with the TensorRT version, device, precision, profile and the ONNX's hash.
    """
    from edgetl.trt.build import build_engine, ensure_engine

    opts = BuildOptions(precision=precision, batch=batch, dla_core=dla_core, workspace_mib=workspace_mib,
                        timing_cache=timing_cache, calib=calib, calib_size=calib_size)
    start = time.perf_counter()
    outcome = (ensure_engine if rebuild_stale else build_engine)(onnx, output, opts)
    m = outcome.manifest
    if not outcome.built:
        click.echo(f"{outcome.engine} is up to date (TensorRT {m.tensorrt_version}, {m.precision}); nothing to do")
        return
    for note in outcome.plan.notes:
        click.echo(f"note: {note}")
    flags = ", ".join(outcome.plan.flags) + (" strongly typed" if outcome.plan.strongly_typed else "")
    click.echo(f"built {outcome.engine} in {time.perf_counter() - start:.1f} s: TensorRT {m.tensorrt_version}, "
               f"{m.precision} ({flags.strip(', ') or 'no precision flags'}), batch {batch}"
               + (f", DLA core {dla_core}" if dla_core is not None else ""))
    click.echo(f"manifest: {outcome.engine}.json")
    click.echo(f"next: edgetl bench {outcome.engine}")
