"""What a model artifact says about itself: preprocessing, labels, backbone, provenance.

Preprocessing is described once, here, and travels inside every artifact: the checkpoint, the ONNX
``metadata_props`` and the JSON sidecars. Every consumer reads it back with ``ModelInfo.from_dict``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from edgetl import __version__
from edgetl.errors import ModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Bumped when the meaning of a field changes; readers refuse artifacts from a newer schema.
SCHEMA_VERSION = 1

RESIZE_MODES = ("stretch", "shorter")
# Resize filters (edgetl.preprocess maps each to OpenCV's): "area" is box filtering when shrinking and
# bilinear when enlarging, free of aliasing either way; "linear" and "cubic" use one filter both ways.
INTERPOLATIONS = ("area", "linear", "cubic")


@dataclass(frozen=True)
class Preprocess:
    """Deploy-side preprocessing: decode -> colour order -> resize -> centre crop -> normalise.

    ``resize_mode`` "stretch" resizes the whole image to ``resize`` x ``resize`` (what sign crops want:
    the sign fills the crop); "shorter" resizes the shorter side to ``resize`` keeping the aspect ratio
    and then crops the centre square. Then the centre ``size`` x ``size`` is taken. ``interpolation``
    names the resize filter (one of ``INTERPOLATIONS``); artifacts written before it was recorded
    used "area".
    """

    size: int = 224
    resize: int = 256
    resize_mode: str = "stretch"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    color: str = "RGB"
    layout: str = "NCHW"
    interpolation: str = "area"

    def __post_init__(self) -> None:
        if self.resize < self.size:
            raise ModelError(f"preprocess: resize {self.resize} is smaller than the input size {self.size}")
        if self.resize_mode not in RESIZE_MODES:
            raise ModelError(f"preprocess: resize_mode {self.resize_mode!r} is not one of {RESIZE_MODES}")
        if self.interpolation not in INTERPOLATIONS:
            raise ModelError(f"preprocess: interpolation {self.interpolation!r} is not one of {INTERPOLATIONS}")
        if self.color not in ("RGB", "BGR"):
            raise ModelError(f"preprocess: colour order {self.color!r} is not RGB or BGR")

    @classmethod
    def for_size(cls, size: int, crop_pct: float = 1.0, **kw: Any) -> "Preprocess":
        return cls(size=size, resize=int(round(size / crop_pct)), **kw)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Preprocess":
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        for k in ("mean", "std"):
            if k in kw:
                kw[k] = tuple(float(x) for x in kw[k])
        return cls(**kw)


@dataclass(frozen=True)
class ModelInfo:
    """Everything a runtime needs to use a model, and where the model came from."""

    backbone: str
    labels: tuple[str, ...]
    preprocess: Preprocess = field(default_factory=Preprocess)
    precision: str = "fp32"
    source_sha256: str | None = None
    edgetl_version: str = __version__
    schema: int = SCHEMA_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "backbone": self.backbone,
            "labels": list(self.labels),
            "num_classes": self.num_classes,
            "preprocess": self.preprocess.to_dict(),
            "precision": self.precision,
            "source_sha256": self.source_sha256,
            "edgetl_version": self.edgetl_version,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelInfo":
        schema = int(d.get("schema", 1))
        if schema > SCHEMA_VERSION:
            raise ModelError(
                f"model metadata schema {schema} is newer than this edgetl ({__version__}, schema "
                f"{SCHEMA_VERSION}) understands: upgrade edgetl or re-export the model with this version"
            )
        try:
            return cls(
                backbone=str(d["backbone"]),
                labels=tuple(str(x) for x in d["labels"]),
                preprocess=Preprocess.from_dict(d.get("preprocess", {})),
                precision=str(d.get("precision", "fp32")),
                source_sha256=d.get("source_sha256"),
                edgetl_version=str(d.get("edgetl_version", "unknown")),
                schema=schema,
                extra=dict(d.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model metadata is incomplete or malformed: {exc}") from exc

    def replace(self, **changes: Any) -> "ModelInfo":
        return dataclasses.replace(self, **changes)

    # ONNX metadata_props are string -> string; one key holds the whole description as JSON, and a few
    # flat keys make it readable in Netron and by other tools.
    METADATA_KEY = "edgetl"

    def to_metadata_props(self) -> dict[str, str]:
        p = self.preprocess
        return {
            self.METADATA_KEY: json.dumps(self.to_dict(), sort_keys=True),
            "labels": json.dumps(list(self.labels)),
            "backbone": self.backbone,
            "input_size": str(p.size),
            "mean": json.dumps(list(p.mean)),
            "std": json.dumps(list(p.std)),
            "color_order": p.color,
            "resize": f"{p.resize_mode}:{p.resize}",
            "interpolation": p.interpolation,
            "edgetl_version": self.edgetl_version,
        }

    @classmethod
    def from_metadata_props(cls, props: Mapping[str, str]) -> "ModelInfo | None":
        """The description stored by ``to_metadata_props``, or None if the model has none."""
        raw = props.get(cls.METADATA_KEY)
        if raw is None:
            return None
        try:
            return cls.from_dict(json.loads(raw))
        except json.JSONDecodeError as exc:
            raise ModelError(f"the model's edgetl metadata is not valid JSON: {exc}") from exc
