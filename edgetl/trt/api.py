"""The one module that calls TensorRT (Python API of TensorRT 10, and 8.5/8.6 for JetPack 5).

Building: ONNX parser -> network (strongly typed or explicit batch as the plan says) -> builder config
(precision flags, DLA with GPU fallback, workspace, optimisation profile, timing cache, and for
TensorRT 8 implicit INT8 an entropy calibrator) -> ``build_serialized_network``. Running: name-based
I/O (``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``) with device buffers that are
torch CUDA tensors, so neither pycuda nor cuda-python is needed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from edgetl._optional import require
from edgetl.errors import ModelError, RuntimeBackendError
from edgetl.trt.options import BuildError, PrecisionPlan

log = logging.getLogger(__name__)

Shape = tuple[int, ...]


def _trt():
    return require("tensorrt")


def version() -> str:
    """The installed TensorRT version, e.g. '10.3.0'."""
    return str(_trt().__version__)


def _logger(trt):
    return trt.Logger(trt.Logger.WARNING)


@dataclass(frozen=True)
class BuildRequest:
    onnx: Path
    input_name: str
    plan: PrecisionPlan
    shapes: tuple[Shape, Shape, Shape] | None = None  # (min, opt, max); None for a static graph
    dla_core: int | None = None
    workspace_bytes: int | None = None
    timing_cache: bytes | None = None  # None: no timing cache; b"": start an empty one
    calibration: Iterable[np.ndarray] | None = None  # batches of exactly the calibration shape's batch size
    calibration_shape: Shape | None = None


@dataclass(frozen=True)
class BuildResult:
    plan: bytes
    timing_cache: bytes | None


def build_serialized(req: BuildRequest) -> BuildResult:
    """Build a serialized plan from an ONNX file as ``req`` says."""
    trt = _trt()
    logger = _logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt, req.plan))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(req.onnx)):
        errors = [str(parser.get_error(i)).strip() for i in range(parser.num_errors)]
        first = errors[0].splitlines()[0] if errors else "no error reported"
        raise BuildError(f"TensorRT {trt.__version__} cannot parse {req.onnx}: {first}")
    config = builder.create_builder_config()
    if req.workspace_bytes:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, req.workspace_bytes)
    for name in req.plan.flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    if "FP16" in req.plan.flags and not builder.platform_has_fast_fp16:
        log.warning("this GPU has no fast FP16: the FP16 engine may be no faster than FP32")
    if req.dla_core is not None:
        _use_dla(trt, builder, config, req.dla_core)
    if req.shapes is not None:
        profile = builder.create_optimization_profile()
        profile.set_shape(req.input_name, *req.shapes)
        config.add_optimization_profile(profile)
    cache = _set_timing_cache(config, req.timing_cache) if req.timing_cache is not None else None
    calibrator = None
    if req.plan.calibrate:
        calibrator = _calibrate_with(trt, builder, config, req)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BuildError(f"TensorRT could not build an engine from {req.onnx} (its log above says why); a larger "
                         "--workspace or another --precision may help")
    if calibrator is not None:
        log.info("calibrated on %d images", calibrator.seen)
    out_cache = bytes(config.get_timing_cache().serialize()) if cache is not None else None
    return BuildResult(bytes(serialized), out_cache)


def _network_flags(trt, plan: PrecisionPlan) -> int:
    flags = 0
    if plan.explicit_batch:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if plan.strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags


def _use_dla(trt, builder, config, core: int) -> None:
    available = builder.num_DLA_cores
    if core >= available:
        raise BuildError(f"--dla {core}: this device has {available} DLA core(s)" +
                         (" (DLA is on Jetson AGX/NX Orin and Xavier)" if available == 0 else ""))
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = core


def _set_timing_cache(config, data: bytes):
    cache = config.create_timing_cache(data)
    if not config.set_timing_cache(cache, False):
        log.warning("the timing cache was made by another TensorRT or GPU: starting a new one, which will replace it")
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)
    return cache


def _calibrate_with(trt, builder, config, req: BuildRequest):
    if req.calibration is None or req.calibration_shape is None:
        raise BuildError("implicit INT8 needs calibration images: pass --calib DIR")
    calibrator = _entropy_calibrator(trt, iter(req.calibration), req.calibration_shape[0])
    config.int8_calibrator = calibrator
    if req.shapes is not None:  # dynamic batch: calibrate at one fixed shape
        profile = builder.create_optimization_profile()
        profile.set_shape(req.input_name, req.calibration_shape, req.calibration_shape, req.calibration_shape)
        config.set_calibration_profile(profile)
    return calibrator


def _entropy_calibrator(trt, batches: Iterator[np.ndarray], batch_size: int):
    """An ``IInt8EntropyCalibrator2`` fed by an iterator of preprocessed float32 batches."""
    torch = require("torch")

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.current = None  # keeps the device buffer alive until the next batch
            self.seen = 0

        def get_batch_size(self) -> int:
            return batch_size

        def get_batch(self, names):
            batch = next(batches, None)
            if batch is None:
                return None
            self.current = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).cuda()
            self.seen += len(batch)
            return [int(self.current.data_ptr())]

        def read_calibration_cache(self):
            return None

        def write_calibration_cache(self, cache) -> None:
            return None

    return EntropyCalibrator()


class EngineSession:
    """A deserialized engine with one execution context, run on a torch CUDA stream."""

    def __init__(self, plan: bytes, where: str):
        trt, self.torch = _trt(), require("torch")
        if not self.torch.cuda.is_available():
            raise RuntimeBackendError("TensorRT needs a CUDA GPU and a CUDA build of torch; 'edgetl doctor' shows what is missing")
        self._logger = _logger(trt)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise ModelError(f"{where} is not a TensorRT plan that TensorRT {trt.__version__} can load (corrupt, or "
                             "built by another TensorRT version): rebuild it with 'edgetl build MODEL.onnx'")
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(self.inputs) != 1 or not self.outputs:
            raise ModelError(f"{where} has inputs {self.inputs} and outputs {self.outputs}: edgetl runs classifiers "
                             "with one image input")
        self.input_name = self.inputs[0]
        self.input_shape = tuple(self.engine.get_tensor_shape(self.input_name))
        self.output_shape = tuple(self.engine.get_tensor_shape(self.outputs[0]))
        self.batch_range = self._batch_range()
        self._dtypes = {n: self.torch.from_numpy(np.zeros(0, trt.nptype(self.engine.get_tensor_dtype(n)))).dtype
                        for n in names}
        self.context = None
        self.stream = None

    def _batch_range(self) -> tuple[int, int]:
        if self.input_shape[0] != -1:
            return self.input_shape[0], self.input_shape[0]
        lo, _, hi = self.engine.get_tensor_profile_shape(self.input_name, 0)
        return int(lo[0]), int(hi[0])

    def open(self) -> None:
        self.context = self.engine.create_execution_context()
        self.stream = self.torch.cuda.Stream()

    def close(self) -> None:
        self.context = None
        self.stream = None

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch; returns the first output as float32 on the host."""
        torch = self.torch
        with torch.cuda.stream(self.stream):
            x = torch.from_numpy(batch).to("cuda", dtype=self._dtypes[self.input_name], non_blocking=True)
            self.context.set_input_shape(self.input_name, tuple(x.shape))
            self.context.set_tensor_address(self.input_name, int(x.data_ptr()))
            outs = {}
            for name in self.outputs:
                shape = tuple(self.context.get_tensor_shape(name))
                outs[name] = torch.empty(shape, dtype=self._dtypes[name], device="cuda")
                self.context.set_tensor_address(name, int(outs[name].data_ptr()))
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeBackendError("TensorRT failed to run the batch (see its log above)")
            y = outs[self.outputs[0]].float().cpu()  # waits for the stream
        return y.numpy()
