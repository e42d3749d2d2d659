"""FP32 ONNX -> INT8 Q/DQ ONNX with onnxruntime.quantization, per target preset, with a range cache.

Calibration methods (``METHODS``) and target presets (``TARGETS``) are registries: a new one is one
``register_method`` / ``register_target`` call here, and the CLI's choices and help derive from them.
Presets instead of string soup: ``tensorrt`` is what TensorRT's explicit quantization expects
(symmetric signed INT8 activations and weights, zero points 0, Q/DQ pairs on float weights, per-channel
weights). The CPU forms are made for a class of CPU (``CPU_CLASSES``: what onnxruntime's integer kernels
do with u8 x s8 products there): ``cpu-avx2`` (reduce_range, because AVX2 kernels without VNNI saturate)
and ``cpu-vnni`` (full 8-bit weights). ``cpu`` is chosen per CPU among the forms made for its class
(see edgetl/export/cpu_form.py, calibration/README.md and benchmarks/results/).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from edgetl.bench.environment import cpu_info
from edgetl.errors import ExportError
from edgetl.fileio import sha256_file, sha256_json
from edgetl.registry import Registry

if TYPE_CHECKING:  # annotations only: edgetl.data.images imports OpenCV, which 'edgetl export --help' need not
    from edgetl.data.images import ImageSet

log = logging.getLogger(__name__)

MIN_PER_CHANNEL_OPSET = 13  # QuantizeLinear/DequantizeLinear gained the per-channel ``axis`` in opset 13
QUANT_FORMATS = ("qdq", "qoperator")
QUANT_TYPES = ("int8", "uint8")


@dataclass(frozen=True)
class QuantMethod:
    """A calibration method: what onnxruntime calls it and how calibration images are fed to it."""

    name: str
    ort_method: str  # member name of onnxruntime.quantization.CalibrationMethod
    batch_size: int  # images per calibration batch
    description: str  # one line, shown by 'edgetl export --help'


METHODS: Registry[QuantMethod] = Registry("calibration method")


def register_method(method: QuantMethod) -> QuantMethod:
    """Add a calibration method; a second one under a taken name is refused."""
    return METHODS.register(method.name, method)


# onnxruntime's histogram collectors (entropy, percentile) need batches of one shape: they are fed one
# image at a time. MinMax only keeps running extremes, so any batch works and 16 is faster.
register_method(QuantMethod("minmax", "MinMax", 16, "smallest and largest activation seen"))
register_method(QuantMethod("entropy", "Entropy", 1, "range whose clipped histogram loses the least information (KL)"))
register_method(QuantMethod("percentile", "Percentile", 1, "range that clips the top 0.001% of activations"))


def get_method(name: str) -> QuantMethod:
    if name not in METHODS:
        raise ExportError(f"unknown --method {name!r}: use one of {', '.join(METHODS)}")
    return METHODS.get(name)


# What onnxruntime's x86 integer kernels do with u8 x s8 products decides which INT8 form is accurate there.
CPU_CLASSES: Mapping[str, str] = MappingProxyType({
    "vnni": "x86-64 with VNNI or AMX: u8 x s8 products summed in 32 bits",
    "avx2": "x86-64 without VNNI (AVX2, or AVX-512 without VNNI): pairs of u8 x s8 products summed in "
            "16 bits, which saturate unless weights use 7 bits (reduce_range)",
    "other": "not x86-64 (Arm, ...): no form is known best, every candidate is measured",
})
VNNI_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")
X86_MACHINES = ("x86_64", "amd64", "x64")


@dataclass(frozen=True)
class CpuFeatures:
    """The CPU an INT8 form is chosen for or judged on: its name, architecture and INT8-relevant flags."""

    model: str
    machine: str
    flags: tuple[str, ...]

    @property
    def int8_class(self) -> str:
        """One of CPU_CLASSES."""
        if self.machine.lower() not in X86_MACHINES:
            return "other"
        return "vnni" if any(f in self.flags for f in VNNI_FLAGS) else "avx2"

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "machine": self.machine, "flags": list(self.flags), "class": self.int8_class}


def cpu_features() -> CpuFeatures:
    """This machine's CPU, as bench's environment record reads it (/proc/cpuinfo)."""
    info = cpu_info()
    return CpuFeatures(str(info["model"]), str(info["machine"]), tuple(info["flags"]))


@dataclass(frozen=True)
class TargetPreset:
    """How to quantize for one runtime; frozen so a preset cannot drift between runs."""

    name: str
    description: str = ""  # one line, shown by 'edgetl export --help'
    quant_format: str = "qdq"  # one of QUANT_FORMATS
    activation_type: str = "int8"  # one of QUANT_TYPES
    weight_type: str = "int8"
    activation_symmetric: bool = True
    weight_symmetric: bool = True
    reduce_range: bool = False
    per_channel: bool = True
    default_method: str = "minmax"
    speed_gate: bool = False  # whether INT8 must be faster than FP32 on this machine
    # judge accuracy with Q/DQ executed as written (see evaluate.reference_logits), not with this CPU's kernels
    reference_numerics: bool = True
    extra_options: Mapping[str, Any] | None = None  # onnxruntime quantize_static extra_options
    # CPU classes (CPU_CLASSES) whose onnxruntime kernels this form is made for: elsewhere it is judged with
    # Q/DQ executed as written and not timed, since this CPU's kernels are not the deployment CPU's
    cpu_classes: tuple[str, ...] = ()
    # chosen per CPU: the form is one of the targets whose cpu_classes hold this CPU's class (cpu_form.py)
    per_cpu: bool = False

    def __post_init__(self) -> None:
        if self.quant_format not in QUANT_FORMATS:
            raise ExportError(f"target {self.name!r}: format {self.quant_format!r} is not one of {QUANT_FORMATS}")
        for kind in (self.activation_type, self.weight_type):
            if kind not in QUANT_TYPES:
                raise ExportError(f"target {self.name!r}: type {kind!r} is not one of {QUANT_TYPES}")
        get_method(self.default_method)
        unknown = [c for c in self.cpu_classes if c not in CPU_CLASSES]
        if unknown:
            raise ExportError(f"target {self.name!r}: CPU class(es) {unknown} not in {tuple(CPU_CLASSES)}")
        if self.extra_options is not None:  # read-only, so the frozen preset stays what it was
            object.__setattr__(self, "extra_options", MappingProxyType(dict(self.extra_options)))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "format": self.quant_format, "activations": self.activation_type,
                "weights": self.weight_type, "activation_symmetric": self.activation_symmetric,
                "weight_symmetric": self.weight_symmetric, "reduce_range": self.reduce_range,
                "per_channel": self.per_channel,
                **({"extra_options": dict(self.extra_options)} if self.extra_options else {}),
                **({"cpu_classes": list(self.cpu_classes)} if self.cpu_classes else {})}

    def made_for(self, cpu: CpuFeatures) -> bool:
        """Whether ``cpu``'s onnxruntime kernels are the ones this (CPU) form is made for."""
        return cpu.int8_class in self.cpu_classes


