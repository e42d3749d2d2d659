"""``--target cpu`` picks the INT8 form for the CPU it runs on: the CPU's class decides the candidates, the
candidates are measured where there is more than one, the choice is cached and export.json says why.

The CPU is faked (its features are what the choice reads) and, where a test asserts which form wins, so
are the latencies: the outcome is forced, not read off one machine's kernels.
"""

from __future__ import annotations

import json

import pytest

from edgetl.bench.environment import cpu_info
from edgetl.export import ExportConfig, export_run
from edgetl.export import pipeline
from edgetl.export.cpu_form import choose_form
from edgetl.export.quantize import CPU_CLASSES, CpuFeatures, candidate_forms, cpu_features, get_target
from edgetl.runtime.onnxruntime_runner import SESSION_CONFIG_ENV, read_onnx_info

AVX2 = CpuFeatures("AMD EPYC 7B12", "x86_64", ("avx", "avx2", "fma", "f16c"))
AVX512 = CpuFeatures("Intel Xeon Gold 6148", "x86_64", ("avx", "avx2", "avx512f", "avx512bw", "avx512vl"))
VNNI = CpuFeatures("AMD EPYC 9R45", "x86_64", ("avx", "avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni"))
AVX_VNNI = CpuFeatures("12th Gen Intel(R) Core(TM) i7-12700", "x86_64", ("avx", "avx2", "avx_vnni"))
AMX = CpuFeatures("Intel Xeon Platinum 8480+", "x86_64", VNNI.flags + ("amx_tile", "amx_int8"))
ORIN = CpuFeatures("Arm Cortex-A78AE", "aarch64", ("asimd", "asimddp"))


def _names(cpu: CpuFeatures, target: str = "cpu") -> list[str]:
    return [f.name for f in candidate_forms(get_target(target), cpu)]


def test_the_cpu_class_decides_the_candidate_forms():
    assert [c.int8_class for c in (AVX2, AVX512, VNNI, AVX_VNNI, AMX, ORIN)] == \
        ["avx2", "avx2", "vnni", "vnni", "vnni", "other"]
    assert _names(AVX2) == _names(AVX512) == ["cpu-avx2"]  # without VNNI only 7-bit weights stay accurate
    assert _names(VNNI) == _names(AVX_VNNI) == _names(AMX) == _names(ORIN) == ["cpu-avx2", "cpu-vnni"]
    assert _names(AVX2, "cpu-vnni") == ["cpu-vnni"] and not get_target("cpu-vnni").made_for(AVX2)
    assert get_target("cpu-avx2").reduce_range and not get_target("cpu-vnni").reduce_range
    here = cpu_features()
    assert here.int8_class in CPU_CLASSES and list(here.flags) == cpu_info()["flags"]


def _c(form: str, drop: float, ms: float | None, logit_rmse: float = 0.1) -> dict:
    return {"form": form, "drop_points": drop, "latency_ms": ms, "logit_rmse": logit_rmse}


def test_the_rule_keeps_the_fastest_within_budget_and_gives_near_ties_to_accuracy():
    assert choose_form([_c("a", 0.1, 1.0), _c("b", 0.0, 0.5)], 0.5)[0] == "b"
    assert choose_form([_c("a", 0.1, 1.0), _c("b", 0.9, 0.5)], 0.5)[0] == "a"  # over budget: never kept
    assert choose_form([_c("a", 0.0, 1.0), _c("b", 0.3, 0.8)], 0.5)[0] == "b"  # clearly faster wins
    name, reason = choose_form([_c("a", 0.0, 1.0), _c("b", 0.3, 0.97)], 0.5)
    assert name == "a" and "within 5%" in reason and "loses less" in reason
    name, reason = choose_form([_c("a", 0.0, 0.97, 0.2), _c("b", 0.0, 1.0, 0.1)], 0.5)
    assert name == "b" and "logits closer to FP32's" in reason
    name, reason = choose_form([_c("a", 0.2, None), _c("b", 2.0, None)], 0.5)
    assert name == "a" and "the only form within" in reason  # nothing to time
    name, reason = choose_form([_c("a", 3.0, None), _c("b", 2.0, None)], 0.5)
    assert name == "b" and "sensitive layers are searched" in reason


@pytest.fixture
def fake_cpu(monkeypatch):
    """Make the export see ``cpu``: ``fake_cpu(VNNI)``."""
    return lambda cpu: monkeypatch.setattr(pipeline, "cpu_features", lambda: cpu)


@pytest.fixture
def fake_latency(monkeypatch):
    """Make every timing in the export return these milliseconds per model name (others: 1.0)."""
    table: dict[str, float] = {}
    monkeypatch.setattr(pipeline, "measure_latency", lambda paths, *a, **k: {n: table.get(n, 1.0) for n in paths})
    return table


def _export(run_dir, **kw):
    return export_run(ExportConfig(run=run_dir, int8=True, latency_iters=5, **kw)).report["int8"]


