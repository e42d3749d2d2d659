"""``edgetl export`` on the command line: summary table, next step, one-line errors."""

from __future__ import annotations

import json

from click.testing import CliRunner

from edgetl.cli.main import cli


def _invoke(*args: str):
    return CliRunner().invoke(cli, ["export", *args], catch_exceptions=False)


def test_int8_export_prints_table_files_and_next_step(run_dir):
    res = _invoke(str(run_dir), "--int8", "--target", "tensorrt", "--calib-size", "18")
    assert res.exit_code == 0, res.output
    assert "top-1" in res.output and "agreement with FP32" in res.output and "tensorrt / minmax" in res.output
    assert f"wrote {run_dir / 'model.int8.onnx'}" in res.output
    assert "edgetl build" in res.output
    assert json.loads((run_dir / "export.json").read_text())["int8"]["target"] == "tensorrt"


def test_no_verify_is_said_loudly(run_dir):
    res = _invoke(str(run_dir), "--no-verify")
    assert res.exit_code == 0, res.output
    assert "WARNING" in res.output and "NOT compared with torch" in res.output
    assert "edgetl bench" in res.output


def test_user_errors_are_one_line_without_traceback(run_dir, tmp_path):
    cases = [
        ([str(tmp_path / "nowhere")], "no such run folder"),
        ([str(run_dir), "--int8", "--opset", "11"], "opset 11 is too low"),
        ([str(run_dir), "--int8", "--calib", str(tmp_path / "empty")], "has 0 image(s)"),
        ([str(run_dir), "--int8", "--calib", str(tmp_path)], "the model does not know"),
    ]
    (tmp_path / "empty").mkdir()
    (run_dir / "model.onnx").write_bytes(b"earlier")
    for args, msg in cases:
        res = _invoke(*args)
        assert res.exit_code == 1, res.output
        err = res.output.strip().splitlines()
        assert err[-1].startswith("Error: ") and msg in err[-1], res.output
        assert "Traceback" not in res.output
    (run_dir / "model.pt").write_bytes(b"garbage")
    res = _invoke(str(run_dir))
    assert res.exit_code == 1 and "corrupt or not a PyTorch file" in res.output and "Traceback" not in res.output
    assert (run_dir / "model.onnx").read_bytes() == b"earlier"


def test_help_lists_the_gates():
    res = _invoke("--help")
    assert res.exit_code == 0
    for opt in ("--int8", "--target", "--method", "--calib", "--max-drop", "--no-verify", "--opset", "--softmax"):
        assert opt in res.output


def test_cpu_target_says_which_form_it_chose_and_why(run_dir, monkeypatch):
    from edgetl.export import pipeline
    from edgetl.export.quantize import CpuFeatures

    vnni = CpuFeatures("AMD EPYC 9R45", "x86_64", ("avx2", "avx512f", "avx512_vnni"))
    monkeypatch.setattr(pipeline, "cpu_features", lambda: vnni)
    first = _invoke(str(run_dir), "--int8", "--max-drop", "100")
    assert first.exit_code == 0, first.output
    line = next(ln for ln in first.output.splitlines() if ln.startswith("form cpu-"))
    assert "for this CPU (vnni)" in line and "[cached]" not in line
    assert "cpu (cpu-" in first.output  # the summary names the target and the form it became
    assert "[cached]" in _invoke(str(run_dir), "--int8", "--max-drop", "100").output
    assert "[cached]" not in _invoke(str(run_dir), "--int8", "--max-drop", "100", "--rechoose").output
    help_text = " ".join(_invoke("--help").output.split())
    assert "cpu-avx2" in help_text and "cpu-vnni" in help_text and "--rechoose" in help_text
