"""``edgetl bench`` as a user runs it: tables, JSON, end-to-end stages, power, and one-line errors."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from edgetl.bench import BenchConfig, bench_models
from edgetl.cli.main import cli
from edgetl.errors import EdgetlError

KEYS = {"model", "backend", "precision", "batch", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "throughput",
        "ratio_to_first"}


def run(*args: str):
    return CliRunner().invoke(cli, ["bench", *map(str, args)])


def test_two_models_two_batches_to_json(tiny_model, tiny_onnx, tmp_path):
    out = tmp_path / "bench.json"
    res = run(tiny_model, tiny_onnx, "--batch", "1,2", "--iters", "6", "--warmup", "1", "--threads", "1",
              "--json", out)
    assert res.exit_code == 0, res.output
    assert "p50" in res.output and "onnxruntime" in res.output
    report = json.loads(out.read_text())
    results = report["results"]
    assert [(r["backend"], r["batch"]) for r in results] == [("torch", 1), ("onnxruntime", 1), ("torch", 2),
                                                            ("onnxruntime", 2)]
    for r in results:
        assert KEYS <= set(r)
        assert r["iterations"] == 6
        assert r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
        assert r["throughput"] == pytest.approx(r["batch"] * 1000 / r["mean_ms"], rel=1e-3)
    assert results[0]["ratio_to_first"] == 1.0 and results[2]["ratio_to_first"] == 1.0
    assert results[1]["ratio_to_first"] > 0
    env = report["environment"]
    assert env["threads"]["requested"] == 1
    assert env["cpu"]["model"] and "int8_isa" in env["cpu"]
    assert env["versions"]["onnxruntime"] and env["versions"]["torch"]


def test_end_to_end_times_each_stage_from_a_camera_frame(tiny_onnx, tmp_path):
    out = tmp_path / "e2e.json"
    res = run(tiny_onnx, "--end-to-end", "--iters", "5", "--warmup", "1", "--json", out)
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())["results"][0]
    assert set(r["stages"]) == {"preprocess", "infer", "postprocess"}
    stage_sum = sum(s["mean_ms"] for s in r["stages"].values())
    assert stage_sum <= r["mean_ms"] * 1.01
    assert stage_sum >= r["mean_ms"] * 0.5
    # Resizing a 1280x720 frame costs more than softmax over three classes.
    assert r["stages"]["preprocess"]["p50_ms"] > r["stages"]["postprocess"]["p50_ms"]


def test_markdown_to_stdout_and_to_a_file(tiny_onnx, tmp_path):
    res = run(tiny_onnx, "--iters", "3", "--warmup", "0", "--markdown")
    assert res.exit_code == 0, res.output
    assert "| model | backend | precision | batch | p50 ms |" in res.output
    assert "- CPU:" in res.output
    md = tmp_path / "bench.md"
    res = run(tiny_onnx, "--iters", "3", "--warmup", "0", "--markdown", md)
    assert res.exit_code == 0, res.output
    assert "| `" in md.read_text() and "img/s" in res.output


def fake_tegrastats(tmp_path):
    script = tmp_path / "bin" / "tegrastats"
    script.parent.mkdir()
    line = ("RAM 3645/7620MB (lfb 63x4MB) SWAP 236/3810MB (cached 0MB) CPU [1%@729,1%@729] GR3D_FREQ 0%@[305] "
            "VDD_IN 5000mW/5000mW VDD_CPU_GPU_CV 486mW/486mW VDD_SOC 1012mW/1012mW")
    script.write_text(f"#!{sys.executable}\nimport sys, time\nms = int(sys.argv[sys.argv.index('--interval') + 1])\n"
                      f"while True:\n    print({line!r}, flush=True)\n    time.sleep(ms / 1000)\n")
    script.chmod(0o755)
    return script.parent


def test_power_from_tegrastats_in_watts_and_joules_per_image(tiny_onnx, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{fake_tegrastats(tmp_path)}:{__import__('os').environ['PATH']}")
    out = tmp_path / "power.json"
    res = run(tiny_onnx, "--power", "--power-interval", "50", "--iters", "3", "--warmup", "0", "--json", out)
    assert res.exit_code == 0, res.output
    p = json.loads(out.read_text())["results"][0]["power"]
    assert p["average_w"] == pytest.approx(5.0)
    assert p["source"] == "VDD_IN" and p["samples"] >= 10
    assert 0 < p["joules_per_image"] < 5.0  # far more than one image a second ran


def one_line_error(res) -> str:
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    return lines[0]


def test_missing_model(tmp_path):
    assert "no such model file" in one_line_error(run(tmp_path / "nope.onnx", "--iters", "2"))


def test_corrupt_model(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    assert "broken.onnx" in one_line_error(run(bad, "--iters", "2"))


def test_unknown_provider(tiny_onnx):
    line = one_line_error(run(tiny_onnx, "--providers", "warp", "--iters", "2"))
    assert "'warp'" in line and "CPUExecutionProvider" in line


def test_providers_without_an_onnx_model(tiny_model):
    assert "--providers" in one_line_error(run(tiny_model, "--providers", "cpu", "--iters", "2"))


def test_batch_beyond_what_the_model_accepts_fails_before_timing(fixed_batch_onnx, tiny_onnx):
    line = one_line_error(run(tiny_onnx, fixed_batch_onnx, "--batch", "1,4", "--iters", "2"))
    assert "batch 4" in line and "1..1" in line
    rounds = []
    with pytest.raises(EdgetlError, match="batch 4"):
        bench_models([tiny_onnx, fixed_batch_onnx], BenchConfig(batches=(1, 4), iters=2), on_round=rounds.append)
    assert rounds == []  # not even batch 1 was timed


def test_iters_and_seconds_together_are_refused(tiny_onnx):
    res = run(tiny_onnx, "--iters", "2", "--seconds", "1")
    assert res.exit_code == 2 and "not both" in res.output


@pytest.mark.parametrize("option", ["--json", "--markdown"])
def test_an_output_that_cannot_be_written_fails_before_timing(tiny_onnx, tmp_path, monkeypatch, option):
    import edgetl.bench

    def must_not_time(*args, **kwargs):
        raise AssertionError("timing started before the output path was checked")

    monkeypatch.setattr(edgetl.bench, "bench_models", must_not_time)
    (tmp_path / "X").write_text("a file")
    res = run(tiny_onnx, option, tmp_path / "X" / "bench.out")
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert res.output.strip() == f"Error: cannot write {tmp_path / 'X' / 'bench.out'}: not a folder: " \
                                 f"{tmp_path / 'X'} is a file"
