"""The engine manifest and stale engines: what a user sees when the engine no longer fits, and
--rebuild-stale, in the library, the runner and the CLI (with a fake TensorRT)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from edgetl.trt import build as build_mod
from edgetl.trt.build import build_engine, check_engine
from edgetl.cli.main import cli
from edgetl.errors import RuntimeBackendError
from edgetl.runtime import open_runner
from edgetl.trt.device import DeviceFacts, jetpack_for, parse_l4t_release
from edgetl.trt.manifest import manifest_path, read_manifest, rebuild_hint, stale_reasons
from edgetl.trt.options import BatchProfile, BuildOptions

ORIN = DeviceFacts(gpu="Orin", compute_capability="8.7", jetson_model="NVIDIA Jetson Orin Nano Developer Kit",
                   l4t_release="36.4.3", jetpack="6.2")


@pytest.fixture
def built(fake_trt, onnx_factory, monkeypatch):
    """An fp16 engine built 'on an Orin' with TensorRT 10.3.0."""
    monkeypatch.setattr(build_mod, "current_device", lambda: ORIN)
    fake_trt("10.3.0")
    onnx = onnx_factory()
    out = build_engine(onnx, options=BuildOptions(precision="fp16", batch=BatchProfile(1, 2, 4)))
    return out.engine


def test_manifest_round_trip(built):
    m = read_manifest(built)
    assert m.device == ORIN and m.options.batch == BatchProfile(1, 2, 4)
    assert json.loads(manifest_path(built).read_text()) == m.to_dict()


def test_fresh_engine_is_not_stale(built):
    assert check_engine(built) == []


def test_stale_reasons(built, fake_trt, caplog):
    m = read_manifest(built)
    assert stale_reasons(m, built, "10.3.0.30", ORIN) == []  # build number does not matter
    assert stale_reasons(m, built, "10.4.0", ORIN) == ["built with TensorRT 10.3.0, this is TensorRT 10.4.0"]
    xavier = replace(ORIN, gpu="Xavier", compute_capability="7.2")
    assert stale_reasons(m, built, "10.3.0", xavier) == ["built for Orin (compute 8.7), this GPU is Xavier (compute 7.2)"]
    assert stale_reasons(m, built, "10.3.0", replace(ORIN, gpu="Orin NX")) == []  # same compute: loads, warns
    assert "rebuild it here" in caplog.text


def test_changed_onnx_and_replaced_engine_are_stale(built, onnx_factory):
    onnx_factory(seed=1)  # the ONNX beside the engine is re-exported with other weights
    assert check_engine(built) == [f"{built.parent / 'model.onnx'} changed since the engine was built"]
    built.write_bytes(b"another plan")
    assert "is not the engine its manifest describes" in check_engine(built)[0]


def test_missing_onnx_is_not_stale(built):
    (built.parent / "model.onnx").unlink()  # deployed without its ONNX: cannot check, still usable
    assert check_engine(built) == []


def test_rebuild_hint_reproduces_the_build(built):
    hint = rebuild_hint(read_manifest(built), built)
    assert hint == f"edgetl build {built.parent / 'model.onnx'} -o {built} --precision fp16 --batch 1:2:4"


def test_runner_refuses_stale_engine_with_rebuild_command(built, fake_trt):
    fake_trt("10.7.0")
    with pytest.raises(RuntimeBackendError) as err:
        open_runner(built)
    msg = str(err.value)
    assert "\n" not in msg and "built with TensorRT 10.3.0, this is TensorRT 10.7.0" in msg
    assert "edgetl build" in msg and "--precision fp16 --batch 1:2:4" in msg and "--rebuild-stale" in msg


def test_runner_rebuilds_stale_engine_when_asked(built, fake_trt):
    trt = fake_trt("10.7.0")
    runner = open_runner(built, rebuild_stale=True)
    assert trt.networks == [0] and trt.config.flags == {"FP16"}  # rebuilt with the recorded options
    assert read_manifest(built).tensorrt_version == "10.7.0"
    assert runner.info.labels == ("stop", "yield", "speed_30") and runner.precision == "fp16"
    assert runner.batch_range == (1, 4) and runner.input_shape == ("N", 3, 32, 32)


def test_cli_build_and_rebuild_stale(fake_trt, onnx_factory, monkeypatch):
    monkeypatch.setattr(build_mod, "current_device", lambda: ORIN)
    trt = fake_trt("10.3.0")
    onnx = onnx_factory()
    args = ["build", str(onnx), "--precision", "fp16", "--batch", "1:4:8", "--rebuild-stale"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "built " in r.output and "TensorRT 10.3.0, fp16 (FP16), batch 1:4:8" in r.output
    assert "next: edgetl bench" in r.output and len(trt.configs) == 1
    r = CliRunner().invoke(cli, args)
    assert "is up to date" in r.output and len(trt.configs) == 1
    r = CliRunner().invoke(cli, args[:-2] + ["2:4:8", "--rebuild-stale"])  # other options: rebuild
    assert "built " in r.output and len(trt.configs) == 2
    trt = fake_trt("10.7.0")
    r = CliRunner().invoke(cli, args[:-2] + ["2:4:8", "--rebuild-stale"])
    assert "built " in r.output and len(trt.configs) == 1


def test_cli_build_errors_are_one_line(fake_trt, onnx_factory):
    fake_trt("10.3.0")
    r = CliRunner().invoke(cli, ["build", str(onnx_factory()), "--precision", "int8"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.startswith("Error: model.onnx has no Q/DQ nodes") and r.output.count("\n") == 1
    r = CliRunner().invoke(cli, ["build", str(onnx_factory()), "--batch", "8:1:1"])
    assert r.exit_code == 2 and "MIN <= OPT <= MAX" in r.output


@pytest.mark.parametrize("text, l4t, jp", [
    ("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8", "36.4.3", "6.2"),
    ("# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64", "36.4.0", "6.1"),
    ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64", "35.4.1", "5.1.2"),
    ("garbage", None, None),
])
def test_l4t_and_jetpack(text, l4t, jp):
    assert parse_l4t_release(text) == l4t and jetpack_for(l4t) == jp


def test_the_default_profile_takes_a_frames_sign_crops_as_one_batch(fake_trt, onnx_factory, monkeypatch):
    from edgetl.proposals import SignConfig

    monkeypatch.setattr(build_mod, "current_device", lambda: ORIN)
    fake_trt("10.3.0")
    onnx = onnx_factory()
    r = CliRunner().invoke(cli, ["build", str(onnx), "--precision", "fp16"])
    assert r.exit_code == 0 and "batch 1:4:16" in r.output, r.output
    engine = onnx.with_suffix(".engine")
    assert read_manifest(engine).options.batch == BatchProfile() == BuildOptions().batch
    runner = open_runner(engine)
    assert runner.batch_range == (1, 16) and runner.batch_range[1] >= SignConfig().max_boxes
    assert "[default: 1:4:16]" in CliRunner().invoke(cli, ["build", "--help"]).output
