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


def _conv_head_onnx(path, spatial: str, classes: int = 10, size: int = 16):
    """A classifier ending in a 1x1 convolution: output (N, C, 1, 1) when ``spatial`` is "pooled" (no final
    flatten), (N, C, S, S) when "unpooled" (no pooling at all)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgetl.spec import ModelInfo, Preprocess

    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(classes, 3, 1, 1)).astype(np.float32), "W")
    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["pooled"])] if spatial == "pooled" else []
    nodes.append(helper.make_node("Conv", ["pooled" if nodes else "input", "W"], ["logits"]))
    graph = helper.make_graph(nodes, "conv-head", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                  ["N", 3, size, size])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    info = ModelInfo(backbone="tiny", labels=tuple(f"c{i}" for i in range(classes)),
                     preprocess=Preprocess(size=size, resize=size))
    helper.set_model_props(model, info.to_metadata_props())
    onnx.save(model, str(path))
    return path


def test_trailing_singleton_dimensions_of_the_output_are_accepted(tmp_path):
    path = _conv_head_onnx(tmp_path / "model.onnx", "pooled")
    with open_runner(path) as r:
        logits = r.infer(np.zeros((2, 3, 16, 16), np.float32))
        assert logits.shape == (2, 10)
        assert len(r.predict([np.zeros((20, 20, 3), np.uint8)])) == 1


def test_an_output_of_another_shape_is_one_line_naming_it(tmp_path):
    path = _conv_head_onnx(tmp_path / "model.onnx", "unpooled")
    with open_runner(path) as r, pytest.raises(RuntimeBackendError) as err:
        r.infer(np.zeros((1, 3, 16, 16), np.float32))
    msg = str(err.value)
    assert "(1, 10, 16, 16)" in msg and "expected (1, 10)" in msg and "\n" not in msg


def test_cli_run_on_a_model_without_a_final_flatten(tmp_path):
    import cv2
    from click.testing import CliRunner

    from edgetl.cli.main import cli

    model = _conv_head_onnx(tmp_path / "model.onnx", "pooled")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((16, 16, 3), 60 * i, np.uint8))
    res = CliRunner().invoke(cli, ["run", str(model), str(frames), "--headless"])
    assert res.exit_code == 0 and "3 frames processed" in res.output, res.output
    bad = _conv_head_onnx(tmp_path / "bad.onnx", "unpooled")
    res = CliRunner().invoke(cli, ["run", str(bad), str(frames), "--headless"])
    assert res.exit_code == 1 and "Traceback" not in res.output and "(1, 10, 16, 16)" in res.output, res.output
