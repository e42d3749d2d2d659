"""Which INT8 form ``--target cpu`` keeps on this CPU, and the cached record of that choice.

Where the CPU's class admits one form (AVX2 without VNNI: only 7-bit weights stay accurate), that form is
taken. Where several are plausible, the export quantizes each one, judges it with this CPU's kernels and
times the ones within ``--max-drop`` against each other in interleaved rounds (FP32 is left out of those
rounds: a model timed right after FP32 runs on caches FP32 has emptied); ``choose_form`` then keeps the fastest. Timings within ``TIE_TOLERANCE`` of each other are
below what batch-1 timing resolves on a shared machine, so among those the form that loses the least
top-1 wins, then the one whose logits stay closest to FP32's: a measure over every image, where top-1 and
agreement move by whole images. The choice is measured once per model
and CPU: it is cached in the run folder under a key made of everything it depends on.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from edgetl.export.quantize import CpuFeatures, TargetPreset
from edgetl.fileio import read_json, sha256_json, write_json

log = logging.getLogger(__name__)

TIE_TOLERANCE = 0.05  # relative latency difference below which two forms count as equally fast


def choose_form(candidates: Sequence[Mapping[str, Any]], max_drop: float,
                tolerance: float = TIE_TOLERANCE) -> tuple[str, str]:
    """(form, reason) from candidates ``{"form", "drop_points", "logit_rmse", "latency_ms"}`` (latency None
    where not timed; logit_rmse: RMS difference of the logits from FP32's).

    The fastest within ``max_drop``, ties within ``tolerance`` going to the smaller drop, then the smaller
    logit error; with none within the budget, the one that loses least (its sensitive layers are then
    searched).
    """
    if not candidates:
        raise ValueError("no candidate forms")
    within = [c for c in candidates if c["drop_points"] <= max_drop]
    if not within:
        best = min(candidates, key=lambda c: (c["drop_points"], c["logit_rmse"]))
        return best["form"], (f"no form stays within --max-drop {max_drop:g} as quantized; {best['form']} loses "
                              f"the least ({best['drop_points']:.2f} points), so its sensitive layers are searched")
    if len(within) == 1:
        only = within[0]
        return only["form"], (f"the only form within --max-drop {max_drop:g} on this CPU "
                              f"({only['drop_points']:.2f} points)")
    fastest = min(within, key=lambda c: c["latency_ms"])
    near = [c for c in within if c["latency_ms"] <= fastest["latency_ms"] * (1.0 + tolerance)]
    best = min(near, key=lambda c: (c["drop_points"], c["logit_rmse"], c["latency_ms"]))
    if best is fastest:
        return best["form"], (f"the fastest form within --max-drop {max_drop:g} on this CPU "
                              f"({best['latency_ms']:.3f} ms, {best['drop_points']:.2f} points)")
    loses = (f"loses less ({best['drop_points']:.2f} vs {fastest['drop_points']:.2f} points)"
             if best["drop_points"] < fastest["drop_points"] else
             f"loses as little, with logits closer to FP32's (RMS error {best['logit_rmse']:.4f} vs "
             f"{fastest['logit_rmse']:.4f})")
    return best["form"], (f"{best['form']} and {fastest['form']} time within {tolerance:.0%} of each other "
                          f"({best['latency_ms']:.3f} vs {fastest['latency_ms']:.3f} ms) and {best['form']} {loses}")


def choice_key(*, model_sha256: str, calibration_sha256: str, eval_sha256: str, method: str, max_drop: float,
               threads: int, forms: Sequence[TargetPreset], cpu: CpuFeatures,
               session_config: Mapping[str, str]) -> str:
    """Everything the choice depends on: the model, the images that calibrate and judge it, the method and
    budget, the candidates, the CPU, onnxruntime (its version and session configuration) and the threads."""
    import onnxruntime

    return sha256_json({"model": model_sha256, "calibration": calibration_sha256, "eval": eval_sha256,
                        "method": method, "max_drop": max_drop, "threads": threads,
                        "forms": [f.to_dict() for f in forms], "cpu": cpu.to_dict(),
                        "onnxruntime": onnxruntime.__version__, "session_config": dict(session_config)})


def choice_file(cache_dir: str | os.PathLike, key: str) -> Path:
    return Path(cache_dir) / f"cpu-form-{key[:24]}.json"


def load_choice(cache_dir: str | os.PathLike, key: str, forms: Sequence[TargetPreset]) -> dict[str, Any] | None:
    """The cached choice for ``key`` if there is a readable one naming one of ``forms``; else None."""
    path = choice_file(cache_dir, key)
    if not path.is_file():
        return None
    try:
        doc = read_json(path)
    except ValueError as exc:
        log.warning("cached INT8 form choice %s is unreadable (%s): measuring again", path, exc)
        return None
    if not isinstance(doc, dict) or doc.get("key") != key or doc.get("chosen") not in {f.name for f in forms}:
        log.warning("cached INT8 form choice %s does not match this export: measuring again", path)
        return None
    return doc


def save_choice(cache_dir: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write the choice record (with the key in it) atomically; returns its path."""
    doc = {**record, "measured_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    return write_json(choice_file(cache_dir, record["key"]), doc)
