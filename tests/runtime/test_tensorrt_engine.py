"""Real TensorRT on a CUDA GPU: build the tiny model, load the plan with TensorRT alone, and compare
the engine's predictions with onnxruntime. Skipped where TensorRT or a GPU is missing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgetl.trt.build import build_engine
from edgetl.errors import ModelError, RuntimeBackendError
from edgetl.preprocess import read_image
from edgetl.runtime import open_runner
from edgetl.trt.options import BatchProfile, BuildOptions

pytestmark = [pytest.mark.tensorrt, pytest.mark.cuda]


@pytest.fixture(scope="module")
def engine(tiny_onnx, tmp_path_factory):
    out = tmp_path_factory.mktemp("engine") / "model.engine"
    opts = BuildOptions(precision="fp32", batch=BatchProfile(1, 4, 8),
                        timing_cache=str(out.parent / "timing.cache"))
    return build_engine(tiny_onnx, out, opts).engine


def test_engine_is_a_plain_plan(engine):
    import tensorrt as trt

    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    assert runtime.deserialize_cuda_engine(engine.read_bytes()) is not None  # no header in front of the plan
    assert (engine.parent / "timing.cache").stat().st_size > 0
    m = json.loads((engine.parent / "model.engine.json").read_text())
    assert m["tensorrt_version"] == trt.__version__ and m["device"]["compute_capability"]


def test_engine_matches_onnxruntime(engine, tiny_onnx, tiny_data):
    paths = sorted((tiny_data / "val").rglob("*.png"))
    frames = [read_image(p) for p in paths]
    with open_runner(tiny_onnx) as ort_runner:
        ref = ort_runner.infer(ort_runner.preprocess(frames[:8]))
    with open_runner(engine) as r:
        assert r.batch_range == (1, 8) and r.info.labels == ort_runner.info.labels
        got = r.infer(r.preprocess(frames[:8]))
        np.testing.assert_allclose(got, ref, atol=1e-3, rtol=1e-3)
        assert [p.index for p in r.predict(frames[:8])] == list(ref.argmax(1))
        with pytest.raises(RuntimeBackendError, match=r"expected \(N in 1\.\.8, 3, 32, 32\) float32"):
            r.infer(np.zeros((9, 3, 32, 32), np.float32))


def test_garbage_engine_without_manifest(tmp_path):
    bad = tmp_path / "bad.engine"
    bad.write_bytes(b"not a plan" * 100)
    with pytest.raises(ModelError, match="is not a TensorRT plan that TensorRT .* can load"):
        open_runner(bad)
