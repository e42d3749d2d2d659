"""edgetl demo end to end at its smallest size: every stage runs and the table reports real results."""

from __future__ import annotations

import json

from click.testing import CliRunner

from edgetl.cli.main import cli


def test_demo_tiny_runs_every_stage_and_reports(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(cli, ["demo", "--tiny", "--out", str(out)])
    assert res.exit_code == 0, res.output[-3000:]
    s = json.loads((out / "demo.json").read_text())
    assert s["complete"] and s["synthetic_data"]
    for stage in ("data", "finetune", "export", "bench", "camera"):
        assert stage in s["timings_s"], stage
    for name in ("model.pt", "model.onnx", "model.int8.onnx", "annotated video", "frames", "events", "bench.json"):
        assert name in s["artifacts"], name
    ex = s["export"]
    assert ex["fp32"]["parity_max_abs"] <= 1e-4
    assert 0 <= ex["int8"]["top1"] <= 1 and ex["int8"]["latency_ms"] > 0
    cam = s["camera"]
    assert cam["frames"] > 0 and cam["fps"] > 0 and cam["locator"] == "signs" and "locate" in cam["stages_ms"]
    tracks, frames = cam["score"]["tracks"], cam["score"]["frames"]
    assert tracks["signs"] > 0 and frames["signs"] > 0, "the video's signs are scored, found or not"
    assert tracks["once_right"] + tracks["missed"] + tracks["twice"] + tracks["wrong"] == tracks["signs"]
    for words in ("test top-1 INT8", "signs announced", "false events", "frame detection", "recall", "FPS"):
        assert words in res.output, words
    assert "\r" not in res.output  # stage and epoch lines, no bar frames, where output is not a terminal
    # a second run replaces its own earlier demo, but never a folder it did not make
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    res = CliRunner().invoke(cli, ["demo", "--tiny", "--out", str(other)])
    assert res.exit_code == 1 and "not an edgetl demo folder" in res.output
    assert (other / "notes.txt").read_text() == "keep"


def _score(p50_frames: float, p50_ms: float) -> dict:
    return {"roi": "located by signs", "score": {"frames": {}, "tracks": {
        "signs": 2, "once_right": 2, "false_events": 0, "false_events_per_min": 0.0,
        "delay_frames": {"p50": p50_frames, "p90": p50_frames}, "delay_ms": {"p50": p50_ms, "p90": p50_ms}}}}


def test_the_announcement_delay_reads_before_or_after_by_its_sign():
    from edgetl.cli.demo import _sign_rows

    late = dict(_sign_rows(_score(3, 100)))["false events"]
    early = dict(_sign_rows(_score(-10, -333)))["false events"]
    assert "announced p50 3 frames (100 ms) after a sign is recognisable" in late
    assert "announced p50 10 frames (333 ms) before a sign is recognisable" in early
