"""Progress for every command: a tqdm bar on a terminal, nothing but the command's own lines elsewhere.

A bar redraws itself with carriage returns many times a second. A terminal overwrites each frame in
place; a log file or a pipe keeps every one of them. So commands draw bars only through ``Bar``, which
draws on a terminal and stays silent on a file or pipe, where the lines a command prints anyway (one
per epoch or stage, then the result) are what the log gets.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


def is_terminal(stream: TextIO | None = None) -> bool:
    """True if ``stream`` (default: stderr, where bars go) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Bar:
    """A progress bar over ``total`` steps, drawn on ``stream`` (default stderr) only if it is a terminal.

    Usable as a context manager; ``update`` may be passed as a library's ``progress`` callback.
    """

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it", stream: TextIO | None = None):
        self._bar: Any = None
        if is_terminal(stream):
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=False, file=stream or sys.stderr)

    @property
    def drawn(self) -> bool:
        """Whether this bar draws (the stream is a terminal)."""
        return self._bar is not None

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def postfix(self, **values: Any) -> None:
        """Values shown after the bar (e.g. the running loss), at its next redraw."""
        if self._bar is not None:
            self._bar.set_postfix(values, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
