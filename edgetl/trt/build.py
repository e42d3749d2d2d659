"""``build_engine``: ONNX -> TensorRT plan (``MODEL.engine``) plus its manifest (``MODEL.engine.json``).

Everything here is plain Python around ``edgetl.trt.api``, the one module that calls TensorRT: it
reads the ONNX graph, picks the builder flags for the TensorRT version, loads and saves the timing
cache, writes the plan and the manifest atomically, and decides whether an existing engine is stale.
``prepare_engine`` is that decision made before a runner loads an engine (the TensorRT backend's
``prepare`` step): the runner itself only loads and runs.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from edgetl.data.calibration import DEFAULT_SEED, MIN_IMAGES, pick_calibration_set
from edgetl.data.images import load_images
from edgetl.errors import DataError, ModelError, RuntimeBackendError
from edgetl.fileio import check_output, sha256_bytes, sha256_file, write_bytes
from edgetl.onnxinfo import has_qdq, info_from_model, load_onnx
from edgetl.spec import ModelInfo
from edgetl.trt import api
from edgetl.trt.device import current_device
from edgetl.trt.manifest import (EngineManifest, manifest_path, read_manifest, rebuild_hint, relative_onnx,
                                 stale_reasons, write_manifest)
from edgetl.trt.options import BuildError, BuildOptions, GraphFacts, PrecisionPlan, plan_precision, rebatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildOutcome:
    engine: Path
    manifest: EngineManifest
    plan: PrecisionPlan
    built: bool  # False when an up-to-date engine was kept


def default_engine_path(onnx: str | os.PathLike) -> Path:
    """``model.onnx`` -> ``model.engine``; ``model.int8.onnx`` -> ``model.int8.engine``."""
    return Path(onnx).with_suffix(".engine")


def read_graph(onnx_path: str | os.PathLike) -> tuple[GraphFacts, ModelInfo]:
    """The graph facts the builder needs and the model description stored in the ONNX."""
    model = load_onnx(onnx_path)
    graph = model.graph
    init_names = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in init_names]
    if len(inputs) != 1:
        raise ModelError(f"{onnx_path} has {len(inputs)} inputs: edgetl builds classifiers with one image input")
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or -1)
                 for d in inputs[0].type.tensor_type.shape.dim)
    fp16 = 10  # onnx.TensorProto.FLOAT16
    has_fp16 = any(t.data_type == fp16 for t in graph.initializer) or any(
        v.type.tensor_type.elem_type == fp16 for v in (*graph.input, *graph.output, *graph.value_info))
    facts = GraphFacts(input_name=inputs[0].name, input_dims=dims, has_qdq=has_qdq(model), has_fp16=has_fp16)
    return facts, info_from_model(model, onnx_path)


def profile_shapes(facts: GraphFacts, opts: BuildOptions, size: int, onnx_name: str):
    """(min, opt, max) input shapes for the optimisation profile, or None for a static graph."""
    fixed = facts.fixed_batch
    if not facts.dynamic:
        b = opts.batch
        if (b.min, b.max) != (fixed, fixed):
            raise BuildError(f"{onnx_name} has a fixed batch of {fixed}: use --batch {fixed}, or export it with a "
                             "dynamic batch")
        return None
    if fixed is not None and (opts.batch.min, opts.batch.max) != (fixed, fixed):
        raise BuildError(f"{onnx_name} has a fixed batch of {fixed}: use --batch {fixed}")
    return opts.batch.shapes(size)


def calibration_source(source: str | os.PathLike, info: ModelInfo, size: int, batch: int,
                       seed: int = DEFAULT_SEED, min_images: int = MIN_IMAGES):
    """The calibration set 'edgetl export --int8' would use for ``source`` (a folder of class folders or
    images, or a calibration manifest), as (its sha256, preprocessed batches of ``batch``)."""
    cset = pick_calibration_set(source, None, info.labels, size=size, seed=seed, min_images=min_images)
    if len(cset.samples) < batch:
        raise DataError(f"--calib {source}: {len(cset.samples)} images, fewer than one batch of {batch}")
    return cset.sha256, load_images(cset.samples, info.preprocess).batches(batch)


def build_engine(onnx_path: str | os.PathLike, out: str | os.PathLike | None = None,
                 options: BuildOptions | None = None) -> BuildOutcome:
    """Build ``out`` (default: beside the ONNX, ``.engine``) and its manifest; returns what was built."""
    opts = options or BuildOptions()
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise ModelError(f"{onnx_path}: no such ONNX model; run 'edgetl export' first")
    engine = Path(out) if out else default_engine_path(onnx_path)
    for path in (engine, manifest_path(engine), opts.timing_cache):  # before a build that can take minutes
        if path:
            check_output(path)
    facts, info = read_graph(onnx_path)
    trt_version = api.version()
    plan = plan_precision(trt_version, opts, facts, onnx_path.name)
    for note in plan.notes:
        log.info("%s", note)
    size = info.preprocess.size
    shapes = profile_shapes(facts, opts, size, onnx_path.name)
    calib_shape = (opts.batch.opt, 3, size, size)
    calib_sha, batches = (calibration_source(opts.calib, info, opts.calib_size, opts.batch.opt) if plan.calibrate
                          else (None, None))
    request = api.BuildRequest(
        onnx=onnx_path, input_name=facts.input_name, plan=plan, shapes=shapes, dla_core=opts.dla_core,
        workspace_bytes=opts.workspace_mib * (1 << 20) if opts.workspace_mib else None,
        timing_cache=_load_timing_cache(opts.timing_cache),
        calibration=rebatch(batches, opts.batch.opt) if batches is not None else None,
        calibration_shape=calib_shape if plan.calibrate else None,
    )
    log.info("building %s from %s with TensorRT %s (%s)", engine, onnx_path, trt_version,
             ", ".join(plan.flags) or "no precision flags")
    result = api.build_serialized(request)
    write_bytes(engine, result.plan)
    if opts.timing_cache and result.timing_cache is not None:
        write_bytes(opts.timing_cache, result.timing_cache)
    manifest = _manifest_for(engine, onnx_path, result.plan, trt_version, plan, opts, facts, shapes, info, calib_sha)
    write_manifest(engine, manifest)
    return BuildOutcome(engine, manifest, plan, built=True)


def _load_timing_cache(path: str | None) -> bytes | None:
    if not path:
        return None
    p = Path(path)
    if p.is_file():
        log.info("timing cache: %s", p)
        return p.read_bytes()
    log.info("timing cache: %s does not exist yet, it will be written after the build", p)
    return b""


def _manifest_for(engine: Path, onnx_path: Path, plan_bytes: bytes, trt_version: str, plan: PrecisionPlan,
                  opts: BuildOptions, facts: GraphFacts, shapes, info: ModelInfo,
                  calib_sha: str | None) -> EngineManifest:
    if shapes is None:
        static = tuple(int(d) for d in facts.input_dims)
        shapes = (static, static, static)
    profile = {"input": facts.input_name, "min": list(shapes[0]), "opt": list(shapes[1]), "max": list(shapes[2])}
    return EngineManifest(
        tensorrt_version=trt_version, device=current_device(), precision=plan.precision, flags=plan.flags,
        strongly_typed=plan.strongly_typed, profiles=(profile,), dla_core=opts.dla_core,
        onnx=relative_onnx(onnx_path, engine), onnx_sha256=sha256_file(onnx_path),
        engine_sha256=sha256_bytes(plan_bytes), model=info.replace(precision=plan.precision), options=opts,
        calibration_sha256=calib_sha,
    )


def check_engine(engine: str | os.PathLike) -> list[str]:
    """Why ``engine`` does not fit this TensorRT, GPU or its ONNX (empty: it fits, or has no manifest)."""
    manifest = read_manifest(engine)
    if manifest is None:
        return []
    return stale_reasons(manifest, engine, api.version(), current_device())


def stale_message(engine: str | os.PathLike, reasons: list[str]) -> str:
    manifest = read_manifest(engine)
    how = f"rebuild it with '{rebuild_hint(manifest, engine)}'" if manifest else "rebuild it with 'edgetl build'"
    return f"{engine} is stale ({'; '.join(reasons)}): {how}, or pass --rebuild-stale"


def prepare_engine(engine: str | os.PathLike, rebuild_stale: bool = False) -> None:
    """Before ``engine`` is loaded: stop if it is stale, with the command that rebuilds it, or rebuild it
    from its ONNX when ``rebuild_stale`` is set. An engine without a manifest passes unchecked."""
    reasons = check_engine(engine)
    if reasons and not rebuild_stale:
        raise RuntimeBackendError(stale_message(engine, reasons))
    if reasons:
        rebuild(engine)


def rebuild(engine: str | os.PathLike) -> BuildOutcome:
    """Rebuild ``engine`` from its ONNX with the options recorded in its manifest."""
    manifest = read_manifest(engine)
    if manifest is None:
        raise ModelError(f"{engine} has no manifest ({Path(engine).name}.json), so edgetl does not know its ONNX: "
                         "rebuild it with 'edgetl build MODEL.onnx'")
    onnx = manifest.onnx_path(engine)
    if not onnx.is_file():
        raise ModelError(f"{engine} cannot be rebuilt here: its ONNX {onnx} is missing; copy it beside the engine")
    log.warning("rebuilding %s from %s", engine, onnx)
    return build_engine(onnx, engine, manifest.options)


def ensure_engine(onnx_path: str | os.PathLike, out: str | os.PathLike | None = None,
                  options: BuildOptions | None = None) -> BuildOutcome:
    """Keep an up-to-date engine built with the same options; build it if missing or stale."""
    opts = options or BuildOptions()
    engine = Path(out) if out else default_engine_path(onnx_path)
    manifest = read_manifest(engine) if engine.is_file() else None
    if manifest is not None:
        reasons = stale_reasons(manifest, engine, api.version(), current_device())
        if manifest.options != opts:
            reasons.append("it was built with other options")
        if not reasons:
            log.info("%s is up to date", engine)
            return BuildOutcome(engine, manifest, plan=PrecisionPlan(manifest.precision, manifest.flags,
                                                                     manifest.strongly_typed), built=False)
        log.warning("%s is stale (%s): rebuilding", engine, "; ".join(reasons))
    return build_engine(onnx_path, engine, opts)
