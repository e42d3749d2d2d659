"""Quantization-aware training: fake quantizers that follow the target preset, the Q/DQ graphs they export
(TensorRT's placement rules, onnxruntime's fused kernels), the --qat auto decision and its report, and
one-line errors that leave earlier files in place."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner
from onnx import numpy_helper

from edgetl.checkpoint import load_model
from edgetl.cli.main import cli
from edgetl.data import calibration as cal
from edgetl.data.images import load_images
from edgetl.data.layouts import load_dataset
from edgetl.errors import DataError, ExportError
from edgetl.export import ExportConfig, export_run
from edgetl.export import qat
from edgetl.export.evaluate import reference_logits
from edgetl.export.quantize import get_target
from edgetl.runtime.onnxruntime_runner import read_onnx_info

pytest.importorskip("torchao", reason="QAT needs torchao (pip install 'edgetl[qat]')")

Q, DQ = "QuantizeLinear", "DequantizeLinear"


class Graph:
    """What a test needs to read a Q/DQ graph: producers, initializers and each node's quantization."""

    def __init__(self, path):
        self.model = onnx.load(str(path))
        self.nodes = list(self.model.graph.node)
        self.inits = {i.name: numpy_helper.to_array(i) for i in self.model.graph.initializer}
        self.producer = {o: n for n in self.nodes for o in n.output}

    def of(self, *ops: str) -> list:
        return [n for n in self.nodes if n.op_type in ops]

    def dq_of(self, tensor: str):
        """The DequantizeLinear that feeds ``tensor``, or None."""
        n = self.producer.get(tensor)
        return n if n is not None and n.op_type == DQ else None

    def axis(self, node) -> int | None:
        return next((a.i for a in node.attribute if a.name == "axis"), None)


def _files(run) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory, tiny_model, tiny_data, make_run, sabotage_first_layer):
    """``export --int8 --target tensorrt --qat auto`` on a run whose PTQ needs float fallbacks (CLI)."""
    run = make_run(tmp_path_factory.mktemp("qat") / "run", tiny_model, tiny_data)
    first = export_run(ExportConfig(run=run, int8=True, target="tensorrt", max_drop=0.0, latency_iters=5))
    assert first.report["int8"]["float_nodes"] == []
    sabotage_first_layer(run)  # PTQ needs float fallbacks; QAT calibrates its own ranges
    res = CliRunner().invoke(cli, ["export", str(run), "--int8", "--target", "tensorrt", "--max-drop", "0",
                                   "--qat", "auto", "--qat-epochs", "1"])
    assert res.exit_code == 0, res.output
    return run, res.output


@pytest.fixture(scope="module")
def cpu_graph(tmp_path_factory, tiny_model, tiny_data, int8_run):
    """The tiny model prepared for the CPU form PTQ chose here (``int8_run``) on PTQ's calibration images,
    and its Q/DQ graph before any training (training itself runs in ``auto_run``)."""
    model, info = load_model(tiny_model)
    data = load_dataset(tiny_data)
    calib = cal.pick_calibration_set(None, data, info.labels)
    form = get_target(json.loads((int8_run / "export.json").read_text())["int8"]["form"])
    prepared = qat.prepare_model(model, info, form, load_images(calib.samples, info.preprocess))
    path = tmp_path_factory.mktemp("qatcpu") / "qat.onnx"
    path.write_bytes(qat.to_onnx(prepared, info, 17).SerializeToString())
    return path, prepared, load_images(data.splits["val"], info.preprocess)


# ------------------------------------------------------------------------------------- the presets

