"""``edgetl export RUN``: verified FP32 ONNX and, on request, an INT8 model that passed its gates.

Everything is written into a staging folder inside RUN and moved into place only when every check
passed, so a failed export never replaces files a previous export wrote. RUN is checked before the work
starts (a folder that can be written, with room for the models), a failed write is one ``OutputError``
naming the file, and staging folders a killed export left are removed by the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from edgetl import __version__
from edgetl.checkpoint import load_model, read_model_file
from edgetl.data import calibration as cal
from edgetl.data.images import ImageSet, load_images
from edgetl.data.layouts import load_dataset
from edgetl.data.samples import Sample, SplitData
from edgetl.errors import DataError, ExportError, OutputError
from edgetl.export import cpu_form, qat
from edgetl.export.evaluate import accuracy, check_parity, measure_latency, predict_logits, reference_logits
from edgetl.export.onnx_export import DEFAULT_OPSET, build_onnx, set_metadata, sidecar_path, write_onnx
from edgetl.export.qat import QatConfig
from edgetl.export.quantize import (DEFAULT_TARGET, CpuFeatures, TargetPreset, cache_file, cache_key,
                                    calibration_reader, candidate_forms, check_opset, cpu_features, get_method,
                                    get_target, prepare_for_quantization, quantization_summary, quantize_int8)
from edgetl.export.sensitivity import rank_sensitive_nodes
from edgetl.fileio import (check_output, read_json, remove_stale_temps, sha256_file, staging_folder, write_json,
                           writing)
from edgetl.runtime.onnxruntime_runner import OnnxRuntimeRunner, session_config
from edgetl.spec import ModelInfo

log = logging.getLogger(__name__)

FP32_NAME, INT8_NAME, MANIFEST_NAME, REPORT_NAME = "model.onnx", "model.int8.onnx", "calibration.json", "export.json"
CACHE_DIR = "calib_cache"
STAGING_PREFIX = ".export-"
OUTPUTS = (FP32_NAME, f"{FP32_NAME}.json", INT8_NAME, f"{INT8_NAME}.json", MANIFEST_NAME, REPORT_NAME)
EVAL_WITH = {True: "Q/DQ arithmetic as written (onnxruntime, optimisations off)",
             False: "onnxruntime CPU, optimised integer kernels (what --target cpu deploys)"}


@dataclass(frozen=True)
class ExportConfig:
    """What ``edgetl export`` was asked to do; defaults are the documented CLI defaults."""

    run: Path
    opset: int = DEFAULT_OPSET
    softmax: bool = False
    verify: bool = True
    int8: bool = False
    target: str = DEFAULT_TARGET
    method: str | None = None  # None: the target preset's measured default
    calib: Path | None = None  # a folder or a manifest; None: the run data's calib/ split
    calib_size: int = cal.DEFAULT_SIZE
    min_calib: int = cal.MIN_IMAGES
    max_drop: float = 0.5  # percentage points of top-1
    eval_split: str = "val"
    data: Path | None = None  # overrides the data root recorded in RUN/config.json
    threads: int = 1
    latency_iters: int = 50
    seed: int = cal.DEFAULT_SEED
    rechoose: bool = False  # measure the CPU forms again instead of reusing the cached choice
    qat: QatConfig | None = None  # quantization-aware training after PTQ (edgetl.export.qat); None: off


@dataclass
class ExportResult:
    report: dict[str, Any]
    files: list[Path]
    notices: list[str] = field(default_factory=list)  # what the user must read: said loudly by the CLI


@contextlib.contextmanager
def staging(run: Path) -> Iterator[Path]:
    """A staging folder in RUN, removed afterwards; a failed write in it names the file as it would be in RUN."""
    with staging_folder(run, STAGING_PREFIX) as d:
        try:
            with writing(run):
                yield d
        except OutputError as exc:
            raise OutputError(f"{str(exc).replace(str(d), str(run))}; nothing in {run} was replaced") from exc


def _commit(stage: Path, run: Path, names: list[str]) -> list[Path]:
    out = []
    for name in names:
        with writing(run / name, stage / name):
            os.replace(stage / name, run / name)
        out.append(run / name)
    return out


def _check_run_folder(run: Path, cfg: ExportConfig) -> None:
    """Before any work: clear what a killed export left, and see that RUN takes the models to be written
    (the FP32 ONNX is about the size of model.pt; INT8 adds a prepared copy and the quantized model)."""
    remove_stale_temps(run, OUTPUTS, (STAGING_PREFIX,))
    model_pt = run / "model.pt"
    size = model_pt.stat().st_size if model_pt.is_file() else 0
    check_output(run, kind="folder", need_bytes=size * (3 if cfg.int8 else 1) or None)
    for name in OUTPUTS:
        check_output(run / name)


def _run_config(run: Path) -> dict[str, Any]:
    path = run / "config.json"
    try:
        return read_json(path) if path.is_file() else {}
    except ValueError as exc:
        raise ExportError(f"{path} is not valid JSON ({exc}); fix it or pass --data DIR") from exc


def open_data(cfg: ExportConfig) -> SplitData | None:
    """The run's data (splits as training made them), or None when none is recorded or given."""
    conf = _run_config(cfg.run)
    root = cfg.data or conf.get("data")
    if root is None:
        return None
    root = Path(root)
    if not root.is_absolute() and not root.exists() and (cfg.run / root).exists():  # a folder or a manifest
        root = cfg.run / root
    kw = {k: conf[k] for k in ("val_fraction", "test_fraction", "seed") if k in conf and cfg.data is None}
    return load_dataset(root, **kw)


