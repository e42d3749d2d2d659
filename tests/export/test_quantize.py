"""INT8: methods and target presets as registry entries, the calibration reader, the accuracy gate with its
sensitivity search, the range cache, export.json."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgetl.data.calibration import scan_folder
from edgetl.data.images import load_images
from edgetl.errors import ExportError
from edgetl.export import ExportConfig, export_run
from edgetl.export.quantize import (METHODS, TARGETS, OrtCalibrationReader, QuantMethod, TargetPreset,
                                    calibration_reader, get_method, get_target)
from edgetl.runtime import open_runner
from edgetl.runtime.onnxruntime_runner import read_onnx_info
from edgetl.spec import Preprocess

CLASSES = ("circle_red", "square_green", "triangle_blue")


def _zero_points(path) -> list[np.ndarray]:
    m = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    return [inits[n.input[2]] for n in m.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
            and len(n.input) > 2 and n.input[2] in inits]


def _calib_images(tiny_data):
    return load_images(scan_folder(tiny_data / "calib", CLASSES), Preprocess(size=32, resize=32))


def test_reader_feeds_normalised_batches_and_rewinds(tiny_data):
    reader = OrtCalibrationReader(_calib_images(tiny_data), batch_size=8)
    first = [d["input"] for d in reader]
    assert [b.shape[0] for b in first] == [8, 8, 2] and first[0].dtype == np.float32
    assert len(reader) == 3
    again = [d["input"] for d in reader]
    assert np.array_equal(np.concatenate(first), np.concatenate(again))


def test_each_method_brings_its_calibration_batching(tiny_data):
    """onnxruntime's histogram collectors need equal batches: entropy and percentile get one image at a time."""
    images = _calib_images(tiny_data)
    sizes = {name: [d["input"].shape[0] for d in calibration_reader(images, name)] for name in METHODS}
    assert sizes == {"minmax": [16, 2], "entropy": [1] * 18, "percentile": [1] * 18}
    from onnxruntime.quantization import CalibrationMethod

    assert all(hasattr(CalibrationMethod, m.ort_method) and m.description for m in METHODS.values())
    with pytest.raises(ExportError, match="unknown --method 'kl': use one of minmax, entropy, percentile"):
        get_method("kl")


def test_presets_are_frozen_and_checked():
    trt = get_target("tensorrt")
    assert trt.to_dict()["extra_options"] == {"AddQDQPairToWeight": True, "DedicatedQDQPair": True,
                                              "QuantizeBias": False}
    with pytest.raises(TypeError):
        trt.extra_options["QuantizeBias"] = True  # a preset cannot drift between runs
    assert "extra_options" not in get_target("cpu").to_dict()
    assert TARGETS.names() == ("cpu", "cpu-avx2", "cpu-vnni", "tensorrt")
    with pytest.raises(ExportError, match="unknown --target 'gpu'"):
        get_target("gpu")
    with pytest.raises(ExportError, match="'int4' is not one of"):
        TargetPreset("odd", activation_type="int4")
    with pytest.raises(ExportError, match="unknown --method 'kl'"):
        TargetPreset("odd", default_method="kl")
    with pytest.raises(ExportError, match=r"CPU class\(es\) \['arm'\] not in"):
        TargetPreset("odd", cpu_classes=("arm",))