TARGETS: Registry[TargetPreset] = Registry("target")


def register_target(preset: TargetPreset) -> TargetPreset:
    """Add a target preset; a second one under a taken name is refused."""
    return TARGETS.register(preset.name, preset)


# U8 activations x S8 weights is onnxruntime's CPU fast path. Without VNNI (AVX2, AVX-512 without VNNI)
# its kernels add pairs of products in 16 bits, which saturates (6.5 points lost on MobileNetV2);
# reduce_range (7-bit weights) prevents it at the same 2x speed. S8S8 loses 10.8 points in QDQ form and is
# 4x slower than FP32 as QOperator there (benchmarks/results/export_int8_avx2.md). With VNNI or AMX the
# products are summed in 32 bits: nothing saturates, and full 8-bit weights only gain precision.
_U8S8 = dict(activation_type="uint8", activation_symmetric=False, speed_gate=True, reference_numerics=False)
CPU_AVX2 = TargetPreset("cpu-avx2", "U8S8, 7-bit weights (reduce_range): accurate on every x86 CPU, made for "
                        "AVX2 without VNNI", reduce_range=True, cpu_classes=("avx2", "vnni", "other"), **_U8S8)
CPU_VNNI = TargetPreset("cpu-vnni", "U8S8, 8-bit weights: for x86 CPUs with VNNI or AMX (saturates without)",
                        cpu_classes=("vnni", "other"), **_U8S8)
