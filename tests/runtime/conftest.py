"""Fixtures for the runtime tests: small ONNX graphs made with onnx.helper, and a fake ``tensorrt``
module that records every builder call, so the build logic is tested without TensorRT or a GPU."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgetl.spec import ModelInfo, Preprocess

CLASSES = ("stop", "yield", "speed_30")


def make_onnx(path: Path, *, batch: int | str = "batch", size: int = 32, qdq: bool = False, fp16: bool = False,
              metadata: bool = True, seed: int = 0) -> Path:
    """A runnable classifier graph: [QDQ] -> GlobalAveragePool -> Flatten -> Gemm (3 classes)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    ftype = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    npf = np.float16 if fp16 else np.float32
    nodes, inits, x = [], [], "input"
    if qdq:
        inits += [numpy_helper.from_array(np.array(0.02, np.float32), "s"),
                  numpy_helper.from_array(np.array(0, np.int8), "z")]
        nodes += [helper.make_node("QuantizeLinear", ["input", "s", "z"], ["q"]),
                  helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"])]
        x = "dq"
    inits += [numpy_helper.from_array(rng.normal(size=(3, len(CLASSES))).astype(npf), "W"),
              numpy_helper.from_array(np.zeros(len(CLASSES), npf), "B")]
    nodes += [helper.make_node("GlobalAveragePool", [x], ["pooled"]),
              helper.make_node("Flatten", ["pooled"], ["flat"]),
              helper.make_node("Gemm", ["flat", "W", "B"], ["logits"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", ftype, [batch, 3, size, size])],
                              [helper.make_tensor_value_info("logits", ftype, [batch, len(CLASSES)])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        info = ModelInfo(backbone="tiny", labels=CLASSES, preprocess=Preprocess(size=size, resize=size))
        helper.set_model_props(model, info.to_metadata_props())
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def onnx_factory(tmp_path):
    def make(name: str = "model.onnx", **kw) -> Path:
        return make_onnx(tmp_path / name, **kw)

    return make


class FakeTensorRT(types.ModuleType):
    """Just enough of the TensorRT Python API to record what edgetl asks the builder for."""

    def __init__(self, version: str = "10.3.0", dla_cores: int = 2, parse_errors: tuple[str, ...] = (),
                 build_fails: bool = False, cache_matches: bool = True):
        super().__init__("tensorrt")
        self.__version__ = version
        self.dla_cores, self.parse_errors, self.build_fails = dla_cores, parse_errors, build_fails
        self.cache_matches = cache_matches
        self.networks: list[int] = []  # flags given to create_network
        self.configs: list[FakeConfig] = []
        self.calibrated: list[np.ndarray] = []
        self.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, severity=None: None})
        self.NetworkDefinitionCreationFlag = SimpleNamespace(EXPLICIT_BATCH=0, STRONGLY_TYPED=1)
        self.BuilderFlag = SimpleNamespace(FP16="FP16", INT8="INT8", GPU_FALLBACK="GPU_FALLBACK")
        self.MemoryPoolType = SimpleNamespace(WORKSPACE="WORKSPACE")
        self.DeviceType = SimpleNamespace(GPU="GPU", DLA="DLA")
        self.IInt8EntropyCalibrator2 = type("IInt8EntropyCalibrator2", (), {"__init__": lambda self: None})
        fake = self

        class OnnxParser:
            def __init__(self, network, logger):
                self.num_errors = len(fake.parse_errors)

            def parse_from_file(self, path):
                fake.parsed = path
                return not fake.parse_errors

            def get_error(self, i):
                return fake.parse_errors[i]

        class Builder:
            platform_has_fast_fp16 = True
            num_DLA_cores = fake.dla_cores

            def __init__(self, logger):
                pass

            def create_network(self, flags):
                fake.networks.append(flags)
                return object()

            def create_builder_config(self):
                fake.configs.append(FakeConfig(fake))
                return fake.configs[-1]

            def create_optimization_profile(self):
                return FakeProfile()

            def build_serialized_network(self, network, config):
                if config.int8_calibrator is not None:
                    cal = config.int8_calibrator
                    while (ptrs := cal.get_batch(["input"])) is not None:
                        assert ptrs == [cal.current.data_ptr()]
                        fake.calibrated.append(cal.current.numpy().copy())
                if fake.build_fails:
                    return None
                return f"PLAN {sorted(config.flags)} {config.device_type}".encode()

        self.OnnxParser, self.Builder = OnnxParser, Builder

    @property
    def config(self) -> "FakeConfig":
        return self.configs[-1]


class FakeProfile:
    def __init__(self):
        self.shapes = {}

    def set_shape(self, name, mn, opt, mx):
        self.shapes[name] = (tuple(mn), tuple(opt), tuple(mx))


class FakeCache:
    def __init__(self, data: bytes):
        self.data = bytes(data)

    def serialize(self) -> bytes:
        return self.data + b"+timings"


class FakeConfig:
    def __init__(self, fake: FakeTensorRT):
        self.fake = fake
        self.flags, self.pools, self.profiles = set(), {}, []
        self.device_type, self.DLA_core = "GPU", None
        self.int8_calibrator = self.calibration_profile = self.cache = None
        self.caches_created: list[bytes] = []

    def set_flag(self, flag):
        self.flags.add(flag)

    def set_memory_pool_limit(self, pool, size):
        self.pools[pool] = size

    @property
    def default_device_type(self):
        return self.device_type

    @default_device_type.setter
    def default_device_type(self, value):
        self.device_type = value

    def add_optimization_profile(self, profile):
        self.profiles.append(profile)

    def set_calibration_profile(self, profile):
        self.calibration_profile = profile

    def create_timing_cache(self, data):
        self.caches_created.append(bytes(data))
        return FakeCache(data)

    def set_timing_cache(self, cache, ignore_mismatch):
        self.cache = cache
        return self.fake.cache_matches or cache.data == b""

    def get_timing_cache(self):
        return self.cache


@pytest.fixture
def fake_trt(monkeypatch):
    """Install a fake ``tensorrt`` module; call it again with another version to replace it."""

    def install(version: str = "10.3.0", **kw) -> FakeTensorRT:
        fake = FakeTensorRT(version, **kw)
        monkeypatch.setitem(sys.modules, "tensorrt", fake)
        return fake

    return install


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model, tmp_path_factory) -> Path:
    """The shared tiny model.pt as ONNX (dynamic batch, edgetl metadata), made without 'edgetl export'
    so runtime tests do not depend on it."""
    import io
    import warnings

    import onnx
    import torch

    from edgetl.checkpoint import load_model

    model, info = load_model(tiny_model)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), buf, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    proto = onnx.load_from_string(buf.getvalue())
    onnx.helper.set_model_props(proto, info.to_metadata_props())
    path = tmp_path_factory.mktemp("tinyonnx") / "model.onnx"
    onnx.save(proto, str(path))
    return path
