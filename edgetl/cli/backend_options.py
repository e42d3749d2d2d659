"""Backend flags (``--provider``, ``--device``, ``--threads``, ``--rebuild-stale``...) derived from the backend
registry, for every command that opens models.

``@click.command(cls=BackendCommand)`` adds one click option per option the registered backends declare
(once for an option that several backends share, like ``--threads``), plus a hidden one per old spelling
(``--providers``). The options are read from the registry when click asks the command for its parameters
(parsing, ``--help``, completion), not when the module is imported, so a backend registered later
(a plugin, a test) is seen. The callback receives them as one ``backend_options`` dict, by the names the
backends declare, ready for ``open_runner(path, **backend_options)``.
"""

from __future__ import annotations

import functools
from typing import Any

import click

from edgetl.runtime.backends import BACKENDS, Backend, BackendOption, declared_options, suffixes_of

PREFIX = "backend__"


def _click_option(opt: BackendOption, takers: tuple[Backend, ...], flag: str, key: str, hidden: bool) -> click.Option:
    kw: dict[str, Any] = {"help": f"[{suffixes_of(takers)}] {opt.help}", "hidden": hidden, "multiple": opt.multiple}
    if opt.type is bool:
        kw["is_flag"] = True
    elif opt.type is int:
        kw["type"] = click.IntRange(opt.minimum) if opt.minimum is not None else int
    elif opt.type is float:
        kw["type"] = click.FloatRange(opt.minimum) if opt.minimum is not None else float
    else:
        kw["type"] = str
    return click.Option([flag, key], **kw)


@functools.lru_cache(maxsize=8)
def _options_for(entries: tuple[Backend, ...]) -> tuple[click.Option, ...]:
    """Click options for these registry entries; cached, so one invocation sees the same objects."""
    out = []
    for name, (opt, takers) in declared_options(entries).items():
        out.append(_click_option(opt, takers, opt.flag, PREFIX + name, hidden=False))
        out += [_click_option(opt, takers, alias, f"{PREFIX}{name}__{i}", hidden=True)
                for i, alias in enumerate(opt.aliases)]
    return tuple(out)


def backend_click_options() -> tuple[click.Option, ...]:
    return _options_for(tuple(BACKENDS.values()))


def _merge(a: Any, b: Any) -> Any:
    """An option and its alias both given: repeatable values add up, otherwise the one given wins."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return a + b
    return b if b not in (None, False) else a


class BackendCommand(click.Command):
    """A click command with the registered backends' options."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        n = len(self.params)  # what follows is click's --help option
        return [*params[:n], *backend_click_options(), *params[n:]]

    def invoke(self, ctx: click.Context) -> Any:
        options: dict[str, Any] = {}
        for key in [k for k in ctx.params if k.startswith(PREFIX)]:
            name = key[len(PREFIX):].split("__")[0]
            value = ctx.params.pop(key)
            options[name] = _merge(options[name], value) if name in options else value
        ctx.params["backend_options"] = options
        return super().invoke(ctx)