def test_without_vnni_the_avx2_form_is_taken_without_measuring(run_dir, fake_cpu):
    fake_cpu(AVX2)
    rep = _export(run_dir, max_drop=100.0)
    choice = rep["cpu_form"]
    assert rep["target"] == "cpu" and rep["form"] == "cpu-avx2" and rep["preset"]["reduce_range"]
    assert choice["chosen"] == "cpu-avx2" and choice["measured"] == [] and "only form" in choice["reason"]
    assert choice["cpu"] == {"model": "AMD EPYC 7B12", "machine": "x86_64", "flags": list(AVX2.flags), "class": "avx2"}
    assert "optimised integer kernels" in rep["evaluated_with"] and rep["speedup"] is not None
    assert not list((run_dir / "calib_cache").glob("cpu-form-*.json"))
    extra = read_onnx_info(run_dir / "model.int8.onnx").extra
    assert (extra["target"], extra["form"]) == ("cpu", "cpu-avx2")


def test_with_vnni_the_candidates_are_measured_and_the_fastest_kept(run_dir, fake_cpu):
    """Real timings on this machine: whichever wins, the choice must follow the rule from what was measured."""
    fake_cpu(VNNI)
    rep = _export(run_dir, max_drop=100.0)
    choice = rep["cpu_form"]
    assert [m["form"] for m in choice["measured"]] == ["cpu-avx2", "cpu-vnni"] == choice["candidates"]
    assert all(m["within_budget"] and m["latency_ms"] > 0 for m in choice["measured"])
    assert choice["chosen"] == rep["form"] == choose_form(choice["measured"], 100.0)[0]
    assert rep["latency_ms"] > 0 and rep["speedup"] is not None  # the speed gate timed the chosen form
    assert choice["cpu"]["class"] == "vnni" and choice["cached"] is False
    saved = json.loads(next((run_dir / "calib_cache").glob("cpu-form-*.json")).read_text())
    assert saved["key"] == choice["key"] and saved["chosen"] == choice["chosen"]


def test_the_choice_follows_the_timing_and_is_cached_per_model_cpu_and_onnxruntime(run_dir, fake_cpu, fake_latency,
                                                                                     monkeypatch):
    fake_cpu(VNNI)
    fake_latency.update({"fp32": 3.0, "int8": 1.0, "cpu-avx2": 1.0, "cpu-vnni": 2.0})
    first = _export(run_dir, max_drop=100.0)
    assert first["form"] == "cpu-avx2" and first["speedup"] == pytest.approx(3.0)
    fake_latency.update({"cpu-avx2": 2.0, "cpu-vnni": 1.0})
    cached = _export(run_dir, max_drop=100.0)
    assert cached["form"] == "cpu-avx2" and cached["cpu_form"]["cached"] is True
    assert cached["cpu_form"]["measured"] == first["cpu_form"]["measured"] and cached["cpu_form"]["measured_at"]
    again = _export(run_dir, max_drop=100.0, rechoose=True)
    assert again["form"] == "cpu-vnni" and again["cpu_form"]["cached"] is False
    assert _export(run_dir, max_drop=100.0)["cpu_form"]["cached"] is True
    fake_cpu(AMX)  # another CPU: measured again
    assert _export(run_dir, max_drop=100.0)["cpu_form"]["cached"] is False
    monkeypatch.setenv(SESSION_CONFIG_ENV, "session.x64quantprecision=1")  # other kernels: measured again
    rep = _export(run_dir, max_drop=100.0)
    assert rep["cpu_form"]["cached"] is False
    assert rep["cpu_form"]["session_config"] == {"session.x64quantprecision": "1"}


def test_when_no_form_is_within_budget_the_least_damaged_one_is_searched(run_dir, fake_cpu, sabotage_first_layer):
    fake_cpu(VNNI)
    _export(run_dir, max_drop=100.0)
    sabotage_first_layer(run_dir)  # both forms share these ranges, and both lose most of their accuracy
    rep = _export(run_dir, max_drop=20.0, rechoose=True)
    choice = rep["cpu_form"]
    assert not any(m["within_budget"] for m in choice["measured"]) and "searched" in choice["reason"]
    assert rep["form"] == min(choice["measured"], key=lambda m: (m["drop_points"], m["logit_rmse"]))["form"]
    assert "/features/features.0/features.0.0/Conv" in rep["float_nodes"] and rep["drop_points"] <= 20.0


def test_a_form_pinned_for_another_cpu_is_judged_as_written_and_not_timed_here(run_dir, fake_cpu):
    fake_cpu(AVX2)
    rep = _export(run_dir, target="cpu-vnni", max_drop=100.0)
    assert rep["target"] == rep["form"] == "cpu-vnni" and not rep["preset"]["reduce_range"]
    assert "as written" in rep["evaluated_with"] and rep["latency_ms"] is None and rep["recommended"] is True
    assert "on a vnni/other CPU" in rep["latency_note"] and "this one is avx2" in rep["latency_note"]
    assert rep["cpu_form"]["reason"].startswith("pinned by --target cpu-vnni; made for vnni/other CPUs")
    fake_cpu(VNNI)
    rep = _export(run_dir, target="cpu-avx2", max_drop=100.0)
    assert rep["form"] == "cpu-avx2" and "integer kernels" in rep["evaluated_with"] and rep["speedup"] is not None
    assert rep["cpu_form"]["reason"] == "pinned by --target cpu-avx2"