# 'cpu' keeps cpu-avx2's fields for code that reads them, but is never quantized as itself.
register_target(replace(CPU_AVX2, name="cpu", per_cpu=True, cpu_classes=(), description=(
    "the form for this CPU among those made for its class: the only one (cpu-avx2 without VNNI), or the "
    "fastest within --max-drop, measured here once per model and CPU")))
register_target(CPU_AVX2)
register_target(CPU_VNNI)
# Q/DQ pairs on float weights, one pair per consumer and float biases: the explicit-quantization form
# TensorRT parses directly (it folds the weight Q/DQ itself and has no INT32 dequantize).
register_target(TargetPreset(
    "tensorrt", "symmetric INT8, zero points 0: TensorRT's explicit quantization",
    extra_options={"AddQDQPairToWeight": True, "DedicatedQDQPair": True, "QuantizeBias": False}))

DEFAULT_TARGET = "cpu"


def get_target(name: str) -> TargetPreset:
    if name not in TARGETS:
        raise ExportError(f"unknown --target {name!r}: use one of {', '.join(TARGETS)}")
    return TARGETS.get(name)


def candidate_forms(preset: TargetPreset, cpu: CpuFeatures) -> list[TargetPreset]:
    """The forms to quantize in: ``preset`` itself, or for a per-CPU preset every target made for ``cpu``'s
    class, in registration order."""
    if not preset.per_cpu:
        return [preset]
    forms = [t for t in TARGETS.values() if not t.per_cpu and t.made_for(cpu)]
    if not forms:
        raise ExportError(f"no INT8 form is registered for a {cpu.int8_class} CPU ({cpu.model}): pass one with "
                          f"--target ({', '.join(n for n, t in TARGETS.items() if not t.per_cpu)})")
    return forms


def check_opset(opset: int, preset: TargetPreset) -> None:
    if preset.per_channel and opset < MIN_PER_CHANNEL_OPSET:
        raise ExportError(f"opset {opset} is too low for per-channel INT8 quantization: export with "
                          f"--opset {MIN_PER_CHANNEL_OPSET} or higher (default 17)")


def prepare_for_quantization(fp32: str | os.PathLike, out: str | os.PathLike) -> Path:
    """onnxruntime's recommended pre-processing: shape inference and graph optimisation."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    import onnx

    quant_pre_process(str(fp32), str(out))
    model = onnx.load(str(out))
    names = {n.name for n in model.graph.node}
    for i, node in enumerate(model.graph.node):  # inlined functions leave nodes without names
        if not node.name:
            node.name = next(f"{node.op_type}_{i}_{k}" for k in range(len(names) + 1) if f"{node.op_type}_{i}_{k}" not in names)
    onnx.save(model, str(out))
    return Path(out)


def _ort_options(preset: TargetPreset, method: str) -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

    types = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    return {
        "quant_format": QuantFormat.QDQ if preset.quant_format == "qdq" else QuantFormat.QOperator,
        "activation_type": types[preset.activation_type], "weight_type": types[preset.weight_type],
        "per_channel": preset.per_channel, "reduce_range": preset.reduce_range,
        "calibrate_method": getattr(CalibrationMethod, get_method(method).ort_method),
        "extra_options": {"ActivationSymmetric": preset.activation_symmetric,
                          "WeightSymmetric": preset.weight_symmetric,
                          # calibration itself symmetrises ranges only when activations are symmetric
                          "CalibTensorRangeSymmetric": preset.activation_symmetric,
                          **(preset.extra_options or {})},
    }


class OrtCalibrationReader:
    """Adapter: an ``ImageSet`` as onnxruntime's ``CalibrationDataReader`` (re-iterable via ``rewind``)."""

    def __init__(self, images: ImageSet, input_name: str = "input", batch_size: int = 16):
        self.images, self.input_name, self.batch_size = images, input_name, batch_size
        self.rewind()

    def rewind(self) -> None:
        self._it = iter(self.images.batches(self.batch_size))

    def get_next(self) -> dict | None:
        batch = next(self._it, None)
        return None if batch is None else {self.input_name: batch}

    def __iter__(self):
        self.rewind()
        return iter(self.get_next, None)

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)


