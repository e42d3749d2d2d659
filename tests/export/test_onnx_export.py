"""FP32 export: a clean opset-17 graph with dynamic batch, metadata inside, verified against torch."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from edgetl.checkpoint import load_model
from edgetl.errors import ExportError, ModelError
from edgetl.export import ExportConfig, export_run
from edgetl.export.evaluate import check_parity
from edgetl.export.onnx_export import build_onnx
from edgetl.runtime import open_runner
from edgetl.runtime.onnxruntime_runner import read_onnx_info


@pytest.fixture(scope="module")
def fp32_run(tmp_path_factory, tiny_model, tiny_data, make_run):
    run = make_run(tmp_path_factory.mktemp("fp32") / "run", tiny_model, tiny_data)
    return run, export_run(ExportConfig(run=run, latency_iters=5))


def test_graph_is_opset17_with_dynamic_batch_and_named_io(fp32_run):
    run, _ = fp32_run
    m = onnx.load(str(run / "model.onnx"))
    onnx.checker.check_model(m, full_check=True)
    assert {o.version for o in m.opset_import if o.domain in ("", "ai.onnx")} == {17}
    assert [i.name for i in m.graph.input] == ["input"] and [o.name for o in m.graph.output] == ["logits"]
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, 32, 32]
    assert not {"Constant", "Identity"} & {n.op_type for n in m.graph.node}  # folded away


def test_metadata_and_sidecar_describe_the_model(fp32_run, tiny_model):
    run, _ = fp32_run
    _, info = load_model(tiny_model)
    got = read_onnx_info(run / "model.onnx")
    assert got.labels == info.labels and got.preprocess == info.preprocess and got.backbone == info.backbone
    assert got.source_sha256 == info.source_sha256 and got.precision == "fp32"
    props = {q.key: q.value for q in onnx.load(str(run / "model.onnx")).metadata_props}
    assert props["interpolation"] == info.preprocess.interpolation == "area"
    side = json.loads((run / "model.onnx.json").read_text())
    assert side["labels"] == list(info.labels) and side["export"]["opset"] == 17
    assert side["preprocess"]["interpolation"] == "area"
    assert side["export"]["inputs"]["input"][1:] == [3, 32, 32]


def test_checkpoint_from_before_interpolation_was_recorded_exports_with_the_area_rule(tiny_model, tmp_path):
    import torch

    from edgetl.export.onnx_export import export_onnx

    payload = torch.load(tiny_model, map_location="cpu", weights_only=True)
    del payload["info"]["preprocess"]["interpolation"]
    torch.save(payload, tmp_path / "old.pt")
    model, info = load_model(tmp_path / "old.pt")
    assert info.preprocess.interpolation == "area"
    assert read_onnx_info(export_onnx(model, info, tmp_path / "old.onnx")).preprocess == info.preprocess


def test_onnx_predicts_like_torch_for_any_batch_size(fp32_run, tiny_data):
    run, result = fp32_run
    assert result.report["fp32"]["verified"] and result.report["fp32"]["parity_max_abs"] <= 1e-4
    paths = sorted((tiny_data / "test").rglob("*.png"))[:5]
    with open_runner(run / "model.pt") as t, open_runner(run / "model.onnx") as o:
        batch = t.preprocess([__import__("cv2").imread(str(p)) for p in paths])
        assert np.abs(t.infer(batch) - o.infer(batch)).max() <= 1e-4
        assert o.infer(batch[:1]).shape == (1, 3)


def test_softmax_adds_probabilities_output(tiny_model):
    model, info = load_model(tiny_model)
    m = build_onnx(model, info, softmax=True)
    assert [o.name for o in m.graph.output] == ["logits", "probabilities"]


def test_parity_check_rejects_a_wrong_export():
    ref = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0]], np.float32)
    assert check_parity(ref, ref + 5e-5) <= 1e-4
    with pytest.raises(ExportError, match="max abs logit difference"):
        check_parity(ref, ref + 1e-3)
    with pytest.raises(ExportError, match="top-1 differs on 1"):
        check_parity(ref, ref[[0, 0]])


def test_bad_checkpoints_fail_and_leave_previous_export_alone(run_dir):
    (run_dir / "model.onnx").write_bytes(b"previous export")
    (run_dir / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="corrupt"):
        export_run(ExportConfig(run=run_dir))
    import torch

    torch.save({"format": "something.else"}, run_dir / "model.pt")
    with pytest.raises(ModelError, match="not an edgetl"):
        export_run(ExportConfig(run=run_dir))
    (run_dir / "model.pt").unlink()
    with pytest.raises(ModelError, match="no such file"):
        export_run(ExportConfig(run=run_dir))
    assert (run_dir / "model.onnx").read_bytes() == b"previous export"
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".export-")]


def test_opset_too_low_for_per_channel_int8_is_refused_before_writing(run_dir):
    with pytest.raises(ExportError, match="opset 12 is too low"):
        export_run(ExportConfig(run=run_dir, int8=True, opset=12))
    assert not (run_dir / "model.onnx").exists()


def test_no_verify_needs_no_data_and_says_so(tmp_path, tiny_model, make_run):
    run = make_run(tmp_path / "run", tiny_model, None)
    result = export_run(ExportConfig(run=run, verify=False, latency_iters=5))
    assert result.report["fp32"]["verified"] is False and result.report["fp32"]["parity_max_abs"] is None
    assert any("NOT compared" in n for n in result.notices)
    assert (run / "model.onnx").is_file()