def _eval_samples(data: SplitData | None, split: str, why: str) -> list[Sample]:
    if data is None:
        raise DataError(f"{why} needs labelled images, but the run records no data root: pass --data DIR")
    samples = data.splits.get(split)
    if not samples:
        raise DataError(f"{data.root} has no {split} split for {why}: pass --eval-split with one of "
                        f"{', '.join(k for k, v in data.splits.items() if v and k != 'train')}")
    return samples


def _check_classes(data: SplitData | None, info: ModelInfo) -> None:
    if data is not None and tuple(data.classes) != tuple(info.labels):
        raise DataError(f"{data.root} has classes {data.classes[:5]}... but the model was trained on "
                        f"{list(info.labels)[:5]}...: pass the run's own data with --data")


def export_run(cfg: ExportConfig, train_callbacks=None) -> ExportResult:
    """Export RUN/model.pt; with ``cfg.int8`` also quantize (and with ``cfg.qat`` train through the
    quantizer, ``train_callbacks`` seeing its epochs); write export.json; return the report."""
    run = Path(cfg.run)
    if run.is_file():
        raise ExportError(f"{run} is a file, not a run folder: export starts from the folder 'edgetl finetune' "
                          f"wrote (it holds model.pt{', which QAT trains' if cfg.qat and cfg.qat.enabled else ''})")
    if not run.is_dir():
        raise ExportError(f"{run}: no such run folder (expected the folder 'edgetl finetune' wrote)")
    model, info = load_model(run / "model.pt")
    _check_run_folder(run, cfg)
    preset = get_target(cfg.target) if cfg.int8 else None
    if preset:
        check_opset(cfg.opset, preset)
    data = open_data(cfg) if (cfg.verify or cfg.int8) else None
    _check_classes(data, info)
    if cfg.qat and cfg.qat.enabled:
        _check_qat(cfg, preset, data)
    result = ExportResult({"edgetl_version": __version__, "source_sha256": info.source_sha256}, [])
    with staging(run) as stage:
        proto = build_onnx(model, info, opset=cfg.opset, softmax=cfg.softmax)
        fp32 = write_onnx(proto, stage / FP32_NAME, info, softmax=cfg.softmax, verified=cfg.verify)
        names = [FP32_NAME, sidecar_path(FP32_NAME).name]
        evalset = load_images(_eval_samples(data, cfg.eval_split, "verification"), info.preprocess) if data else None
        result.report["fp32"] = _fp32_report(cfg, model, fp32, info, evalset, result.notices)
        if preset:
            names += _int8(cfg, preset, run, stage, fp32, info, data, evalset, result, model, train_callbacks)
        else:
            s = info.preprocess.size
            one = next(evalset.batches(1)) if evalset else np.zeros((1, 3, s, s), np.float32)
            lat = measure_latency({"fp32": fp32}, one, cfg.threads, cfg.latency_iters)
            result.report["fp32"]["latency_ms"] = round(lat["fp32"], 4)
        write_json(stage / REPORT_NAME, result.report)
        result.files = _commit(stage, run, names + [REPORT_NAME])
    return result


