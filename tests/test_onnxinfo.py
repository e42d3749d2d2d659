"""What edgetl reads from an ONNX model: its description, whether it is quantized (Q/DQ, which TensorRT
builds from, or onnxruntime's integer ops), and the stated defaults for a model that has no description."""

from __future__ import annotations

import logging

import pytest

from edgetl.errors import ModelError
from edgetl.onnxinfo import default_info, has_qdq, info_from_model, is_quantized, load_onnx, read_onnx_info
from edgetl.spec import ModelInfo, Preprocess


def graph_with(op_type: str, metadata: bool = True):
    """A model proto with one node of ``op_type`` (enough for the facts read here; never run)."""
    from onnx import TensorProto, helper

    node = helper.make_node(op_type, ["x", "w"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 5])])
    model = helper.make_model(graph)
    if metadata:
        info = ModelInfo(backbone="tiny", labels=tuple("abcde"), preprocess=Preprocess(size=16, resize=16))
        helper.set_model_props(model, info.to_metadata_props())
    return model


@pytest.mark.parametrize("op, qdq, quantized", [("QuantizeLinear", True, True), ("MatMulInteger", False, True),
                                                ("MatMul", False, False)])
def test_quantized_graphs(op, qdq, quantized):
    model = graph_with(op)
    assert has_qdq(model) is qdq and is_quantized(model) is quantized
    assert info_from_model(model, "m.onnx").precision == ("int8" if quantized else "fp32")


def test_a_model_without_description_gets_stated_defaults(caplog):
    with caplog.at_level(logging.WARNING):
        info = info_from_model(graph_with("MatMul", metadata=False), "m.onnx")
    assert info.labels == tuple(f"class_{i}" for i in range(5)) and info.preprocess.size == 16
    assert info.extra == {"metadata": "defaults"}
    assert "m.onnx has no edgetl metadata: assuming RGB input 16x16" in caplog.text and "'edgetl export'" in caplog.text


def test_defaults_for_unknown_shapes(caplog):
    info = default_info("model.engine", None, -1, "has no manifest (model.engine.json)", "build it with 'edgetl build'")
    assert info.preprocess.size == 224 and info.num_classes == 1000
    assert "model.engine has no manifest (model.engine.json): assuming RGB input 224x224" in caplog.text


def test_unreadable_onnx(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00nope")
    with pytest.raises(ModelError, match="bad.onnx is not a readable ONNX model"):
        read_onnx_info(bad)
    with pytest.raises(ModelError):
        load_onnx(bad)
