"""build_engine against a fake TensorRT: the exact builder calls for each option, the plain plan on
disk, the manifest beside it, the timing cache, and the errors a user gets instead of a wrong engine."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import torch

from edgetl.trt.build import build_engine
from edgetl.errors import EdgetlError
from edgetl.fileio import sha256_file
from edgetl.trt.options import BatchProfile, BuildError, BuildOptions

STRONGLY_TYPED, EXPLICIT_BATCH = 1 << 1, 1 << 0


def opts(**kw) -> BuildOptions:
    if "batch" in kw:
        kw["batch"] = BatchProfile.parse(kw["batch"])
    return BuildOptions(**kw)


def test_fp16_build_writes_plain_plan_and_manifest(fake_trt, onnx_factory):
    trt = fake_trt("10.3.0")
    onnx = onnx_factory()
    out = build_engine(onnx, options=opts(precision="fp16", batch="1:4:8"))
    engine = onnx.with_suffix(".engine")
    assert out.engine == engine
    assert trt.networks == [0]  # TensorRT 10: no EXPLICIT_BATCH, weakly typed
    assert trt.config.flags == {"FP16"}
    assert trt.config.profiles[0].shapes == {"input": ((1, 3, 32, 32), (4, 3, 32, 32), (8, 3, 32, 32))}
    # the engine is exactly the serialized plan, no header
    assert engine.read_bytes() == b"PLAN ['FP16'] GPU"
    m = json.loads((engine.parent / "model.engine.json").read_text())
    assert m["tensorrt_version"] == "10.3.0" and m["precision"] == "fp16" and m["flags"] == ["FP16"]
    assert m["profiles"] == [{"input": "input", "min": [1, 3, 32, 32], "opt": [4, 3, 32, 32], "max": [8, 3, 32, 32]}]
    assert m["onnx"] == "model.onnx" and m["onnx_sha256"] == sha256_file(onnx)
    assert m["engine_sha256"] == sha256_file(engine) and m["dla_core"] is None
    assert m["model"]["labels"] == ["stop", "yield", "speed_30"] and m["model"]["preprocess"]["size"] == 32
    assert dt.datetime.fromisoformat(m["built_at"]).tzinfo is not None
    assert set(m["device"]) >= {"gpu", "compute_capability", "l4t_release", "jetpack"}


def test_qdq_int8_is_strongly_typed_on_trt10_and_best_adds_fp16(fake_trt, onnx_factory):
    onnx = onnx_factory("model.int8.onnx", qdq=True)
    trt = fake_trt("10.3.0")
    out = build_engine(onnx, options=opts(precision="auto"))
    assert out.engine.name == "model.int8.engine"
    assert trt.networks == [STRONGLY_TYPED] and trt.config.flags == set()
    assert out.manifest.precision == "int8" and out.manifest.strongly_typed
    trt = fake_trt("10.3.0")
    build_engine(onnx, options=opts(precision="best"))
    assert trt.networks == [0] and trt.config.flags == {"FP16", "INT8"}


def test_fp16_graph_is_built_strongly_typed(fake_trt, onnx_factory):
    trt = fake_trt("10.3.0")
    build_engine(onnx_factory(fp16=True), options=opts(precision="fp16"))
    assert trt.networks == [STRONGLY_TYPED] and trt.config.flags == set()


def test_trt8_uses_explicit_batch_and_qdq_int8_flag(fake_trt, onnx_factory):
    trt = fake_trt("8.5.2.2")
    build_engine(onnx_factory(qdq=True), options=opts(precision="int8"))
    assert trt.networks == [EXPLICIT_BATCH] and trt.config.flags == {"INT8"}
    assert trt.config.int8_calibrator is None


def test_trt8_implicit_int8_calibrates_on_the_export_calibration_set(fake_trt, onnx_factory, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *a, **k: self)  # device buffers stay on the CPU here
    from helpers import make_image_tree

    from edgetl.data.calibration import make_calibration_set, scan_folder

    calib = make_image_tree(tmp_path / "calib", ["stop", "yield", "speed_30"], 6, seed=4)
    trt = fake_trt("8.5.2.2")
    out = build_engine(onnx_factory(), options=opts(precision="int8", batch="1:4:8", calib=str(calib), calib_size=16))
    cfg = trt.config
    assert cfg.flags == {"INT8"} and out.manifest.precision == "int8"
    assert cfg.int8_calibrator.get_batch_size() == 4
    assert cfg.calibration_profile.shapes["input"] == ((4, 3, 32, 32),) * 3
    # 16 images sampled as export --int8 samples them, in batches of OPT=4, preprocessed (normalised floats)
    assert [b.shape for b in trt.calibrated] == [(4, 3, 32, 32)] * 4
    assert all(b.dtype == np.float32 and b.min() < 0 for b in trt.calibrated)
    labels = ["stop", "yield", "speed_30"]
    assert out.manifest.calibration_sha256 == make_calibration_set(scan_folder(calib, labels), labels, str(calib),
                                                                    size=16).sha256


@pytest.mark.parametrize("version, precision, qdq, words", [
    ("10.3.0", "int8", False, "edgetl export --int8"),
    ("8.5.2.2", "int8", False, "--calib"),
    ("10.3.0", "fp16", True, "is quantized"),
    ("8.4.1", "fp16", False, "too old"),
])
def test_impossible_precisions_are_refused_not_changed(fake_trt, onnx_factory, version, precision, qdq, words):
    trt = fake_trt(version)
    onnx = onnx_factory(qdq=qdq)
    with pytest.raises(BuildError, match=words):
        build_engine(onnx, options=opts(precision=precision))
    assert trt.configs == [] and not onnx.with_suffix(".engine").exists()


def test_dla_with_gpu_fallback(fake_trt, onnx_factory):
    trt = fake_trt("10.3.0", dla_cores=2)
    out = build_engine(onnx_factory(), options=opts(precision="fp16", dla_core=1))
    assert trt.config.device_type == "DLA" and trt.config.DLA_core == 1
    assert trt.config.flags == {"FP16", "GPU_FALLBACK"} and out.manifest.dla_core == 1
    with pytest.raises(BuildError, match="has 2 DLA core"):
        build_engine(onnx_factory(), options=opts(precision="fp16", dla_core=2))
    with pytest.raises(BuildError, match="DLA runs FP16 or INT8"):
        build_engine(onnx_factory(), options=opts(precision="fp32", dla_core=0))


def test_workspace_limit(fake_trt, onnx_factory):
    trt = fake_trt()
    build_engine(onnx_factory(), options=opts(workspace_mib=256))
    assert trt.config.pools == {"WORKSPACE": 256 << 20}


def test_timing_cache_is_created_saved_and_reloaded(fake_trt, onnx_factory, tmp_path):
    cache = tmp_path / "timing.cache"
    trt = fake_trt()
    build_engine(onnx_factory(), options=opts(timing_cache=str(cache)))
    assert trt.config.caches_created == [b""] and cache.read_bytes() == b"+timings"
    trt = fake_trt()
    build_engine(onnx_factory(), options=opts(timing_cache=str(cache)))
    assert trt.config.caches_created == [b"+timings"] and cache.read_bytes() == b"+timings+timings"


def test_mismatched_timing_cache_is_replaced_with_a_warning(fake_trt, onnx_factory, tmp_path, caplog):
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"other-gpu")
    trt = fake_trt(cache_matches=False)
    build_engine(onnx_factory(), options=opts(timing_cache=str(cache)))
    assert trt.config.caches_created == [b"other-gpu", b""] and cache.read_bytes() == b"+timings"
    assert "another TensorRT or GPU" in caplog.text


def test_static_batch_graph(fake_trt, onnx_factory):
    trt = fake_trt()
    onnx = onnx_factory(batch=1)
    with pytest.raises(BuildError, match="fixed batch of 1: use --batch 1"):
        build_engine(onnx, options=opts(batch="1:4:8"))
    build_engine(onnx, options=opts(batch="1"))
    assert trt.config.profiles == []


def test_parse_and_build_failures_leave_no_engine(fake_trt, onnx_factory):
    onnx = onnx_factory()
    fake_trt(parse_errors=("In node 2 (Gemm): unsupported\nmore detail",))
    with pytest.raises(BuildError, match=r"cannot parse .*model.onnx: In node 2 \(Gemm\): unsupported$"):
        build_engine(onnx)
    fake_trt(build_fails=True)
    with pytest.raises(BuildError, match="could not build"):
        build_engine(onnx)
    assert sorted(p.name for p in onnx.parent.iterdir()) == ["model.onnx"]


def test_missing_onnx_and_missing_tensorrt(onnx_factory, tmp_path, monkeypatch):
    with pytest.raises(EdgetlError, match="no such ONNX model; run 'edgetl export' first"):
        build_engine(tmp_path / "nope.onnx")
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails as when TensorRT is not installed
    with pytest.raises(EdgetlError, match="TensorRT is not installed. On a Jetson it comes with JetPack"):
        build_engine(onnx_factory())


@pytest.mark.parametrize("option", ["-o", "--timing-cache"])
def test_cli_refuses_an_output_under_a_file_before_building(fake_trt, onnx_factory, tmp_path, option):
    from click.testing import CliRunner

    from edgetl.cli.main import cli

    trt = fake_trt("10.3.0")
    (tmp_path / "X").write_text("a file")
    res = CliRunner().invoke(cli, ["build", str(onnx_factory()), option, str(tmp_path / "X" / "out")])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert res.output.strip() == f"Error: cannot write {tmp_path / 'X' / 'out'}: not a folder: {tmp_path / 'X'} is a file"
    assert trt.configs == []  # nothing was built


def test_a_rebuild_of_a_missing_engine_checks_its_outputs_before_building(fake_trt, onnx_factory, tmp_path):
    """``--rebuild-stale`` (build, run, bench) builds through ensure_engine: the same early check applies."""
    from edgetl.errors import OutputError
    from edgetl.trt.build import ensure_engine

    trt = fake_trt("10.3.0")
    (tmp_path / "X").write_text("a file")
    with pytest.raises(OutputError, match="not a folder"):
        ensure_engine(onnx_factory(), tmp_path / "X" / "model.engine")
    assert trt.configs == []  # nothing was built


def test_a_failed_engine_write_is_one_line_and_keeps_the_earlier_engine(fake_trt, onnx_factory, monkeypatch):
    from edgetl.errors import OutputError
    from helpers import fill_disk, leftovers

    fake_trt("10.3.0")
    onnx = onnx_factory()
    engine = onnx.with_suffix(".engine")
    engine.write_bytes(b"an earlier plan")
    fill_disk(monkeypatch, ("model.engine",))
    with pytest.raises(OutputError, match=r"model\.engine: disk full"):
        build_engine(onnx, options=opts(precision="fp16"))
    assert engine.read_bytes() == b"an earlier plan" and leftovers(onnx.parent) == []