def _fp32_report(cfg: ExportConfig, model, fp32: Path, info: ModelInfo, evalset: ImageSet | None,
                 notices: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"file": FP32_NAME, "top1": None, "parity_max_abs": None, "verified": False}
    if evalset is not None:
        with OnnxRuntimeRunner(fp32) as r:
            logits = predict_logits(r, evalset)
        acc = accuracy(logits, evalset.labels, info.labels)
        out.update(acc.to_dict(), eval_split=cfg.eval_split, eval_images=len(evalset))
        if cfg.verify:
            with torch.no_grad():
                ref = np.concatenate([model(torch.from_numpy(b)).numpy() for b in evalset.batches()])
            out.update(parity_max_abs=check_parity(ref, logits), verified=True)
            log.info("ONNX matches torch on %d images (max abs logit difference %.1e)", len(evalset), out["parity_max_abs"])
    if not cfg.verify:
        notices.append("--no-verify: the ONNX model was NOT compared with torch; check it before deploying")
    return out


def calibration_set(cfg: ExportConfig, info: ModelInfo, data: SplitData | None) -> cal.CalibrationSet:
    """From --calib (folder or manifest), else the data's calib/ split, else (warned) its train split."""
    return cal.pick_calibration_set(cfg.calib, data, info.labels, size=cfg.calib_size, seed=cfg.seed,
                                    min_images=cfg.min_calib, eval_split=cfg.eval_split)


@dataclass
class _Trial:
    excluded: tuple[str, ...]
    top1: float
    agreement: float
    accuracy: Any
    logit_rmse: float = 0.0  # RMS difference of the logits from FP32's

    def drop(self, fp32_top1: float) -> float:
        return (fp32_top1 - self.top1) * 100.0


