"""Batch profiles, precision plans by TensorRT version, calibration re-batching: plain Python."""

from __future__ import annotations

import numpy as np
import pytest

from edgetl.trt.options import (BatchProfile, BuildError, BuildOptions, GraphFacts, parse_version, plan_precision,
                                rebatch)

PLAIN = GraphFacts("input", ("batch", 3, 32, 32), has_qdq=False, has_fp16=False)
QDQ = GraphFacts("input", ("batch", 3, 32, 32), has_qdq=True, has_fp16=False)
FP16 = GraphFacts("input", ("batch", 3, 32, 32), has_qdq=False, has_fp16=True)


@pytest.mark.parametrize("text, expected", [("1:4:8", (1, 4, 8)), ("2", (2, 2, 2)), (" 1:1:16 ", (1, 1, 16))])
def test_batch_profile_parse(text, expected):
    b = BatchProfile.parse(text)
    assert (b.min, b.opt, b.max) == expected
    assert BatchProfile.parse(str(b)) == b
    assert b.shapes(96)[2] == (expected[2], 3, 96, 96)


@pytest.mark.parametrize("text", ["8:4:1", "0:1:2", "1:4", "a:b:c", "1:4:8:16", "-1", ""])
def test_batch_profile_rejects(text):
    with pytest.raises(BuildError, match="--batch"):
        BatchProfile.parse(text)


@pytest.mark.parametrize("version, precision, graph, flags, strongly, explicit", [
    ("10.3.0", "fp32", PLAIN, (), False, False),
    ("10.3.0", "fp16", PLAIN, ("FP16",), False, False),
    ("10.3.0", "auto", PLAIN, ("FP16",), False, False),
    ("10.3.0", "auto", QDQ, (), True, False),
    ("10.3.0", "int8", QDQ, (), True, False),
    ("10.3.0", "best", QDQ, ("FP16", "INT8"), False, False),
    ("10.3.0", "best", PLAIN, ("FP16",), False, False),
    ("10.3.0", "fp16", FP16, (), True, False),
    ("11.0.0", "best", QDQ, (), True, False),
    ("8.5.2.2", "fp16", PLAIN, ("FP16",), False, True),
    ("8.6.1", "int8", QDQ, ("INT8",), False, True),
    ("8.5.2", "best", QDQ, ("FP16", "INT8"), False, True),
])
def test_plan_by_version(version, precision, graph, flags, strongly, explicit):
    plan = plan_precision(version, BuildOptions(precision=precision), graph)
    assert (plan.flags, plan.strongly_typed, plan.explicit_batch, plan.calibrate) == (flags, strongly, explicit, False)


def test_trt8_plain_graph_int8_calibrates_only_with_images():
    plan = plan_precision("8.5.2", BuildOptions(precision="int8", calib="data/calib"), PLAIN)
    assert plan.calibrate and plan.flags == ("INT8",)
    best = plan_precision("8.5.2", BuildOptions(precision="best"), PLAIN)
    assert best.flags == ("FP16",) and not best.calibrate and "best is FP16" in best.notes[0]


def test_trt11_needs_graph_types_for_fp16():
    with pytest.raises(BuildError, match="takes precision from the graph"):
        plan_precision("11.0.0", BuildOptions(precision="fp16"), PLAIN)


def test_dla_adds_gpu_fallback():
    plan = plan_precision("10.3.0", BuildOptions(precision="fp16", dla_core=0), PLAIN)
    assert plan.flags == ("FP16", "GPU_FALLBACK")


@pytest.mark.parametrize("kw, words", [({"precision": "int4"}, "--precision"), ({"dla_core": -1}, "--dla"),
                                       ({"workspace_mib": 0}, "--workspace")])
def test_options_reject(kw, words):
    with pytest.raises(BuildError, match=words):
        BuildOptions(**kw)


def test_options_round_trip_through_manifest_dict_and_args():
    o = BuildOptions(precision="int8", batch=BatchProfile(1, 4, 8), dla_core=1, workspace_mib=512,
                     timing_cache="t.cache", calib="data/calib", calib_size=64)
    assert BuildOptions.from_dict(o.to_dict()) == o
    assert o.to_args() == ["--precision", "int8", "--batch", "1:4:8", "--dla", "1", "--workspace", "512",
                           "--timing-cache", "t.cache", "--calib", "data/calib", "--calib-size", "64"]


def test_parse_version():
    assert parse_version("10.3.0.30") == (10, 3, 0) and parse_version("8.5") == (8, 5, 0)
    with pytest.raises(BuildError):
        parse_version("unknown")


def test_rebatch_regroups_and_drops_partial_batch(caplog):
    caplog.set_level("INFO", logger="edgetl.trt.options")
    batches = [np.full((3, 3, 2, 2), i, np.float32) for i in range(3)]  # 9 images
    out = list(rebatch(batches, 4))
    assert [b.shape[0] for b in out] == [4, 4]
    assert [float(b[:, 0, 0, 0].sum()) for b in out] == [0 + 0 + 0 + 1, 1 + 1 + 2 + 2]
    assert "dropped the last 1 of 9" in caplog.text
