"""$EDGETL_ORT_SESSION_CONFIG: onnxruntime session config entries for every session a runner opens (how the
INT8 tests run a second time with Q/DQ executed unfused)."""

from __future__ import annotations

import pytest

from edgetl.errors import RuntimeBackendError
from edgetl.runtime.onnxruntime_runner import SESSION_CONFIG_ENV, OnnxRuntimeRunner, session_config


def test_entries_are_parsed_and_bad_ones_are_one_line_errors():
    assert session_config({}) == {}
    env = {SESSION_CONFIG_ENV: " session.disable_quant_qdq=1 ; session.x64quantprecision = 1;"}
    assert session_config(env) == {"session.disable_quant_qdq": "1", "session.x64quantprecision": "1"}
    with pytest.raises(RuntimeBackendError, match="'disable_quant_qdq' is not key=value"):
        session_config({SESSION_CONFIG_ENV: "disable_quant_qdq"})


def test_the_runner_opens_its_session_with_them(onnx_factory, monkeypatch):
    monkeypatch.setenv(SESSION_CONFIG_ENV, "session.disable_quant_qdq=1")
    with OnnxRuntimeRunner(onnx_factory(qdq=True)) as r:
        assert r.session.get_session_options().get_session_config_entry("session.disable_quant_qdq") == "1"