def calibration_reader(images: ImageSet, method: str, input_name: str = "input") -> OrtCalibrationReader:
    """``images`` fed to onnxruntime in the batches ``method`` needs."""
    return OrtCalibrationReader(images, input_name, batch_size=get_method(method).batch_size)


def cache_key(model_sha256: str, images_sha256: str, preprocess: dict[str, Any], method: str,
              preset: TargetPreset) -> str:
    """Calibration ranges depend on exactly these: the model, the images, their preprocessing, the method
    and whether ranges are symmetrised (and the onnxruntime that computed them)."""
    import onnxruntime

    return sha256_json({"model": model_sha256, "images": images_sha256, "preprocess": preprocess,
                        "method": method, "symmetric": preset.activation_symmetric,
                        "onnxruntime": onnxruntime.__version__})


def cache_file(cache_dir: str | os.PathLike, key: str) -> Path:
    return Path(cache_dir) / f"calib-{key[:24]}.json"


def _usable_cache(path: Path) -> bool:
    if not path.is_file():
        return False
    from onnxruntime.quantization import load_tensors_data

    try:
        load_tensors_data(path)
    except Exception as exc:  # a truncated or foreign file: recompute rather than fail
        log.warning("calibration cache %s is unreadable (%s): recomputing it", path, type(exc).__name__)
        path.unlink()
        return False
    return True


def quantize_int8(prepared: str | os.PathLike, out: str | os.PathLike, reader, preset: TargetPreset,
                  method: str, cache: Path | None = None, nodes_to_exclude: Sequence[str] = ()) -> bool:
    """Quantize the pre-processed FP32 model into ``out``; True if calibration ranges came from ``cache``."""
    from onnxruntime.quantization import quantize_static

    get_method(method)
    hit = cache is not None and _usable_cache(cache)
    log.info("quantizing (%s, %s%s, %d node(s) kept in float)", preset.name, method,
             ", cached ranges" if hit else "", len(nodes_to_exclude))
    try:
        quantize_static(str(prepared), str(out), None if hit else reader, nodes_to_exclude=list(nodes_to_exclude),
                        calibration_cache_path=str(cache) if cache else None, **_ort_options(preset, method))
    except (ValueError, RuntimeError) as exc:
        raise ExportError(f"onnxruntime quantization failed: {str(exc).splitlines()[0]}") from exc
    return hit


def quantization_summary(path: str | os.PathLike) -> dict[str, Any]:
    """Counts that show what the quantized graph is: Q/DQ nodes, zero points, file hash."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    ops = [n.op_type for n in m.graph.node]
    inits = {i.name: i for i in m.graph.initializer}
    zps = [inits[n.input[2]] for n in m.graph.node
           if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2 and n.input[2] in inits]
    nonzero = sum(int(np.any(numpy_helper.to_array(z) != 0)) for z in zps)
    return {"quantize_linear": ops.count("QuantizeLinear"), "dequantize_linear": ops.count("DequantizeLinear"),
            "nonzero_zero_points": nonzero, "sha256": sha256_file(path)}
