"""Secrets in source URLs are hidden however they are written, wherever the text goes."""

from __future__ import annotations

import logging

import pytest

from edgetl.redaction import RedactingFilter, redact, remember_secrets, secrets_in

USERINFO = [  # (URL, secret parts that must not show, what must still show)
    ("rtsp://admin:hunter2@S3CRETX@host/live", ["hunter2", "S3CRETX"], "@host/live"),
    ("rtsp://admin:pa:ss@host:554/live", ["pa:ss"], "@host:554/live"),
    ("rtsp://admin:sl/ash@host/live", ["sl/ash", "ash@"], "@host/live"),
    ("rtsp://admin:p%40ss@host/live", ["p%40ss"], "@host/live"),
    ("rtsps://tok3nOnly@cam/x", ["tok3nOnly"], "@cam/x"),
    ("http://u:Qu?est#ion@cam/snap.jpg", ["Qu?est", "ion@"], "@cam/snap.jpg"),
]
QUERY = ["password", "passwd", "pass", "pwd", "token", "key", "secret", "auth", "Password", "API_KEY",
         "access_token", "authorization", "x-auth-token", "signature"]


@pytest.mark.parametrize("url, hidden, shown", USERINFO)
def test_userinfo_with_any_characters_is_hidden(url, hidden, shown):
    out = redact(f"cannot open source {url!r}: is the stream reachable?")
    assert not any(h in out for h in hidden), out
    assert shown in out and "***" in out and out.endswith("': is the stream reachable?")


@pytest.mark.parametrize("key", QUERY)
def test_secret_query_parameters_are_hidden(key):
    url = f"rtsp://host/live?user=admin&{key}=QuerySecret9&channel=1"
    out = redact(f"source {url!r}: unknown option")
    assert "QuerySecret9" not in out and f"{key}=***" in out and "channel=1" in out and "user=admin" in out
    assert redact(f"rtsp://host/live?{key}=QuerySecret9") == f"rtsp://host/live?{key}=***"


def test_gstreamer_credentials_are_hidden():
    out = redact('rtspsrc location=rtsp://cam/s user-id=admin user-pw="top secret" proxy-pw=pr0xy ! appsink')
    assert "top secret" not in out and "pr0xy" not in out and "admin" not in out


def test_ordinary_text_and_options_are_left_alone():
    for text in ("csi://0?width=1280&height=720&fps=30", "rtsp://cam.local:554/stream", "drive.mp4",
                 "model.int8.onnx on frames/ (64x64); ended: end of source"):
        assert redact(text) == text


def test_redacting_twice_changes_nothing():
    for url, _, _ in USERINFO:
        once = redact(f"source {url!r}: no")
        assert redact(once) == once


def test_remembered_secrets_are_hidden_wherever_they_turn_up():
    remember_secrets("rtsp://admin:Sp%40ce Bar9@host/live?token=T0k'en42")
    assert "Sp@ce Bar9" in secrets_in("rtsp://admin:Sp%40ce Bar9@host/live")
    said = redact("ffmpeg: auth failed for user admin with Sp@ce Bar9; token T0k'en42 rejected")
    assert "Sp@ce" not in said and "Bar9" not in said and "T0k'en42" not in said


def test_log_records_are_redacted_by_the_filter():
    record = logging.LogRecord("edgetl.camera", logging.WARNING, __file__, 1, "%s stopped; reconnect %d",
                               ("rtsp://u:hunter2@cam/live?password=QuerySecret9", 1), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "rtsp://***@cam/live?password=*** stopped; reconnect 1"
