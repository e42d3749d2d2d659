"""Source URIs, GStreamer pipeline strings, credential redaction and the newest-frame capture thread."""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np
import pytest

from edgetl.camera import sources
from edgetl.camera.sources import Capture, SourceError, csi_pipeline, parse_source, redact, source_pipeline


def test_camera_index_and_v4l2_device_with_options():
    assert parse_source("0").kind == "camera" and parse_source("0").target == 0
    spec = parse_source("/dev/video2?width=640&height=480&fps=60")
    assert (spec.kind, spec.target, dict(spec.options)) == ("camera", "/dev/video2", {"width": 640, "height": 480, "fps": 60})
    assert spec.live


def test_csi_uri_becomes_an_nvargus_pipeline_with_its_options():
    pipe = source_pipeline(parse_source("csi://1?width=1920&height=1080&fps=60&flip=2"))
    assert pipe.startswith("nvarguscamerasrc sensor-id=1 ! ")
    assert "width=(int)1920, height=(int)1080, framerate=(fraction)60/1" in pipe
    assert "nvvidconv flip-method=2" in pipe
    assert "format=(string)BGR ! appsink" in pipe and "drop=true max-buffers=1" in pipe
    assert "width=(int)1280, height=(int)720, framerate=(fraction)30/1" in source_pipeline(parse_source("csi://0"))
    assert csi_pipeline(0, flip=0) == source_pipeline(parse_source("csi://0?flip=0"))


@pytest.mark.parametrize("uri, words", [
    ("csi://0?flip=9", "flip must be 0..7"),
    ("csi://0?zoom=2", "unknown option 'zoom'"),
    ("csi://0?width=wide", "not a whole number"),
    ("csi://left", "csi://N"),
    ("ftp://host/x", "unknown scheme 'ftp'"),
    ("videotestsrc ! videoconvert", "must end in 'appsink'"),
])
def test_bad_uris_say_what_is_wrong(uri, words):
    with pytest.raises(SourceError, match=words.replace("(", r"\(").replace(".", r"\.")):
        parse_source(uri)


def test_files_folders_streams_and_pipelines(tmp_path):
    (tmp_path / "a.png").write_bytes(cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes())
    (tmp_path / "v.mp4").write_bytes(b"")
    assert parse_source(str(tmp_path)).kind == "folder"
    assert parse_source(str(tmp_path / "a.png")).kind == "folder"
    assert parse_source(str(tmp_path / "v.mp4")).kind == "file"
    assert parse_source("rtsp://cam.local:554/stream").kind == "stream"
    gst = "videotestsrc ! videoconvert ! appsink"
    assert parse_source(gst).kind == "gstreamer" and source_pipeline(parse_source(gst)) == gst
    with pytest.raises(SourceError, match="no such file"):
        parse_source(str(tmp_path / "missing.mp4"))


def test_redact_hides_url_passwords_and_gstreamer_credentials():
    assert redact("rtsp://admin:p%40ss:w0rd@10.0.0.2:554/h264") == "rtsp://***@10.0.0.2:554/h264"
    assert redact("rtsps://bob@cam/x") == "rtsps://***@cam/x"
    pipe = 'rtspsrc location=rtsp://u:hunter2@cam/s user-id=admin user-pw="top secret" ! appsink'
    shown = redact(pipe)
    assert "hunter2" not in shown and "top secret" not in shown and "admin" not in shown
    assert "rtsp://***@cam/s" in shown
    assert redact("rtsp://cam.local/stream") == "rtsp://cam.local/stream"
    assert parse_source("rtsp://alice:s3cret@cam/x").display == "rtsp://***@cam/x"


def test_unreachable_rtsp_error_names_the_host_but_not_the_password():
    with pytest.raises(SourceError) as err:
        sources.open_reader(parse_source("rtsp://alice:s3cret@127.0.0.1:9/live"))
    assert "s3cret" not in str(err.value) and "rtsp://***@127.0.0.1:9/live" in str(err.value)