def test_tensorrt_qat_graph_follows_tensorrts_explicit_quantization_rules(auto_run):
    run, _ = auto_run
    g = Graph(run / "model.int8.onnx")
    weighted = g.of("Conv", "Gemm")
    assert weighted and len(g.of(Q)) and len(g.of(DQ))
    for n in weighted:
        x, w = g.dq_of(n.input[0]), g.dq_of(n.input[1])
        assert x is not None, f"{n.name}: no Q/DQ before its input"
        assert w is not None and w.input[0] in g.inits, f"{n.name}: weights are not a DQ of constants"
        q = g.inits[w.input[0]]
        out_channels = q.shape[0]
        assert q.dtype == np.int8 and g.axis(w) == 0
        assert g.inits[w.input[1]].shape == (out_channels,) and (g.inits[w.input[1]] > 0).all()
        assert len(n.input) < 3 or g.dq_of(n.input[2]) is None  # float bias: TensorRT has no INT32 dequantize
    for n in g.of("Add"):
        from_weighted = [g.producer.get(i) is not None and g.producer[i].op_type in ("Conv", "Gemm")
                         for i in n.input]
        residual = [i for i, fw in zip(n.input, from_weighted) if not fw] or list(n.input[1:])
        assert all(g.dq_of(i) is not None for i in residual), f"{n.name}: residual input not quantized"
    for n in g.of(Q, DQ):  # symmetric signed INT8, zero points 0
        zp = g.inits[n.input[2]]
        assert zp.dtype == np.int8 and not zp.any()
    uses = [i for n in g.nodes for i in n.input]  # one Q/DQ pair per consumer, as the preset asks
    assert all(uses.count(n.output[0]) == 1 for n in g.of(Q, DQ))


def test_edgetl_build_takes_the_qat_graph_as_explicit_int8(auto_run):
    """What 'edgetl build' reads from the QAT model, and the builder settings it plans (TensorRT 10 and 8.5)."""
    from edgetl.trt.build import read_graph
    from edgetl.trt.options import BuildOptions, plan_precision

    run, _ = auto_run
    facts, info = read_graph(run / "model.int8.onnx")
    assert facts.has_qdq and facts.dynamic and facts.input_name == "input"
    assert info.labels == ("circle_red", "square_green", "triangle_blue") and info.precision == "int8"
    plan = plan_precision("10.3.0", BuildOptions(precision="auto"), facts)
    assert plan.precision == "int8" and plan.strongly_typed and not plan.calibrate
    legacy = plan_precision("8.5.2.2", BuildOptions(precision="int8"), facts)
    assert "INT8" in legacy.flags and not legacy.calibrate
    g = Graph(run / "model.int8.onnx")  # opset 17 and IR 8, as the FP32 model: what TensorRT 8.5's parser reads
    assert [o.version for o in g.model.opset_import if o.domain in ("", "ai.onnx")] == [17] and g.model.ir_version == 8


def test_cpu_qat_starts_from_ptqs_ranges_and_types(cpu_graph, int8_run):
    """Before any training, QAT's quantizers are PTQ's: the input's scale and zero point, each layer's
    per-channel weight scales (7-bit with reduce_range), uint8 activations, INT32 biases."""
    path, *_ = cpu_graph
    form = get_target(json.loads((int8_run / "export.json").read_text())["int8"]["form"])
    w_max = 64 if form.reduce_range else 127
    g, ptq = Graph(path), Graph(int8_run / "model.int8.onnx")
    assert ptq.model.metadata_props and read_onnx_info(int8_run / "model.int8.onnx").extra["float_nodes"] == []

    def input_q(graph):
        (n,) = [n for n in graph.of(Q) if n.input[0] == "input"]
        return float(graph.inits[n.input[1]]), graph.inits[n.input[2]]

    (s_qat, z_qat), (s_ptq, z_ptq) = input_q(g), input_q(ptq)
    assert s_qat == pytest.approx(s_ptq, rel=1e-5) and z_qat.dtype == z_ptq.dtype == np.uint8 and z_qat == z_ptq
    first_w = [g.dq_of(n.input[1]) for n in g.of("Conv")][0], [ptq.dq_of(n.input[1]) for n in ptq.of("Conv")][0]
    s = [graph.inits[d.input[1]] for graph, d in zip((g, ptq), first_w)]
    np.testing.assert_allclose(s[0], s[1], rtol=1e-4)
    for n in g.of("Conv", "Gemm"):
        w, b = g.dq_of(n.input[1]), g.dq_of(n.input[2])
        assert g.inits[w.input[0]].dtype == np.int8 and np.abs(g.inits[w.input[0]]).max() <= w_max
        assert not g.inits[w.input[2]].any() and g.axis(w) == 0
        assert b is not None and g.inits[b.input[0]].dtype == np.int32
    acts = [g.inits[n.input[2]] for n in g.of(Q)]
    assert acts and all(z.dtype == np.uint8 for z in acts)


