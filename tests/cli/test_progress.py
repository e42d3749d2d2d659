"""Progress bars: drawn on a terminal, absent from a file or pipe."""

from __future__ import annotations

import io

from edgetl.cli.progress import Bar, is_terminal


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar():
    term = _Terminal()
    with Bar(5, desc="epoch 1/1", unit="batch", stream=term) as bar:
        assert bar.drawn
        for _ in range(5):
            bar.update()
            bar.postfix(loss="0.5")
    assert "epoch 1/1" in term.getvalue() and "\r" in term.getvalue()


def test_a_file_or_pipe_gets_nothing():
    log = io.StringIO()
    with Bar(5, desc="epoch 1/1", stream=log) as bar:
        assert not bar.drawn
        bar.update(5)
        bar.postfix(loss="0.5")
    assert log.getvalue() == ""
    assert not is_terminal(log)


def test_a_closed_stream_is_not_a_terminal():
    s = io.StringIO()
    s.close()
    assert not is_terminal(s)
