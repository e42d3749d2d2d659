"""Bad input gets one clear line: files that are no model, ONNX without metadata, engines edgetl
cannot load here, and batches of the wrong shape or dtype."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edgetl.errors import EdgetlError, MissingDependencyError, ModelError, RuntimeBackendError
from edgetl.runtime import open_runner


@pytest.mark.parametrize("name, content, words", [
    ("notes.txt", b"hello", "not a model edgetl can run (expected one of .pt, .onnx, .engine, .plan)"),
    ("model.onnx", b"\x00garbage", "is not a readable ONNX model"),
    ("model.pt", b"garbage", "is corrupt or not a PyTorch file"),
])
def test_file_that_is_no_model(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelError) as err:
        open_runner(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and words in msg and "\n" not in msg


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        open_runner(tmp_path / "model.onnx")


def test_onnx_without_metadata_runs_with_stated_defaults(onnx_factory, caplog):
    onnx = onnx_factory(metadata=False)
    with open_runner(onnx) as r:
        assert r.info.labels == ("class_0", "class_1", "class_2")
        assert r.info.preprocess.size == 32
        preds = r.predict([np.zeros((40, 50, 3), np.uint8)])
    assert preds[0].label.startswith("class_")
    assert "has no edgetl metadata: assuming RGB input 32x32" in caplog.text and "ImageNet mean/std" in caplog.text


def test_quantized_onnx_reports_int8(onnx_factory):
    with open_runner(onnx_factory("model.onnx", qdq=True)) as r:  # the name says nothing; the graph does
        assert r.precision == "int8"


@pytest.mark.parametrize("batch, got", [
    (np.zeros((1, 3, 96, 96), np.float64), "got (1, 3, 96, 96) float64"),
    (np.zeros((2, 32, 32, 3), np.float32), "got (2, 32, 32, 3) float32"),
    (np.zeros((2, 3, 32, 32), np.uint8), "got (2, 3, 32, 32) uint8"),
    ([[0.0]], "got () list"),
])
def test_wrong_shape_or_dtype(onnx_factory, batch, got):
    with open_runner(onnx_factory()) as r:
        with pytest.raises(RuntimeBackendError) as err:
            r.infer(batch)
    assert str(err.value) == f"input 'input': {got}, expected (N, 3, 32, 32) float32"


def test_fixed_batch_model_says_which_batch(onnx_factory):
    with open_runner(onnx_factory(batch=1)) as r:
        r.infer(np.zeros((1, 3, 32, 32), np.float32))
        with pytest.raises(RuntimeBackendError, match=r"got \(4, 3, 32, 32\) float32, expected \(1, 3, 32, 32\) float32"):
            r.infer(np.zeros((4, 3, 32, 32), np.float32))


def test_infer_outside_with_block(onnx_factory):
    r = open_runner(onnx_factory())
    with pytest.raises(RuntimeBackendError, match="not active: use it as 'with open_runner"):
        r.infer(np.zeros((1, 3, 32, 32), np.float32))


def test_unknown_option_is_refused(onnx_factory):
    with pytest.raises(ModelError, match="onnxruntime runner does not take option\\(s\\) rebuild_stale"):
        open_runner(onnx_factory(), rebuild_stale=True)


def test_engine_without_tensorrt(tmp_path, monkeypatch):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"plan")
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(MissingDependencyError, match="TensorRT is not installed. On a Jetson it comes with JetPack"):
        open_runner(engine)


def test_engine_without_gpu(tmp_path, fake_trt, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fake_trt("10.3.0")
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"plan")
    with pytest.raises(EdgetlError, match="TensorRT needs a CUDA GPU and a CUDA build of torch; 'edgetl doctor'"):
        open_runner(engine)


def test_engine_with_broken_manifest(tmp_path, fake_trt):
    fake_trt("10.3.0")
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"plan")
    (tmp_path / "model.engine.json").write_text("{not json")
    with pytest.raises(ModelError, match="model.engine.json is not readable JSON .*: rebuild the engine"):
        open_runner(engine)
