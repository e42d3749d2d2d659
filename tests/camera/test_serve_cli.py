"""``edgetl run --serve`` from the command line: one-line errors before the loop, streams closed at the end."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from edgetl.cli.main import cli
from helpers import default_sigint

TOKEN = "s3cret-token-0123456789"


def invoke(*args, env=None):
    return CliRunner().invoke(cli, ["run", *map(str, args)], env=env)


def one_line_error_before_the_loop(res, expected: str) -> None:
    assert res.exit_code in (1, 2), res.output
    assert expected in res.output and "Traceback" not in res.output, res.output
    assert "Ctrl-C to stop" not in res.output and "frames processed" not in res.output  # the model never ran
    assert len([ln for ln in res.output.splitlines() if ln.strip()]) <= 3  # click's usage lines at most


@pytest.mark.parametrize("value, expected", [
    ("http://x:80", "expected [HOST:]PORT"), ("99999", "expected [HOST:]PORT"), ("host:", "expected [HOST:]PORT"),
    ("192.0.2.1:8080", "192.0.2.1 is not an address of this machine"),
])
def test_bad_serve_values_fail_in_one_line(tiny_model, clip, value, expected):
    one_line_error_before_the_loop(invoke(tiny_model, clip, "--headless", "--serve", value), expected)


def test_a_port_in_use_fails_in_one_line(tiny_model, clip):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = invoke(tiny_model, clip, "--headless", "--serve", port)
    one_line_error_before_the_loop(res, f"port {port} is in use")


def test_a_short_token_fails_from_the_option_and_from_the_environment(tiny_model, clip):
    res = invoke(tiny_model, clip, "--headless", "--serve", "0", "--serve-token", "short")
    one_line_error_before_the_loop(res, "--serve-token: use at least 16 characters")
    res = invoke(tiny_model, clip, "--headless", "--serve", "0", env={"EDGETL_SERVE_TOKEN": "too-short"})
    one_line_error_before_the_loop(res, "--serve-token: use at least 16 characters")


def test_serve_options_without_serve_are_refused(tiny_model, clip):
    one_line_error_before_the_loop(invoke(tiny_model, clip, "--headless", "--serve-fps", "5"),
                                   "--serve-fps needs --serve")


def start_serving(*args: str) -> tuple[subprocess.Popen, int]:
    """``edgetl run ... --serve 0`` in a child; returns it and the port it printed."""
    proc = subprocess.Popen([sys.executable, "-m", "edgetl", "run", *map(str, args), "--serve", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline, seen = time.monotonic() + 120, []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        if m := re.search(r"live view on http://127\.0\.0\.1:(\d+)/", line):
            return proc, int(m.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("no live view was announced:\n" + "".join(seen) + proc.stderr.read())


def open_stream(port: int, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    resp = conn.getresponse()
    assert resp.status == 200
    return resp


def end_event(events: http.client.HTTPResponse) -> dict:
    for line in iter(events.fp.readline, b""):
        if line == b"event: end\n":
            return json.loads(events.fp.readline().decode().removeprefix("data: "))
    raise AssertionError("the event stream closed without an end event")


def finish(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)


def test_end_of_file_closes_the_streams_and_the_run_ends_as_without_serve(tiny_model, make_clip, tmp_path):
    video = make_clip(tmp_path / "drive.mp4", [0, 1, 2] * 30, fps=15.0)  # 6 s played in real time
    out = tmp_path / "out.jsonl"
    proc, port = start_serving(tiny_model, video, "--headless", "--json", out)
    stream, events = open_stream(port, "/stream.mjpg"), open_stream(port, "/events")
    assert end_event(events) == {"reason": "end of source"}
    assert stream.read().endswith(b"--edgetlframe--\r\n")  # the MJPEG stream is closed properly
    stdout, stderr = finish(proc)
    assert proc.returncode == 0, stderr
    assert "ended: end of source" in stdout and "p99" in stdout and f"wrote {out}" in stderr
    assert len(out.read_text().splitlines()) >= 1
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # nothing listens any more


def test_ctrl_c_closes_the_streams_with_the_reason(tiny_model, make_clip, tmp_path):
    video = make_clip(tmp_path / "long.mp4", [0, 1, 2] * 200, fps=15.0)
    proc, port = start_serving(tiny_model, video, "--headless")
    try:
        events = open_stream(port, "/events")
        while events.fp.readline() != b"event: recognition\n":  # the loop runs (and handles Ctrl-C)
            pass
        proc.send_signal(signal.SIGINT)
        assert end_event(events) == {"reason": "stopped by SIGINT"}
    finally:
        stdout, stderr = finish(proc)
    assert proc.returncode == 0, stderr
    assert "stopped by SIGINT" in stdout and "p50" in stdout