def _int8(cfg: ExportConfig, preset: TargetPreset, run: Path, stage: Path, fp32: Path, info: ModelInfo,
          data: SplitData | None, evalset: ImageSet | None, result: ExportResult, model=None,
          train_callbacks=None) -> list[str]:
    """Calibrate, quantize (in the form for this CPU), gate on accuracy (with the sensitivity search) and
    speed; names to commit. With ``cfg.qat``, QAT may follow and its model replace PTQ's (``_qat_stage``)."""
    method = get_method(cfg.method or preset.default_method).name
    if evalset is None:
        evalset = load_images(_eval_samples(data, cfg.eval_split, "the INT8 accuracy gate"), info.preprocess)
    calib = calibration_set(cfg, info, data)
    cal.write_manifest(stage / MANIFEST_NAME, calib, info.preprocess.to_dict(), cfg.seed)
    calib_images = load_images(calib.samples, info.preprocess)
    reader = calibration_reader(calib_images, method)
    prepared = prepare_for_quantization(fp32, stage / "prepared.onnx")
    model_sha = sha256_file(fp32)
    cpu = cpu_features()
    forms = candidate_forms(preset, cpu)
    # ranges depend on the form only through symmetric or not: forms that agree share one cache file
    keys = {f.name: cache_key(model_sha, calib.sha256, info.preprocess.to_dict(), method, f) for f in forms}
    caches = {name: cache_file(run / CACHE_DIR, key) for name, key in keys.items()}
    reused = {name: path.is_file() for name, path in caches.items()}
    out = stage / INT8_NAME
    fp32_logits = _logits(fp32, evalset)
    fp32_top1 = float((fp32_logits.argmax(1) == evalset.labels).mean())
    with_qat = bool(cfg.qat and cfg.qat.enabled)

    def attempt(form: TargetPreset, excluded: tuple[str, ...], path: Path = out) -> _Trial:
        quantize_int8(prepared, path, reader, form, method, caches[form.name], excluded)
        return _judge(path, excluded, form, cpu, evalset, info, fp32_logits)

    if preset.per_cpu:
        key = cpu_form.choice_key(model_sha256=model_sha, calibration_sha256=calib.sha256,
                                  eval_sha256=_images_sha256(evalset), method=method, max_drop=cfg.max_drop,
                                  threads=cfg.threads, forms=forms, cpu=cpu, session_config=session_config())
        form, trial, choice = _choose_cpu_form(cfg, forms, attempt, cpu, key, evalset, fp32_top1, stage,
                                               run / CACHE_DIR)
    else:
        form, choice = preset, _pinned_choice(preset, cpu)
        trial = attempt(form, ())
    first, all_int8, ptq_error = trial, None, None
    if trial.drop(fp32_top1) > cfg.max_drop:
        if with_qat:  # kept to measure what the float fallbacks cost
            all_int8 = stage / "all-int8.onnx"
            shutil.copyfile(out, all_int8)
        try:
            trial = _sensitivity_search(prepared, out, reader, trial, lambda ex: attempt(form, ex), fp32_top1, cfg,
                                        form, method)
        except ExportError as exc:
            if not with_qat:
                raise
            trial, ptq_error = None, str(exc)
            log.warning("PTQ misses the budget; trying quantization-aware training: %s", exc)
    if trial is not None:  # None: no PTQ model within the budget, and QAT may still find one
        _finish_int8_model(out, info, preset.name, form, method, calib, trial.excluded)
    result.report["int8"] = {
        "file": INT8_NAME, **(_trial_report(trial, fp32_top1) if trial else {}),
        "method": method, "target": preset.name, "form": form.name, "preset": form.to_dict(),
        "max_drop": cfg.max_drop, "evaluated_with": EVAL_WITH[_by_reference(form, cpu)],
        "calibration_cache": {"key": keys[form.name], "reused": reused[form.name]},
        **({"cpu_form": choice} if choice else {}), **(quantization_summary(out) if trial else {}),
    }
    result.report["calibration"] = {"images": len(calib.samples), "per_class": calib.per_class(),
                                    "sha256": calib.sha256, "source": calib.source, "manifest": MANIFEST_NAME}
    if not with_qat:
        _speed_gate(cfg, form, cpu, fp32, out, evalset, result)
    else:
        job = _QatJob(cfg, preset.name, form, cpu, run, stage, fp32, info, data, evalset, result, model, calib,
                      calib_images, fp32_logits, train_callbacks)
        _qat_stage(job, _PtqOutcome(trial, first, all_int8, ptq_error))
    return [INT8_NAME, sidecar_path(INT8_NAME).name, MANIFEST_NAME]


def _judge(path: Path, excluded: tuple[str, ...], form: TargetPreset, cpu: CpuFeatures, evalset: ImageSet,
           info: ModelInfo, fp32_logits: np.ndarray) -> _Trial:
    """An INT8 model's top-1, agreement and logit error against FP32, executed as its deployment executes it."""
    logits = reference_logits(path, evalset) if _by_reference(form, cpu) else _logits(path, evalset)
    acc = accuracy(logits, evalset.labels, info.labels)
    return _Trial(excluded, acc.top1, float((acc.predictions == fp32_logits.argmax(1)).mean()), acc,
                  float(np.sqrt(np.mean((logits - fp32_logits) ** 2))))


def _trial_report(trial: _Trial, fp32_top1: float) -> dict[str, Any]:
    return {"top1": trial.top1, "drop_points": trial.drop(fp32_top1), "agreement": trial.agreement,
            "logit_rmse": trial.logit_rmse, "per_class_recall": trial.accuracy.per_class_recall,
            "float_nodes": list(trial.excluded)}


def _by_reference(form: TargetPreset, cpu: CpuFeatures) -> bool:
    """Judge with Q/DQ executed as written when the form says so, or when it is a CPU form made for another
    class of CPU than this one (whose kernels are then not the deployment CPU's)."""
    return form.reference_numerics or (bool(form.cpu_classes) and not form.made_for(cpu))


def _images_sha256(images: ImageSet) -> str:
    h = hashlib.sha256(images.images.tobytes())
    h.update(images.labels.tobytes())
    return h.hexdigest()