def test_gstreamer_sources_say_whether_opencv_has_gstreamer(monkeypatch):
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  Video I/O:\n    GStreamer:    NO\n")
    assert not sources.has_gstreamer()
    with pytest.raises(SourceError, match="built without GStreamer"):
        sources.open_reader(parse_source("csi://0"))
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  Video I/O:\n    GStreamer:   YES (1.20.3)\n")
    assert sources.has_gstreamer()


def test_folder_frames_come_in_name_order(tmp_path):
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), np.full((6, 6, 3), 40 * i, np.uint8))
    with Capture(parse_source(str(tmp_path)), drop=False) as cap:
        values = [int(f.image[0, 0, 0]) for f in iter(lambda: cap.get(5.0), None)]
    assert values == [0, 40, 80] and cap.end_reason == "end of source"


def test_newest_frame_only_when_the_loop_is_slow(scripted_reader):
    spec = sources.SourceSpec("file", "scripted", "scripted")

    def unpaced(_spec):  # a recording of unknown frame rate is read flat out, and the loop takes the newest
        reader = scripted_reader(60, delay_s=0.002)
        reader.fps = None
        return reader

    with Capture(spec, drop=True, opener=unpaced) as cap:
        seen = []
        while (f := cap.get(5.0)) is not None:
            seen.append(f.index)
            assert int(f.image[0, 0, 0]) == f.index
            time.sleep(0.02)  # a loop ten times slower than the source
    assert cap.dropped > 0 and len(seen) + cap.dropped == cap.captured == 60
    assert seen == sorted(seen) and seen[-1] == 59  # always the newest, and nothing is lost at the end


def test_a_video_file_plays_in_real_time_like_a_camera(scripted_reader):
    spec = sources.SourceSpec("file", "scripted", "scripted")

    def fast(_spec):
        reader = scripted_reader(11)
        reader.fps = 100.0
        return reader

    t0 = time.perf_counter()
    with Capture(spec, drop=True, opener=fast) as cap:
        frames = list(iter(lambda: cap.get(5.0), None))
    assert cap.realtime and time.perf_counter() - t0 >= 0.1  # 11 frames at 100 fps: 10 intervals
    assert len(frames) + cap.dropped == 11 and frames[-1].index == 10
    assert not Capture(spec, drop=False, opener=fast).realtime  # --no-drop reads as fast as the loop goes


def test_no_drop_delivers_every_frame_in_order(scripted_reader):
    spec = sources.SourceSpec("file", "scripted", "scripted")
    with Capture(spec, drop=False, opener=lambda s: scripted_reader(40)) as cap:
        seen = []
        while (f := cap.get(5.0)) is not None:
            seen.append(f.index)
            time.sleep(0.002)
    assert seen == list(range(40)) and cap.dropped == 0


def test_live_source_reconnects_with_backoff_then_gives_up_without_leaking_credentials(scripted_reader, caplog):
    spec = parse_source("rtsp://alice:s3cret@cam.local/live")
    opened = []

    def opener(s):
        if len(opened) >= 2:
            raise SourceError(f"cannot open source {s.display!r}: is the stream reachable?")
        opened.append(scripted_reader(3))
        return opened[-1]

    caplog.set_level(logging.INFO, logger="edgetl")
    with Capture(spec, drop=False, reconnects=3, backoff_s=0.01, opener=opener) as cap:
        frames = list(iter(lambda: cap.get(5.0), None))
    assert len(frames) == 6 and [f.index for f in frames] == list(range(6))  # 3 before, 3 after one reconnect
    assert cap.reconnected == 1 and "gave up after 3 reconnect" in cap.end_reason
    assert "reconnect 3/3" in caplog.text and "s3cret" not in caplog.text and "s3cret" not in cap.end_reason
    assert all(r.closed for r in opened)
