"""``MODEL.engine.json``: what an engine is, where and from what it was built, and whether it still fits.

The engine itself stays a plain serialized TensorRT plan (trtexec and DeepStream load it); all
metadata lives in this sidecar. ``stale_reasons`` says why an engine no longer fits the running
TensorRT, the device, or its ONNX, and ``rebuild_hint`` says how to rebuild it.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetl import __version__
from edgetl.errors import ModelError
from edgetl.fileio import read_json, sha256_file, write_json
from edgetl.spec import ModelInfo
from edgetl.trt.device import DeviceFacts
from edgetl.trt.options import BuildOptions, parse_version

log = logging.getLogger(__name__)

FORMAT = "edgetl.engine"
FORMAT_VERSION = 1


def manifest_path(engine: str | os.PathLike) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


@dataclass(frozen=True)
class EngineManifest:
    tensorrt_version: str
    device: DeviceFacts
    precision: str
    flags: tuple[str, ...]
    strongly_typed: bool
    profiles: tuple[dict[str, Any], ...]  # {"input": name, "min": shape, "opt": shape, "max": shape}
    dla_core: int | None
    onnx: str  # path of the ONNX, relative to the engine's folder where possible
    onnx_sha256: str
    engine_sha256: str
    model: ModelInfo
    options: BuildOptions
    calibration_sha256: str | None = None  # the calibration set of an implicitly calibrated INT8 engine
    built_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    edgetl_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "tensorrt_version": self.tensorrt_version, "device": self.device.to_dict(),
            "precision": self.precision, "flags": list(self.flags), "strongly_typed": self.strongly_typed,
            "profiles": [dict(p) for p in self.profiles], "dla_core": self.dla_core,
            "onnx": self.onnx, "onnx_sha256": self.onnx_sha256, "engine_sha256": self.engine_sha256,
            "calibration_sha256": self.calibration_sha256,
            "built_at": self.built_at, "edgetl_version": self.edgetl_version,
            "build_options": self.options.to_dict(), "model": self.model.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "engine manifest") -> "EngineManifest":
        if d.get("format") != FORMAT:
            raise ModelError(f"{where} is not an edgetl engine manifest (format {d.get('format')!r})")
        if int(d.get("format_version", 0)) > FORMAT_VERSION:
            raise ModelError(f"{where} was written by a newer edgetl ({d.get('edgetl_version')}): upgrade edgetl")
        try:
            return cls(
                tensorrt_version=str(d["tensorrt_version"]), device=DeviceFacts(**d.get("device", {})),
                precision=str(d["precision"]), flags=tuple(d.get("flags", ())),
                strongly_typed=bool(d.get("strongly_typed", False)),
                profiles=tuple(d.get("profiles", ())), dla_core=d.get("dla_core"),
                onnx=str(d["onnx"]), onnx_sha256=str(d["onnx_sha256"]), engine_sha256=str(d["engine_sha256"]),
                model=ModelInfo.from_dict(d["model"]), options=BuildOptions.from_dict(d.get("build_options", {})),
                calibration_sha256=d.get("calibration_sha256"),
                built_at=str(d.get("built_at", "")), edgetl_version=str(d.get("edgetl_version", "unknown")),
            )
        except (KeyError, TypeError) as exc:
            raise ModelError(f"{where} is incomplete ({exc}): rebuild the engine with 'edgetl build'") from exc

    def onnx_path(self, engine: str | os.PathLike) -> Path:
        p = Path(self.onnx)
        return p if p.is_absolute() else Path(engine).parent / p


def write_manifest(engine: str | os.PathLike, manifest: EngineManifest) -> Path:
    return write_json(manifest_path(engine), manifest.to_dict())


def read_manifest(engine: str | os.PathLike) -> EngineManifest | None:
    """The engine's manifest, or None if the engine has no sidecar (e.g. built by trtexec)."""
    path = manifest_path(engine)
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is not readable JSON ({exc}): rebuild the engine with 'edgetl build'") from exc
    return EngineManifest.from_dict(data, str(path))


def relative_onnx(onnx: str | os.PathLike, engine: str | os.PathLike) -> str:
    """The ONNX path as the manifest stores it: relative to the engine's folder, so both can move together."""
    try:
        return os.path.relpath(Path(onnx).resolve(), Path(engine).resolve().parent)
    except ValueError:  # another drive on Windows
        return str(Path(onnx).resolve())


def stale_reasons(manifest: EngineManifest, engine: str | os.PathLike, trt_version: str,
                  device: DeviceFacts) -> list[str]:
    """Why this engine does not fit the running TensorRT, device or its ONNX; empty if it fits.

    TensorRT plans only load in the TensorRT release that built them, on a GPU of the same compute
    capability. A changed ONNX means the engine no longer is that model.
    """
    reasons = []
    if Path(engine).is_file() and sha256_file(engine) != manifest.engine_sha256:
        reasons.append(f"{engine} is not the engine its manifest describes (it was replaced after the build)")
    if parse_version(manifest.tensorrt_version) != parse_version(trt_version):
        reasons.append(f"built with TensorRT {manifest.tensorrt_version}, this is TensorRT {trt_version}")
    built_cc, here_cc = manifest.device.compute_capability, device.compute_capability
    if built_cc and here_cc and built_cc != here_cc:
        reasons.append(f"built for {manifest.device.gpu} (compute {built_cc}), this GPU is {device.gpu} "
                       f"(compute {here_cc})")
    elif manifest.device.gpu and device.gpu and manifest.device.gpu != device.gpu:
        log.warning("%s was built on %s and runs on %s: same compute capability, so it loads, but rebuild it here "
                    "for the best kernels", engine, manifest.device.gpu, device.gpu)
    onnx = manifest.onnx_path(engine)
    if onnx.is_file():
        if sha256_file(onnx) != manifest.onnx_sha256:
            reasons.append(f"{onnx} changed since the engine was built")
    else:
        log.debug("%s: its ONNX %s is not here, so it cannot be checked for changes", engine, onnx)
    return reasons


def rebuild_hint(manifest: EngineManifest, engine: str | os.PathLike) -> str:
    """The command that rebuilds ``engine`` with the options it was built with."""
    args = ["edgetl", "build", str(manifest.onnx_path(engine)), "-o", str(engine), *manifest.options.to_args()]
    return shlex.join(args)