def _choice_record(cpu: CpuFeatures, forms: list[TargetPreset], **fields: Any) -> dict[str, Any]:
    import onnxruntime

    return {"cpu": cpu.to_dict(), "onnxruntime": onnxruntime.__version__, "session_config": session_config(),
            "candidates": [f.name for f in forms], **fields}


def _pinned_choice(form: TargetPreset, cpu: CpuFeatures) -> dict[str, Any] | None:
    """What export.json says about the CPU when --target names a CPU form (None for other targets)."""
    if not form.cpu_classes:
        return None
    reason = f"pinned by --target {form.name}"
    if not form.made_for(cpu):
        reason += (f"; made for {'/'.join(form.cpu_classes)} CPUs and this one is {cpu.int8_class}, so it is judged "
                   f"with Q/DQ as written and timed on the deployment CPU, not here")
    return _choice_record(cpu, [form], chosen=form.name, reason=reason, measured=[], cached=False)


def _choose_cpu_form(cfg: ExportConfig, forms: list[TargetPreset], attempt, cpu: CpuFeatures, key: str,
                     evalset: ImageSet, fp32_top1: float, stage: Path, cache_dir: Path):
    """The form for this CPU (see cpu_form.py): (form, its first trial, the choice record). The chosen model is
    left at ``stage/INT8_NAME``."""
    by_name = {f.name: f for f in forms}
    cached = None if cfg.rechoose else cpu_form.load_choice(cache_dir, key, forms)
    if cached:
        form = by_name[cached["chosen"]]
        log.info("INT8 form for this CPU from the cache: %s (%s)", form.name, cached["reason"])
        rec = _choice_record(cpu, forms, key=key, chosen=form.name, reason=cached["reason"],
                             measured=cached.get("measured", []), cached=True, measured_at=cached.get("measured_at"))
        return form, attempt(form, ()), rec
    if len(forms) == 1:
        reason = f"the only form made for a {cpu.int8_class} CPU"
        return forms[0], attempt(forms[0], ()), _choice_record(cpu, forms, key=key, chosen=forms[0].name,
                                                                 reason=reason, measured=[], cached=False)
    paths = {f.name: stage / f"candidate-{f.name}.onnx" for f in forms}
    trials = {f.name: attempt(f, (), paths[f.name]) for f in forms}
    within = [n for n, t in trials.items() if t.drop(fp32_top1) <= cfg.max_drop]
    lat: dict[str, float] = {}
    if len(within) > 1:
        log.info("timing %s on this CPU", ", ".join(within))
        lat = measure_latency({n: paths[n] for n in within}, next(evalset.batches(1)), cfg.threads, cfg.latency_iters)
    measured = [{"form": n, "top1": t.top1, "drop_points": t.drop(fp32_top1), "agreement": t.agreement,
                 "logit_rmse": t.logit_rmse, "latency_ms": lat.get(n), "within_budget": n in within}
                for n, t in trials.items()]
    name, reason = cpu_form.choose_form(measured, cfg.max_drop)
    log.info("INT8 form for this CPU: %s (%s)", name, reason)
    os.replace(paths[name], stage / INT8_NAME)
    for path in paths.values():
        path.unlink(missing_ok=True)
    rec = _choice_record(cpu, forms, key=key, chosen=name, reason=reason, measured=measured, threads=cfg.threads)
    cpu_form.save_choice(cache_dir, rec)
    return by_name[name], trials[name], {**rec, "cached": False}


def _logits(path: Path, images: ImageSet) -> np.ndarray:
    with OnnxRuntimeRunner(path) as r:
        return predict_logits(r, images)


