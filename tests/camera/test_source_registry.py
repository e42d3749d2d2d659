"""Camera sources are registry entries: a new kind is one entry, seen by parsing, opening and `edgetl run --help`."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from edgetl.camera.sources import (SOURCES, SourceError, SourceKind, SourceSpec, open_reader, parse_source, register,
                                   source_kinds, source_pipeline)
from edgetl.cli.main import cli
from edgetl.registry import DuplicateEntryError


def fake_kind(reader, priority: int = 100) -> SourceKind:
    """``fake://N``: N synthetic frames from the scripted reader."""

    def parse(uri: str) -> SourceSpec | None:
        if not uri.startswith("fake://"):
            return None
        if not uri[7:].isdigit():
            raise SourceError(f"source {uri!r}: expected fake://N")
        return SourceSpec("fake", int(uri[7:]), uri)

    return SourceKind(name="fake", example="fake://N", description="N synthetic frames, for tests", noun="fake://N",
                      parse=parse, open=lambda spec: reader(spec.target), priority=priority)


def run_help() -> str:
    res = CliRunner().invoke(cli, ["run", "--help"])
    assert res.exit_code == 0, res.output
    return res.output


def test_a_registered_kind_is_parsed_listed_in_help_and_run(scripted_reader, tiny_model):
    with SOURCES.temporarily("fake", fake_kind(scripted_reader)):
        assert "fake://N" in run_help() and "N synthetic frames, for tests" in run_help()
        spec = parse_source("fake://3")
        assert (spec.kind, spec.target, spec.live, source_pipeline(spec)) == ("fake", 3, False, None)
        assert open_reader(spec).num_frames is None
        res = CliRunner().invoke(cli, ["run", str(tiny_model), "fake://3", "--headless"])
        assert res.exit_code == 0 and "on fake://3 (8x8 @ 30 fps)" in res.output, res.output
        assert "3 captured" in res.output and "ended: end of source" in res.output  # the loop may drop some
        res = CliRunner().invoke(cli, ["run", str(tiny_model), "fake://3", "--headless", "--no-drop"])
        assert res.exit_code == 0 and "3 frames processed (3 captured, 0 dropped" in res.output, res.output
        with pytest.raises(SourceError, match="expected fake://N"):
            parse_source("fake://many")
    assert "fake://N" not in run_help()
    with pytest.raises(SourceError, match="unknown scheme 'fake'"):
        parse_source("fake://3")


def test_recognition_follows_priority_not_registration(scripted_reader):
    pipeline = "videotestsrc ! appsink"

    def greedy(priority: int) -> SourceKind:  # claims anything, as a careless plugin might
        return dataclasses.replace(fake_kind(scripted_reader, priority), parse=lambda uri: SourceSpec("fake", 1, uri))

    with SOURCES.temporarily("fake", greedy(priority=1_000)):
        assert parse_source(pipeline).kind == "gstreamer" and parse_source("0").kind == "camera"
        assert source_kinds()[-1].name == "fake"
    with SOURCES.temporarily("fake", greedy(priority=0)):
        assert parse_source(pipeline).kind == "fake" and source_kinds()[0].name == "fake"


def test_the_built_in_kinds_and_what_they_say(tmp_path):
    assert [k.name for k in source_kinds()] == ["gstreamer", "csi", "stream", "camera", "folder", "file"]
    assert {k.name for k in source_kinds() if k.live} == {"gstreamer", "csi", "stream", "camera"}
    assert all(k.example and k.description and k.noun and k.why_not_opened() for k in source_kinds())
    with pytest.raises(DuplicateEntryError):
        register(SOURCES.get("csi"))
    text = run_help()
    for kind in source_kinds():
        assert kind.example in text
    with pytest.raises(SourceError, match=r"unknown scheme 'ftp' \(use a GStreamer pipeline, csi://N, .* or a video file\)"):
        parse_source("ftp://host/x")
    with pytest.raises(SourceError, match="cannot open source .*: the folder has no images"):
        open_reader(parse_source(str(tmp_path)))
