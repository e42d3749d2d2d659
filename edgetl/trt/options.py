"""Build options and the precision plan TensorRT gets for them, chosen by TensorRT version.

``BuildOptions`` is what the user asked for; ``plan_precision`` turns it, the facts of the ONNX graph
and the TensorRT version into builder flags. It refuses what a version cannot do instead of quietly
doing something else.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from edgetl.data.calibration_defaults import DEFAULT_SIZE as DEFAULT_CALIB_SIZE
from edgetl.errors import EdgetlError

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "fp16", "int8", "best")


class BuildError(EdgetlError):
    """An engine cannot be built as asked; the message says what to change."""


@dataclass(frozen=True)
class BatchProfile:
    """The batch sizes an engine accepts: smallest, the one it is tuned for, largest.

    The default takes the camera loop's crops of a frame as one batch: up to the sign proposer's
    default ``--max-boxes`` (16), tuned for the handful a frame usually has. A frame with more runs in
    chunks, and the loop says so once at its start.
    """

    min: int = 1
    opt: int = 4
    max: int = 16

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise BuildError(f"--batch {self}: need 1 <= MIN <= OPT <= MAX")

    @classmethod
    def parse(cls, text: str) -> "BatchProfile":
        """``"N"`` (fixed) or ``"MIN:OPT:MAX"``."""
        parts = str(text).strip().split(":")
        if len(parts) not in (1, 3) or not all(re.fullmatch(r"\d+", p) for p in parts):
            raise BuildError(f"--batch {text!r}: expected N or MIN:OPT:MAX with whole numbers, e.g. 1:4:8")
        n = [int(p) for p in parts]
        return cls(n[0], n[0], n[0]) if len(n) == 1 else cls(*n)

    def shapes(self, size: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(min, opt, max) input shapes for a ``size`` x ``size`` NCHW input."""
        return tuple((b, 3, size, size) for b in (self.min, self.opt, self.max))  # type: ignore[return-value]

    def __str__(self) -> str:
        return f"{self.min}:{self.opt}:{self.max}"