def _sensitivity_search(prepared: Path, out: Path, reader, first: _Trial, attempt, fp32_top1: float,
                        cfg: ExportConfig, preset: TargetPreset, method: str) -> _Trial:
    """Keep the most sensitive units in float: double their number until within budget, then bisect."""
    log.warning("INT8 loses %.2f points of top-1 (budget %.2f): searching for the layers that cause it",
                first.drop(fp32_top1), cfg.max_drop)
    ranking = [names for names, _ in rank_sensitive_nodes(prepared, out, reader)]
    log.info("most sensitive: %s", "; ".join(",".join(n) for n in ranking[:5]))
    trials: dict[int, _Trial] = {0: first}
    last = [0]  # the attempt whose model is on disk

    def at(k: int) -> _Trial:
        if k not in trials:
            trials[k] = attempt(tuple(dict.fromkeys(n for names in ranking[:k] for n in names)))
            last[0] = k
            log.info("%d tensor(s) kept in float: top-1 %.4f (drop %.2f points)", k, trials[k].top1, trials[k].drop(fp32_top1))
        return trials[k]

    def ok(k: int) -> bool:
        return at(k).drop(fp32_top1) <= cfg.max_drop

    hi = 1
    while hi < len(ranking) and not ok(hi):
        hi *= 2
    hi = min(hi, len(ranking))
    if not ok(hi):
        t = at(hi)
        raise ExportError(
            f"INT8 ({preset.name}, {method}) loses {t.drop(fp32_top1):.2f} points of top-1 (FP32 {fp32_top1:.4f}, "
            f"INT8 {t.top1:.4f}, agreement {t.agreement:.4f}) even with all {hi} quantized layers in float "
            f"(first try: {first.drop(fp32_top1):.2f} points); budget --max-drop {cfg.max_drop}: try another "
            f"--method, a larger calibration set, or deploy FP32 ({FP32_NAME})")
    lo = hi // 2  # known to miss the budget (or 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    best = trials[hi]
    if last[0] != hi:
        attempt(best.excluded)
    log.warning("kept %d tensor(s) in float (nodes: %s) to stay within the budget", hi, ", ".join(best.excluded))
    return best


def _finish_int8_model(path: Path, info: ModelInfo, target: str, preset: TargetPreset, method: str,
                       calib: cal.CalibrationSet, excluded: tuple[str, ...]) -> None:
    import onnx

    q_info = info.replace(precision="int8", extra={
        **dict(info.extra), "target": target, "form": preset.name, "method": method, "float_nodes": list(excluded),
        "calibration_sha256": calib.sha256, "calibration_images": len(calib.samples)})
    proto = onnx.load(str(path))
    set_metadata(proto, q_info)
    write_onnx(proto, path, q_info, preset=preset.to_dict())


def _timed_here(preset: TargetPreset, cpu: CpuFeatures) -> bool:
    """Whether INT8 of ``preset`` runs here on the kernels it is made for, so its speed means something."""
    return preset.speed_gate and (preset.made_for(cpu) or not preset.cpu_classes)


def _speed_gate(cfg: ExportConfig, preset: TargetPreset, cpu: CpuFeatures, fp32: Path, int8: Path,
                evalset: ImageSet, result: ExportResult, lat: dict[str, float] | None = None) -> None:
    """Time FP32 against INT8 where INT8 runs on the kernels it is made for (this CPU's); ``lat``: both
    already timed together, in ms."""
    one = next(evalset.batches(1))
    if not _timed_here(preset, cpu):
        lat = measure_latency({"fp32": fp32}, one, cfg.threads, cfg.latency_iters)
        result.report["fp32"]["latency_ms"] = round(lat["fp32"], 4)
        where = ("on the device ('edgetl build' then 'edgetl bench')" if not preset.cpu_classes else
                 f"on a {'/'.join(preset.cpu_classes)} CPU ('edgetl bench'); this one is {cpu.int8_class}")
        result.report["int8"].update(latency_ms=None, speedup=None, recommended=True,
                                     latency_note=f"not measured on this CPU: a {preset.name} model is timed {where}")
        return
    lat = lat or measure_latency({"fp32": fp32, "int8": int8}, one, cfg.threads, cfg.latency_iters)
    speedup = lat["fp32"] / lat["int8"]
    result.report["fp32"]["latency_ms"] = round(lat["fp32"], 4)
    result.report["int8"].update(latency_ms=round(lat["int8"], 4), speedup=round(speedup, 3),
                                 recommended=speedup > 1.0, threads=cfg.threads)
    if speedup <= 1.0:
        result.notices.append(
            f"INT8 is NOT faster than FP32 here ({lat['int8']:.3f} ms vs {lat['fp32']:.3f} ms at batch 1, "
            f"{speedup:.2f}x): deploy {FP32_NAME} (FP32) on this CPU; {INT8_NAME} is kept only for reference")