def test_a_new_method_or_target_is_one_entry_and_reaches_the_cli(run_dir):
    from click.testing import CliRunner

    from edgetl.cli.main import cli

    method = QuantMethod("minmax16", "MinMax", 16, "test entry: minmax under another name")
    with METHODS.temporarily(method.name, method), TARGETS.temporarily("tensorrt_asym", TargetPreset(
            "tensorrt_asym", "test entry: tensorrt with asymmetric activations", activation_symmetric=False,
            default_method="minmax16")):
        help_text = " ".join(CliRunner().invoke(cli, ["export", "--help"]).output.split())
        assert "[cpu|cpu-avx2|cpu-vnni|tensorrt|tensorrt_asym]" in help_text
        assert "minmax16" in help_text and "tensorrt_asym" in help_text
        assert "test entry: tensorrt with asymmetric activations" in help_text
        res = CliRunner().invoke(cli, ["export", str(run_dir), "--int8", "--target", "tensorrt_asym",
                                           "--max-drop", "100"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        rep = json.loads((run_dir / "export.json").read_text())["int8"]
        assert rep["target"] == "tensorrt_asym" and rep["method"] == "minmax16"
        assert not rep["preset"]["activation_symmetric"]
    help_text = CliRunner().invoke(cli, ["export", "--help"]).output
    assert "minmax16" not in help_text and "tensorrt_asym" not in help_text
    res = CliRunner().invoke(cli, ["export", str(run_dir), "--int8", "--target", "tensorrt_asym"])
    assert res.exit_code == 2 and "'tensorrt_asym' is not one of" in res.output


def test_export_json_has_the_documented_fields(int8_run):
    rep = json.loads((int8_run / "export.json").read_text())
    assert {"top1", "parity_max_abs", "latency_ms"} <= set(rep["fp32"])
    assert {"top1", "drop_points", "agreement", "latency_ms", "speedup", "method", "target", "float_nodes"} <= set(rep["int8"])
    assert {"images", "per_class", "sha256"} <= set(rep["calibration"])
    for x in (rep["fp32"]["top1"], rep["int8"]["top1"], rep["int8"]["agreement"]):
        assert 0.0 <= x <= 1.0
    assert rep["int8"]["drop_points"] == pytest.approx((rep["fp32"]["top1"] - rep["int8"]["top1"]) * 100)
    assert rep["int8"]["drop_points"] <= 0.5 and rep["int8"]["target"] == "cpu"
    assert rep["int8"]["speedup"] == pytest.approx(rep["fp32"]["latency_ms"] / rep["int8"]["latency_ms"], rel=0.01)
    assert rep["calibration"]["per_class"] == {"circle_red": 6, "square_green": 6, "triangle_blue": 6}
    manifest = json.loads((int8_run / "calibration.json").read_text())
    assert manifest["sha256"] == rep["calibration"]["sha256"] and len(manifest["images"]) == 18


def test_int8_model_is_qdq_describes_itself_and_recognises_images(int8_run, tiny_data):
    m = onnx.load(str(int8_run / "model.int8.onnx"))
    ops = {n.op_type for n in m.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and not any(o.startswith("QLinear") for o in ops)
    info = read_onnx_info(int8_run / "model.int8.onnx")
    rep = json.loads((int8_run / "export.json").read_text())
    assert info.precision == "int8" and info.extra["target"] == "cpu"
    assert info.extra["calibration_sha256"] == rep["calibration"]["sha256"]
    paths = sorted((tiny_data / "test").rglob("*.png"))
    truth = [info.labels.index(p.parent.name) for p in paths]
    with open_runner(int8_run / "model.int8.onnx") as r:
        preds = [p.index for p in r.predict(paths)]
    assert np.mean(np.array(preds) == truth) >= 0.8


def test_tensorrt_preset_is_symmetric_int8_with_zero_points_zero(run_dir):
    rep = export_run(ExportConfig(run=run_dir, int8=True, target="tensorrt", latency_iters=5)).report
    zps = _zero_points(run_dir / "model.int8.onnx")
    assert zps and all(z.dtype == np.int8 and not z.any() for z in zps)
    assert rep["int8"]["nonzero_zero_points"] == 0 and rep["int8"]["latency_ms"] is None
    assert rep["int8"]["calibration_cache"]["reused"] is False

    again = export_run(ExportConfig(run=run_dir, int8=True, target="tensorrt", latency_iters=5)).report
    assert again["int8"]["calibration_cache"]["reused"] is True and again["int8"]["sha256"] == rep["int8"]["sha256"]
    other = export_run(ExportConfig(run=run_dir, int8=True, target="tensorrt", method="percentile", latency_iters=5)).report
    assert other["int8"]["calibration_cache"]["reused"] is False
    fewer = export_run(ExportConfig(run=run_dir, int8=True, target="tensorrt", calib_size=16, latency_iters=5)).report
    assert fewer["int8"]["calibration_cache"]["reused"] is False


def test_sensitive_layers_stay_float_until_within_budget(run_dir, sabotage_first_layer):
    first = export_run(ExportConfig(run=run_dir, int8=True, target="tensorrt", max_drop=100.0, latency_iters=5))
    assert first.report["int8"]["float_nodes"] == []  # within budget: no search
    # the budget is what this CPU's INT8 lost before the sabotage, so only the sabotaged layer must go back
    budget = max(first.report["int8"]["drop_points"], 0.0)
    sabotage_first_layer(run_dir)
    cfg = ExportConfig(run=run_dir, int8=True, target="tensorrt", max_drop=budget, latency_iters=5)
    rep = export_run(cfg).report["int8"]
    assert rep["calibration_cache"]["reused"] is True and rep["drop_points"] <= budget
    assert "/features/features.0/features.0.0/Conv" in rep["float_nodes"] and len(rep["float_nodes"]) <= 8
    assert read_onnx_info(run_dir / "model.int8.onnx").extra["float_nodes"] == rep["float_nodes"]


def test_unreachable_budget_fails_with_numbers_and_keeps_previous_files(run_dir, sabotage_first_layer):
    export_run(ExportConfig(run=run_dir, int8=True, target="tensorrt", latency_iters=5))
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    sabotage_first_layer(run_dir)
    # INT8 would have to be 100 points more accurate than an FP32 model that gets any image right:
    # no model and no CPU's kernels can meet that, so the search must end in the error.
    with pytest.raises(ExportError, match=r"loses -?[\d.]+ points of top-1 \(FP32 [\d.]+, INT8"):
        export_run(ExportConfig(run=run_dir, int8=True, target="tensorrt", max_drop=-100.0, latency_iters=5))
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before
