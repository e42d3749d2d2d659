"""ONNX copies of the tiny model for the bench tests: dynamic batch, and one fixed to batch 1."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model, tmp_path_factory) -> Path:
    from edgetl.checkpoint import load_model
    from edgetl.export.onnx_export import export_onnx

    model, info = load_model(tiny_model)
    return export_onnx(model, info, tmp_path_factory.mktemp("bench_onnx") / "model.onnx")


@pytest.fixture(scope="session")
def fixed_batch_onnx(tiny_onnx, tmp_path_factory) -> Path:
    """The same model with its input declared as batch 1 only, like an engine profile of 1..1."""
    import onnx

    proto = onnx.load(str(tiny_onnx))
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    out = tmp_path_factory.mktemp("bench_fixed") / "fixed.onnx"
    onnx.save(proto, str(out))
    return out