# ------------------------------------------------------------------------------ quantization-aware training

def _check_qat(cfg: ExportConfig, preset: TargetPreset | None, data: SplitData | None) -> None:
    """Everything QAT needs, checked before any work: a failed check changes no file."""
    if preset is None:
        raise ExportError("--qat trains the INT8 model: add --int8")
    qat.placement_for(preset)
    qat.preset_specs(preset)  # the target's form and torchao, before any work
    if data is None or not data.splits.get("train"):
        where = f"{data.root} has no train split" if data is not None else "the run records no data root"
        raise DataError(f"QAT fine-tunes on the run's train split, but {where}: pass --data DIR with the "
                        f"train/ images the model was fine-tuned on")


@dataclass
class _PtqOutcome:
    trial: _Trial | None  # None: no PTQ model within the budget
    first: _Trial  # the all-INT8 attempt QAT starts from
    all_int8: Path | None  # that attempt's model, where float fallbacks followed
    error: str | None = None


def _candidate(name: str, trial: _Trial, fp32_top1: float, max_drop: float, speedup: float | None) -> qat.Candidate:
    drop = trial.drop(fp32_top1)
    return qat.Candidate(name, trial.top1, drop, trial.agreement, len(trial.excluded), drop <= max_drop, speedup)


@dataclass
class _QatJob:
    """What quantization-aware training needs from the INT8 export in progress."""

    cfg: ExportConfig
    target: str  # what --target asked for
    preset: TargetPreset  # the form PTQ quantized to (for --target cpu, the one chosen for this CPU)
    cpu: CpuFeatures
    run: Path
    stage: Path
    fp32: Path
    info: ModelInfo
    data: SplitData
    evalset: ImageSet
    result: ExportResult
    model: Any
    calib: cal.CalibrationSet
    calib_images: ImageSet
    fp32_logits: np.ndarray
    callbacks: Any = None

    @property
    def fp32_top1(self) -> float:
        return float((self.fp32_logits.argmax(1) == self.evalset.labels).mean())

    def timed(self, paths: dict[str, Path]) -> tuple[dict[str, float] | None, dict[str, float]]:
        """Batch-1 latency (ms) of FP32 and ``paths`` timed together, and each one's speed-up over FP32;
        (None, {}) where the target is not timed on this machine."""
        if not _timed_here(self.preset, self.cpu):
            return None, {}
        lat = measure_latency({"fp32": self.fp32, **paths}, next(self.evalset.batches(1)), self.cfg.threads,
                              self.cfg.latency_iters)
        return lat, {name: lat["fp32"] / ms for name, ms in lat.items()}

    def candidate(self, name: str, trial: _Trial | None, speed: dict[str, float]) -> qat.Candidate | None:
        return _candidate(name, trial, self.fp32_top1, self.cfg.max_drop, speed.get(name)) if trial else None


def _qat_stage(job: _QatJob, ptq: _PtqOutcome) -> None:
    """Decide whether QAT runs (``--qat auto``: PTQ misses the budget, or its float fallbacks cost more
    than ``--qat-max-cost`` of the speed-up), run it, and keep the better model by the gates' numbers."""
    q, report, out = job.cfg.qat, job.result.report["int8"], job.stage / INT8_NAME
    lat, speed = job.timed({"ptq": out, **({"all_int8": ptq.all_int8} if ptq.all_int8 else {})}) \
        if ptq.trial else (None, {})
    cost = None if lat is None else qat.speed_cost(speed["all_int8"], speed["ptq"]) if "all_int8" in speed else 0.0
    ptq_c = job.candidate("ptq", ptq.trial, speed)
    why = qat.why_qat(q, job.preset, ptq_c, cost)
    selection: dict[str, Any] = {"mode": q.mode, "qat_ran": why is not None, "why_qat": why,
                                 "fallback_speed_cost": None if cost is None else round(cost, 3)}
    report.update(selection=selection, ptq={**(ptq_c.to_dict() if ptq_c else {"within_budget": False}),
                                            **({"error": ptq.error} if ptq.error else {})})
    if why is None:
        winner, reason = "ptq", "PTQ needs no QAT: no float fallbacks, or they cost little of the speed-up"
    else:
        log.info("quantization-aware training: %s", why)
        winner, reason, lat = _run_qat(job, ptq)
    selection.update(winner=winner, why=reason)
    log.info("INT8: %s kept (%s)", winner.upper(), reason)
    _speed_gate(job.cfg, job.preset, job.cpu, job.fp32, out, job.evalset, job.result,
                {"fp32": lat["fp32"], "int8": lat[winner]} if lat else None)