@dataclass(frozen=True)
class BuildOptions:
    """What ``edgetl build`` was asked for. ``None`` means "the default" everywhere."""

    precision: str = "auto"
    batch: BatchProfile = field(default_factory=BatchProfile)
    dla_core: int | None = None
    workspace_mib: int | None = None
    timing_cache: str | None = None
    calib: str | None = None  # calibration folder or manifest, as for 'edgetl export --int8' (TensorRT 8.x)
    calib_size: int = DEFAULT_CALIB_SIZE

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise BuildError(f"--precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.dla_core is not None and self.dla_core < 0:
            raise BuildError(f"--dla {self.dla_core}: a DLA core is 0 or 1")
        if self.workspace_mib is not None and self.workspace_mib <= 0:
            raise BuildError(f"--workspace {self.workspace_mib}: give a size in MiB greater than 0")

    def to_args(self) -> list[str]:
        """The ``edgetl build`` arguments that reproduce these options."""
        args = ["--precision", self.precision, "--batch", str(self.batch)]
        if self.dla_core is not None:
            args += ["--dla", str(self.dla_core)]
        if self.workspace_mib is not None:
            args += ["--workspace", str(self.workspace_mib)]
        if self.timing_cache:
            args += ["--timing-cache", self.timing_cache]
        if self.calib:
            args += ["--calib", self.calib, "--calib-size", str(self.calib_size)]
        return args

    def to_dict(self) -> dict:
        return {"precision": self.precision, "batch": str(self.batch), "dla_core": self.dla_core,
                "workspace_mib": self.workspace_mib, "timing_cache": self.timing_cache, "calib": self.calib,
                "calib_size": self.calib_size}

    @classmethod
    def from_dict(cls, d: dict) -> "BuildOptions":
        return cls(precision=d.get("precision", "auto"), batch=BatchProfile.parse(d.get("batch", "1")),
                   dla_core=d.get("dla_core"), workspace_mib=d.get("workspace_mib"),
                   timing_cache=d.get("timing_cache"), calib=d.get("calib"),
                   calib_size=int(d.get("calib_size", DEFAULT_CALIB_SIZE)))


@dataclass(frozen=True)
class GraphFacts:
    """What the builder needs to know about an ONNX graph before building it."""

    input_name: str
    input_dims: tuple[int | str, ...]  # ints, or a name / -1 where the dimension is dynamic
    has_qdq: bool
    has_fp16: bool

    @property
    def dynamic(self) -> bool:
        return any(not isinstance(d, int) or d <= 0 for d in self.input_dims)

    @property
    def fixed_batch(self) -> int | None:
        d = self.input_dims[0] if self.input_dims else None
        return d if isinstance(d, int) and d > 0 else None


@dataclass(frozen=True)
class PrecisionPlan:
    """Builder settings for one build: flag names of ``tensorrt.BuilderFlag`` and network flags."""

    precision: str  # what was asked for, "auto" resolved
    flags: tuple[str, ...] = ()
    strongly_typed: bool = False
    explicit_batch: bool = False  # TensorRT 8.x needs it; 10 always is
    calibrate: bool = False  # implicit INT8 with the entropy calibrator (TensorRT 8.x only)
    notes: tuple[str, ...] = ()


def parse_version(version: str) -> tuple[int, int, int]:
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", str(version))
    if not m:
        raise BuildError(f"cannot read the TensorRT version {version!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def plan_precision(trt_version: str, opts: BuildOptions, graph: GraphFacts, onnx_name: str = "the ONNX") -> PrecisionPlan:
    """Builder flags for ``opts`` on this TensorRT version and graph; BuildError where it cannot be done.

    TensorRT 10+: INT8 comes from the Q/DQ graph (explicit quantization); a graph that carries its own
    low-precision types is built strongly typed, without precision flags. TensorRT 8.5/8.6 (JetPack 5):
    explicit-batch networks, and INT8 for a graph without Q/DQ comes from an entropy calibrator.
    """
    major, minor, _ = parse_version(trt_version)
    if (major, minor) < (8, 5):
        raise BuildError(f"TensorRT {trt_version} is too old: edgetl needs 8.5 (JetPack 5.1) or newer")
    legacy = major < 10
    precision = opts.precision
    if precision == "auto":
        precision = "int8" if graph.has_qdq else "fp16"
        log.info("--precision auto: %s (%s)", precision, "the graph has Q/DQ nodes" if graph.has_qdq else "no Q/DQ nodes")
    if graph.has_qdq and precision in ("fp32", "fp16"):
        raise BuildError(f"{onnx_name} is quantized (Q/DQ nodes): build it with --precision int8 or best, "
                         f"or build the FP32 ONNX with --precision {precision}")
    if graph.has_fp16 and precision == "fp32":
        raise BuildError(f"{onnx_name} stores FP16 tensors: build it with --precision fp16, or export an FP32 ONNX")
    if opts.dla_core is not None and precision == "fp32":
        raise BuildError("DLA runs FP16 or INT8 only: add --precision fp16 (or int8) to use --dla")
    plan = _plan_legacy(precision, opts, graph, onnx_name) if legacy else _plan_modern(major, precision, graph, onnx_name)
    if opts.dla_core is not None:
        plan = _with(plan, flags=plan.flags + ("GPU_FALLBACK",))
    return plan


def _with(plan: PrecisionPlan, **kw) -> PrecisionPlan:
    from dataclasses import replace

    return replace(plan, **kw)


def _plan_modern(major: int, precision: str, graph: GraphFacts, onnx_name: str) -> PrecisionPlan:
    typed_graph = graph.has_qdq or graph.has_fp16
    if precision == "best" and major < 11:
        flags = ("FP16", "INT8") if graph.has_qdq else ("FP16",)
        note = () if graph.has_qdq else (f"{onnx_name} has no Q/DQ nodes: best is FP16 (INT8 needs 'edgetl export --int8')",)
        return PrecisionPlan("best", flags=flags, notes=note)
    if precision == "int8" and not graph.has_qdq:
        raise BuildError(f"{onnx_name} has no Q/DQ nodes and TensorRT {major} takes INT8 from a quantized graph: "
                         "run 'edgetl export --int8' and build model.int8.onnx, or use --precision fp16")
    if typed_graph or major >= 11:
        if precision == "fp16" and not graph.has_fp16 and major >= 11:
            raise BuildError(f"TensorRT {major} takes precision from the graph and {onnx_name} is FP32: "
                             "export an FP16 ONNX, or use --precision fp32")
        return PrecisionPlan(precision, strongly_typed=True,
                             notes=("precision from the graph's own types (strongly typed network)",))
    return PrecisionPlan(precision, flags=("FP16",) if precision == "fp16" else ())


def _plan_legacy(precision: str, opts: BuildOptions, graph: GraphFacts, onnx_name: str) -> PrecisionPlan:
    base = PrecisionPlan(precision, explicit_batch=True)
    if precision == "fp32":
        return base
    if precision == "fp16":
        return _with(base, flags=("FP16",))
    calibrate = not graph.has_qdq
    if calibrate and not opts.calib:
        if precision == "int8":
            raise BuildError(f"{onnx_name} has no Q/DQ nodes: TensorRT 8 calibrates it for INT8 from images; "
                             "pass --calib DIR (the calibration folder or manifest 'edgetl export --int8' uses)")
        return _with(base, flags=("FP16",), notes=(f"{onnx_name} has no Q/DQ nodes and no --calib: best is FP16",))
    flags = ("INT8",) if precision == "int8" else ("FP16", "INT8")
    notes = ("implicit INT8: entropy calibration (TensorRT 8)",) if calibrate else ()
    return _with(base, flags=flags, calibrate=calibrate, notes=notes)


def rebatch(batches: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Regroup an iterable of (N, C, H, W) batches into batches of exactly ``size`` (a calibrator's
    fixed batch); a final partial batch is dropped and logged."""
    pending: list[np.ndarray] = []
    count = 0
    for batch in batches:
        for row in np.asarray(batch, dtype=np.float32):
            pending.append(row)
            count += 1
            if len(pending) == size:
                yield np.ascontiguousarray(np.stack(pending))
                pending = []
    if pending:
        log.info("calibration: dropped the last %d of %d images (batches of %d)", len(pending), count, size)
