"""``--serve`` over real HTTP: a real client against the real server beside the real loop, on a free loopback port."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from edgetl.camera.loop import LoopConfig, run_loop
from edgetl.camera.serve import LiveServer, ServeConfig, ServeError, check_token, parse_address
from edgetl.camera.sources import Capture, parse_source
from edgetl.runtime import open_runner

CLASSES = ["circle_red", "square_green", "triangle_blue"]
TOKEN = "s3cret-token-0123456789"
STAGES = {"wait", "capture", "locate", "preprocess", "infer", "postprocess", "track", "output", "latency"}


@pytest.fixture(scope="module")
def runner(tiny_model):
    with open_runner(tiny_model) as r:
        yield r


@pytest.fixture
def long_clip(make_clip, tmp_path):
    """20 s at 30 fps when played in real time: noise, then each class, for 10 frames at a time."""
    blocks = [c for c in (None, 0, 1, 2) for _ in range(10)]
    return make_clip(tmp_path / "long.mp4", blocks * 15, size=160, fps=30.0)


@contextlib.contextmanager
def serving(runner, source, drop=True, opener=None, info=None, **serve):
    """A LiveServer on a free loopback port, with the loop running over ``source`` in a thread."""
    server = LiveServer(ServeConfig(port=0, **serve))
    capture = Capture(parse_source(str(source)), drop=drop, **({"opener": opener} if opener else {}))
    server.start(info or {"model": "model.pt", "backend": "torch", "source": str(source)})
    done: dict = {}
    thread = threading.Thread(target=lambda: done.update(result=run_loop(runner, capture, LoopConfig(),
                                                                         live=server.broadcast)))
    thread.start()
    try:
        yield server, done
    finally:
        capture.close()
        thread.join(timeout=60)
        server.close(done["result"].end_reason if "result" in done else "stopped")


def get(server, path, headers=None, timeout=10.0):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    conn.request("GET", path, headers=headers or {})
    return conn, conn.getresponse()


def hang_up(conn, resp) -> None:
    resp.close()  # the response holds the socket open too
    conn.close()


def read_part(resp) -> bytes:
    """One part of a multipart/x-mixed-replace stream: boundary, headers, exactly Content-Length bytes."""
    line = resp.fp.readline()
    assert line == b"--edgetlframe\r\n", line
    headers = {}
    while (line := resp.fp.readline()) != b"\r\n":
        k, v = line.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    assert headers["content-type"] == "image/jpeg"
    data = resp.fp.read(int(headers["content-length"]))
    assert resp.fp.read(2) == b"\r\n"
    return data


def read_events(resp, until: str, limit: int = 200) -> list[dict]:
    """SSE messages (id, event, data) until one of type ``until``."""
    events, current = [], {}
    while len(events) < limit:
        line = resp.fp.readline().decode()
        assert line, f"the stream closed before a {until!r} event: {events}"
        line = line.rstrip("\n")
        if not line:
            if "event" in current:
                events.append({**current, "data": json.loads(current["data"])})
                if current["event"] == until:
                    return events
            current = {}
        elif not line.startswith(":"):
            k, _, v = line.partition(": ")
            current[k] = v
    raise AssertionError(f"no {until!r} event in {limit}")


def wait_for(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_mjpeg_stream_is_multipart_of_valid_annotated_moving_jpegs(runner, long_clip):
    with serving(runner, long_clip) as (server, _):
        conn, resp = get(server, "/stream.mjpg")
        assert resp.status == 200
        assert resp.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=edgetlframe"
        frames = [cv2.imdecode(np.frombuffer(read_part(resp), np.uint8), cv2.IMREAD_COLOR) for _ in range(6)]
        conn.close()
    assert all(f is not None and f.shape == (160, 160, 3) for f in frames)
    assert any(np.abs(a.astype(int) - b).mean() > 2 for a, b in zip(frames, frames[1:]))  # the picture moves
    top, bottom = frames[-1][:4].mean(), frames[-1][-40:].mean()
    assert top < 12 < bottom, (top, bottom)  # the overlay's black panel is drawn on the frames sent


def test_opencv_reads_the_stream_as_a_video(runner, long_clip):
    with serving(runner, long_clip) as (server, _):
        video = cv2.VideoCapture(f"http://127.0.0.1:{server.port}/stream.mjpg")
        frames = [video.read() for _ in range(3)]
        video.release()
    assert all(ok and f.shape == (160, 160, 3) for ok, f in frames)


def test_stream_is_scaled_to_serve_width(runner, make_clip, tmp_path):
    wide = make_clip(tmp_path / "wide.mp4", [0, 1, 2] * 60, size=160, fps=30.0)
    with serving(runner, wide, width=80) as (server, _):
        conn, resp = get(server, "/stream.mjpg")
        frame = cv2.imdecode(np.frombuffer(read_part(resp), np.uint8), cv2.IMREAD_COLOR)
        conn.close()
    assert frame.shape == (80, 80, 3)


def test_stats_json_has_stage_percentiles_counters_and_the_latest_answer(runner, long_clip):
    with serving(runner, long_clip) as (server, _):
        assert wait_for(lambda: server.broadcast.stats()["frames"] >= 3)
        conn, resp = get(server, "/stats.json")
        assert resp.status == 200 and resp.getheader("Content-Type") == "application/json"
        first = json.loads(resp.read())
        assert wait_for(lambda: server.broadcast.stats()["frames"] > first["frames"])
        _, resp = get(server, "/stats.json")
        second = json.loads(resp.read())
    assert first["model"] == "model.pt" and first["backend"] == "torch" and first["running"] is True
    assert set(first["stages"]) == STAGES
    for s in first["stages"].values():
        assert set(s) == {"p50", "p90", "p99", "mean", "min"} and 0 <= s["p50"] <= s["p90"] <= s["p99"]
    for key in ("frames", "captured", "dropped", "reconnects", "window"):
        assert isinstance(first[key], int) and first[key] >= 0
    assert second["frames"] > first["frames"] and second["uptime_s"] > first["uptime_s"]
    latest = second["latest"]
    assert latest["label"] in [*CLASSES, "unknown"] and 0 <= latest["confidence"] <= 1
    assert [k for k, _ in latest["topk"]] and all(k in CLASSES for k, _ in latest["topk"])
    assert set(first["viewers"]) == {"stream", "events"} and first["stream"]["width_limit"] == 640


def test_events_stream_recognitions_then_end_when_the_run_stops(runner, long_clip):
    with serving(runner, long_clip) as (server, done):
        conn, resp = get(server, "/events", timeout=30)
        assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/event-stream")
        seen = read_events(resp, "recognition")
        for _ in range(3):  # the label changes every 10 frames in this clip
            seen += read_events(resp, "recognition")
    # leaving ``serving`` stops the loop and closes the server: the stream ends with the reason
    seen += read_events(resp, "end")
    assert resp.fp.readline() == b""  # then the connection closes
    conn.close()
    recognitions = [e["data"] for e in seen if e["event"] == "recognition"]
    assert len(recognitions) >= 4 and all(r["label"] in [*CLASSES, "unknown"] for r in recognitions)
    assert all(a["label"] != b["label"] for a, b in zip(recognitions, recognitions[1:]))  # only changes are sent
    ids = [int(e["id"]) for e in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert seen[-1]["data"]["reason"] == done["result"].end_reason


def test_events_stream_each_sign_announced(colour_runner, sign_scene):
    folder, _ = sign_scene
    with colour_runner() as signs_runner, serving(signs_runner, folder, drop=False) as (server, done):
        assert wait_for(lambda: "result" in done)
        conn, resp = get(server, "/events")
        server.broadcast.close("end of source")
        events = read_events(resp, until="end")
        hang_up(conn, resp)
    signs = [e["data"] for e in events if e["event"] == "sign"]
    assert [s["announced_label"] for s in signs] == ["stop", "no_entry"]
    assert {"track_id", "confidence", "first_frame", "announced_frame", "best_box"} <= set(signs[0])


def test_a_token_guards_every_route(runner, long_clip):
    with serving(runner, long_clip, token=TOKEN) as (server, _):
        for path in ("/", "/stream.mjpg", "/stats.json", "/events"):
            conn, resp = get(server, path)
            assert resp.status == 401 and resp.getheader("WWW-Authenticate", "").startswith("Bearer"), path
            conn.close()
            conn, resp = get(server, path, {"Authorization": f"Basic {TOKEN}"})  # not a bearer token: none given
            assert resp.status == 401, path
            conn.close()
            for wrong_path, headers in ((path, {"Authorization": "Bearer wrong-token-0123456789"}),
                                        (f"{path}?token=wrong-token-0123456789", {})):
                conn, resp = get(server, wrong_path, headers)
                assert resp.status == 403, wrong_path
                conn.close()
            for ok_path, headers in ((path, {"Authorization": f"Bearer {TOKEN}"}), (f"{path}?token={TOKEN}", {})):
                conn, resp = get(server, ok_path, headers)
                assert resp.status == 200, ok_path
                conn.close()


def test_page_is_self_contained_and_carries_the_token(runner, long_clip):
    with serving(runner, long_clip, token=TOKEN) as (server, _):
        _, resp = get(server, f"/?token={TOKEN}")
        page = resp.read().decode()
        csp = resp.getheader("Content-Security-Policy")
    assert resp.getheader("Content-Type") == "text/html; charset=utf-8"
    assert "http://" not in page and "https://" not in page and "//cdn" not in page  # nothing from elsewhere
    assert "stream.mjpg" in page and "EventSource" in page and "stats.json" in page and "Bearer" in page
    assert 'addEventListener("sign", sign)' in page and "Signs" in page  # announced signs are listed
    assert TOKEN not in page  # the page takes the token from its own address, it is not written into it
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp


def test_no_route_serves_files(runner, long_clip):
    with serving(runner, long_clip) as (server, _):
        for path in ("/serve_page.html", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/edgetl/camera/serve.py",
                     "//etc/passwd", "/stats.json/../../etc/passwd"):
            conn, resp = get(server, path)
            body = resp.read()
            assert resp.status == 404 and b"root:" not in body, path
            conn.close()


def test_the_client_cap_refuses_extra_viewers_and_frees_slots_when_they_leave(runner, long_clip):
    with serving(runner, long_clip, max_clients=2) as (server, _):
        streams = [get(server, "/stream.mjpg") for _ in range(2)]
        assert [r.status for _, r in streams] == [200, 200]
        conn, extra = get(server, "/stream.mjpg")
        assert extra.status == 503 and b"--serve-clients 2" in extra.read()
        conn.close()
        events = [get(server, "/events") for _ in range(2)]
        conn, extra = get(server, "/events")
        assert [r.status for _, r in events] == [200, 200] and extra.status == 503
        conn.close()
        _, stats = get(server, "/stats.json")  # short requests are not viewers
        assert stats.status == 200 and json.loads(stats.read())["viewers"] == {"stream": 2, "events": 2}
        hang_up(*streams[0])
        assert wait_for(lambda: server.broadcast.stats()["viewers"]["stream"] == 1, timeout=10)
        conn, again = get(server, "/stream.mjpg")
        assert again.status == 200
        for c, r in [*streams[1:], *events, (conn, again)]:
            hang_up(c, r)


class NoiseReader:
    """``n`` frames of 640x480 noise (large JPEGs), as fast as the loop takes them."""

    def __init__(self, n: int):
        rng = np.random.default_rng(0)
        self.images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(4)]
        self.n, self.i = n, 0
        self.size, self.fps, self.num_frames = (640, 480), 30.0, n

    def read(self):
        if self.i >= self.n:
            return None
        self.i += 1
        return self.images[self.i % 4].copy()

    def close(self):
        pass


def test_a_client_that_stops_reading_does_not_stall_the_loop(runner, clip):
    n = 150
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny window: the server's sends block
    with serving(runner, clip, drop=False, opener=lambda spec: NoiseReader(n), fps=1000.0) as (server, done):
        stalled.connect(("127.0.0.1", server.port))
        stalled.sendall(b"GET /stream.mjpg HTTP/1.0\r\n\r\n")  # ... and never reads
        assert wait_for(lambda: "result" in done, timeout=120), "the loop stalled behind a viewer that reads nothing"
        encoded = server.broadcast.stats()["stream"]["encoded_frames"]
        result = done["result"]
    assert result.frames == n and result.end_reason == "end of source"
    stalled.settimeout(5)
    received = b""
    with contextlib.suppress(OSError):
        while chunk := stalled.recv(1 << 20):
            received += chunk
    stalled.close()
    delivered = received.count(b"--edgetlframe\r\nContent-Type")
    assert 1 <= delivered < encoded, (delivered, encoded)  # frames were encoded on; the stalled viewer skipped them


def test_a_viewer_that_disconnects_mid_frame_changes_nothing(runner, long_clip):
    with serving(runner, long_clip) as (server, done):
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"GET /stream.mjpg HTTP/1.0\r\n\r\n")
            s.recv(300)  # headers and part of a frame
            s.close()
        conn, resp = get(server, "/stream.mjpg")
        assert cv2.imdecode(np.frombuffer(read_part(resp), np.uint8), cv2.IMREAD_COLOR) is not None
        hang_up(conn, resp)
        assert "result" not in done and wait_for(lambda: server.broadcast.stats()["viewers"]["stream"] == 0, 10)


@pytest.mark.parametrize("source, secrets, shown", [
    ("rtsp://admin:hunter2@10.0.0.7:554/live", ["hunter2"], "rtsp://***@10.0.0.7:554/live"),
    ("rtsp://admin:hunter2@S3CRETX@10.0.0.7/live", ["hunter2", "S3CRETX"], "rtsp://***@10.0.0.7/live"),
    ("rtsp://10.0.0.7/live?user=admin&password=QuerySecret9", ["QuerySecret9"], "password=***"),
])
def test_source_credentials_never_reach_the_page_or_json(runner, long_clip, source, secrets, shown):
    info = {"model": "model.pt", "source": source}
    with serving(runner, long_clip, info=info) as (server, _):
        _, resp = get(server, "/stats.json")
        stats = resp.read().decode()
        _, resp = get(server, "/")
        page = resp.read().decode()
    assert not any(s in stats + page for s in secrets) and shown in stats


@pytest.mark.parametrize("text, expected", [("8080", ("127.0.0.1", 8080)), ("0.0.0.0:80", ("0.0.0.0", 80)),
                                            ("[::1]:0", ("::1", 0)), ("localhost:9000", ("localhost", 9000))])
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["x", "host:", ":80", "70000", "a:b:80", "8080/x", ""])
def test_bad_addresses_and_tokens_are_refused_in_one_line(text):
    with pytest.raises(ServeError, match=r"^--serve .*\[HOST:\]PORT"):
        parse_address(text)
    for token in ("short", "x" * 15, "has space in it 12345", "naïve-token-0123456789"):
        with pytest.raises(ServeError, match="--serve-token: use at least 16"):
            check_token(token)
    assert check_token(TOKEN) == TOKEN


def test_a_port_in_use_or_a_foreign_address_fails_at_once():
    with LiveServer(ServeConfig(port=0)) as first:
        with pytest.raises(ServeError, match=f"port {first.port} is in use"):
            LiveServer(ServeConfig(port=first.port))
    with pytest.raises(ServeError, match="not an address of this machine"):
        LiveServer(ServeConfig(host="192.0.2.1", port=0))  # TEST-NET-1: never a local address