def test_cpu_qat_graph_runs_on_onnxruntimes_integer_kernels(cpu_graph, tmp_path):
    import onnxruntime as ort

    path, *_ = cpu_graph
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    opts.log_severity_level = 3
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node]
    assert ops.count("QLinearConv") == len(Graph(path).of("Conv")) and "Conv" not in ops


def test_the_exported_graph_computes_what_training_simulates(cpu_graph):
    path, prepared, val = cpu_graph
    with torch.no_grad():
        simulated = np.concatenate([prepared(torch.from_numpy(b)).numpy() for b in val.batches(32)])
    written = reference_logits(path, val)
    assert (simulated.argmax(1) == written.argmax(1)).mean() >= 0.9


def test_every_target_has_a_placement_and_unfit_ones_are_refused():
    from edgetl.export.quantize import TARGETS, TargetPreset

    for preset in TARGETS.values():
        assert qat.placement_for(preset).name in qat.PLACEMENTS
    with pytest.raises(ExportError, match="writes qoperator graphs; QAT exports Q/DQ only"):
        qat.preset_specs(TargetPreset("qop", quant_format="qoperator", speed_gate=True))
    with pytest.raises(ExportError, match="QAT has no Q/DQ placement for target 'other'"):
        qat.placement_for(TargetPreset("other"))


# ----------------------------------------------------------------------------------- --qat auto

def test_auto_runs_qat_when_ptq_needs_float_layers_and_keeps_the_better(auto_run):
    run, output = auto_run
    rep = json.loads((run / "export.json").read_text())["int8"]
    sel, ptq, q = rep["selection"], rep["ptq"], rep["qat"]
    assert sel["mode"] == "auto" and sel["qat_ran"] and "tensor(s) in float" in sel["why_qat"]
    assert ptq["float_nodes"] > 0 and q["float_nodes"] == 0
    assert sel["winner"] == "qat" and "fewer tensors in float" in sel["why"]
    assert rep["method"] == "qat" and rep["float_nodes"] == [] and rep["nonzero_zero_points"] == 0
    assert rep["drop_points"] == q["drop_points"] <= 0.0
    assert {"epochs", "lr", "start_ptq_drop_points", "seconds_per_epoch", "history"} <= set(q)
    assert q["epochs"] == len(q["history"]) == 1 and q["lr"] == qat.DEFAULT_LR
    info = read_onnx_info(run / "model.int8.onnx")
    assert info.extra["method"] == "qat" and info.extra["float_nodes"] == [] and info.precision == "int8"
    sidecar = json.loads((run / "model.int8.onnx.json").read_text())
    assert sidecar["export"]["file"] == "model.int8.onnx" and sidecar["export"]["opset"] == 17
    assert "kept QAT" in output and "INT8 model kept" in output
    assert "records no fine-tuning recipe" in output  # the fixture's model.pt was not made by finetune
    assert not list(run.glob(".export-*")) and not (run / "qat.onnx").exists()


def test_auto_leaves_a_clean_ptq_model_alone(run_dir, monkeypatch):
    def never(*a, **k):
        raise AssertionError("QAT ran")

    monkeypatch.setattr(qat, "train_qat", never)
    rep = export_run(ExportConfig(run=run_dir, int8=True, target="tensorrt", max_drop=100.0, latency_iters=5,
                                  qat=qat.QatConfig("auto"))).report["int8"]
    assert rep["selection"]["qat_ran"] is False and rep["selection"]["winner"] == "ptq"
    assert rep["method"] == "minmax" and "qat" not in rep