def _run_qat(job: _QatJob, ptq: _PtqOutcome) -> tuple[str, str, dict[str, float] | None]:
    """Train, judge and time the QAT model beside PTQ's; move it into place if it is the better one."""
    q, report, out, raw = job.cfg.qat, job.result.report["int8"], job.stage / INT8_NAME, job.stage / "qat.onnx"
    config = _training_config(job.run)
    if not config:
        job.result.notices.append("QAT: the run records no fine-tuning recipe (model.pt and config.json have none): "
                                  "it trained with finetune's defaults (batch 64, label smoothing 0.1, no flips)")
    recipe = qat.qat_recipe_for(config, job.info, job.data, q)
    training = qat.train_qat(job.model, job.info, job.preset, recipe, job.data, job.calib_images, raw,
                             job.cfg.opset, job.cfg.softmax, job.callbacks)
    _finish_int8_model(raw, job.info, job.target, job.preset, "qat", job.calib, ())
    trial = _judge(raw, (), job.preset, job.cpu, job.evalset, job.info, job.fp32_logits)
    lat, speed = job.timed({**({"ptq": out} if ptq.trial else {}), "qat": raw})
    qat_c, ptq_c = job.candidate("qat", trial, speed), job.candidate("ptq", ptq.trial, speed)
    winner, reason = qat.choose(ptq_c, qat_c)
    report.update(ptq={**report["ptq"], **(ptq_c.to_dict() if ptq_c else {})},
                  qat=_qat_report(q, job.preset, qat_c, ptq.first.drop(job.fp32_top1), ptq, training, job.run))
    if winner == "none":
        raise ExportError(
            f"INT8 ({job.preset.name}) misses --max-drop {job.cfg.max_drop} both ways: PTQ "
            f"{'drop %.2f points' % ptq_c.drop_points if ptq_c else 'misses it even with layers in float'}, QAT drop "
            f"{qat_c.drop_points:.2f} points after {q.epochs} epoch(s): try more --qat-epochs, or deploy FP32 "
            f"({FP32_NAME})")
    if winner == "qat":
        os.replace(raw, out)
        _finish_int8_model(out, job.info, job.target, job.preset, "qat", job.calib, ())  # its sidecar, final name
        report.update(_trial_report(trial, job.fp32_top1), method="qat", **quantization_summary(out))
    return winner, reason, lat


def _training_config(run: Path) -> dict[str, Any]:
    """The recipe finetune recorded: in model.pt, else RUN/config.json (empty where neither has one)."""
    conf = read_model_file(run / "model.pt").get("config") or _run_config(run)
    return conf if any(k != "data" for k in conf) else {}


def _qat_report(q: QatConfig, preset: TargetPreset, c: qat.Candidate, start_drop: float, ptq: _PtqOutcome,
                training, run: Path) -> dict[str, Any]:
    metrics = run / "metrics.json"
    rates = [e.get("images_per_s") for e in read_json(metrics).get("epochs", [])] if metrics.is_file() else []
    rates = [r for r in rates if r]
    return {**c.to_dict(), "epochs": q.epochs, "lr": q.lr, "placement": qat.placement_for(preset).name,
            "calibration": "MinMax ranges on the PTQ calibration images, then held",
            "start_ptq_drop_points": start_drop, "ptq_float_nodes": len(ptq.trial.excluded) if ptq.trial else None,
            "seconds_per_epoch": round(training.seconds_per_epoch, 2), "images_per_s": training.images_per_s,
            "finetune_images_per_s": round(sum(rates) / len(rates), 1) if rates else None,
            "history": training.history}
