"""The CLI's last line of defence: an error that escaped a command is still one line, and never a secret."""

from __future__ import annotations

import errno

import click
import pytest
from click.testing import CliRunner

from edgetl.cli.main import COMMANDS, cli
from edgetl.errors import EdgetlError


@click.command("boom")
@click.argument("kind")
def boom(kind: str) -> None:
    if kind == "enospc":
        raise OSError(errno.ENOSPC, "No space left on device")
    if kind == "eacces":
        raise PermissionError(errno.EACCES, "Permission denied", "/data/out/report.json")
    if kind == "torch":  # how torch reports a failed save to a file object
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    if kind == "secret":
        raise EdgetlError("cannot open rtsp://admin:hunter2@S3CRETX@cam/live?token=T0kenValue")
    raise RuntimeError("a bug, not a user error")


@pytest.fixture
def with_boom(monkeypatch):
    monkeypatch.setitem(COMMANDS, "boom", (__name__, "boom", "fails on purpose"))


@pytest.mark.parametrize("kind, line", [
    ("enospc", "Error: disk full (OSError)"),
    ("eacces", "Error: /data/out/report.json: permission denied"),
    ("torch", "Error: disk full (OSError)"),
    ("secret", "Error: cannot open rtsp://***@cam/live?token=***"),
])
def test_escaped_errors_are_one_line(with_boom, kind, line):
    res = CliRunner().invoke(cli, ["boom", kind])
    assert res.exit_code == 1 and res.output.strip() == line


def test_a_bug_is_not_hidden(with_boom):
    res = CliRunner().invoke(cli, ["boom", "bug"])
    assert isinstance(res.exception, RuntimeError) and res.exit_code == 1