def test_decisions_follow_the_gates_numbers():
    ok = dict(top1=0.9, agreement=0.95, within_budget=True)
    ptq = qat.Candidate("ptq", drop_points=0.3, float_nodes=4, speedup=1.1, **ok)
    fast = qat.Candidate("qat", drop_points=0.4, float_nodes=0, speedup=1.5, **ok)
    assert qat.choose(ptq, fast)[0] == "qat"
    assert qat.choose(ptq, qat.Candidate("qat", drop_points=0.1, float_nodes=0, speedup=0.9, **ok))[0] == "ptq"
    failed = qat.Candidate("qat", 0.8, 2.0, 0.9, 0, False, 1.6)
    assert qat.choose(ptq, failed) == ("ptq", "QAT misses the accuracy budget (drop 2.00 points)")
    assert qat.choose(None, fast)[0] == "qat" and qat.choose(None, failed)[0] == "none"
    same = qat.Candidate("qat", drop_points=0.3, float_nodes=4, speedup=1.11, **ok)
    assert qat.choose(ptq, same)[0] == "ptq"  # a tie keeps the model that needed no training
    auto, trt, cpu = qat.QatConfig("auto"), get_target("tensorrt"), get_target("cpu")
    assert qat.speed_cost(1.5, 1.0) == pytest.approx(1.0) and qat.speed_cost(1.5, 1.4) == pytest.approx(0.2)
    assert qat.speed_cost(0.9, 0.8) == 0.0
    assert qat.why_qat(auto, cpu, ptq, cost=0.2) is None and "give away 60%" in qat.why_qat(auto, cpu, ptq, cost=0.6)
    assert "misses the accuracy budget" in qat.why_qat(auto, cpu, None, None)
    assert "unquantized" in qat.why_qat(auto, trt, ptq, None)
    clean = qat.Candidate("ptq", drop_points=0.1, float_nodes=0, speedup=1.5, **ok)
    assert qat.why_qat(auto, trt, clean, None) is None and qat.why_qat(qat.QatConfig("on"), trt, clean, None)


# ------------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "on", "epochs": 0}, "--qat-epochs 0: quantization-aware training needs at least 1 epoch"),
    ({"mode": "sometimes"}, "--qat 'sometimes': use one of off, auto, on"),
    ({"mode": "on", "lr": 0.0}, "--qat-lr 0.0: the learning rate must be above 0"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ExportError, match=message.replace("(", r"\(")):
        qat.QatConfig(**kwargs)


def _one_line_error(*args: str, expect: str) -> None:
    res = CliRunner().invoke(cli, ["export", *args])
    assert res.exit_code != 0 and "Traceback" not in res.output, res.output
    assert res.output.strip().splitlines()[-1].startswith("Error:") and expect in res.output, res.output


def test_bad_input_is_one_line_and_changes_no_file(run_dir, tiny_data):
    export_run(ExportConfig(run=run_dir, int8=True, target="tensorrt", latency_iters=5))
    before = _files(run_dir)
    qat_on = ("--int8", "--target", "tensorrt", "--qat", "on")
    _one_line_error(str(run_dir / "model.int8.onnx"), *qat_on, expect="is a file, not a run folder")
    _one_line_error(str(run_dir), *qat_on, "--qat-epochs", "0", expect="0 is not in the range x>=1")
    _one_line_error(str(run_dir), "--qat", "on", expect="--qat trains the INT8 model: add --int8")
    _one_line_error(str(run_dir), *qat_on, "--calib-size", "4", expect="image(s)")
    (run_dir / "config.json").write_text("{}")  # a run that no longer says where its training data is
    _one_line_error(str(run_dir), *qat_on, "--no-verify", "--calib", str(tiny_data / "calib"),
                    expect="QAT fine-tunes on the run's train split, but the run records no data root")
    assert _files(run_dir) == {**before, "config.json": b"{}"}
    assert not list(run_dir.glob(".export-*"))


def test_a_failed_qat_leaves_the_ptq_model_and_earlier_files(run_dir, monkeypatch):
    export_run(ExportConfig(run=run_dir, int8=True, target="tensorrt", latency_iters=5))
    before = _files(run_dir)

    def crash(*a, **k):
        raise DataError("train/: 13 of 36 images are unreadable (more than 5%)")

    monkeypatch.setattr(qat, "train_qat", crash)
    with pytest.raises(DataError, match="unreadable"):
        export_run(ExportConfig(run=run_dir, int8=True, target="tensorrt", latency_iters=5, qat=qat.QatConfig("on")))
    assert _files(run_dir) == before and not list(run_dir.glob(".export-*"))
