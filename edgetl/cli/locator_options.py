"""``--locate`` and the locators' own flags (``--roi``, ``--max-boxes``, ``--window-scales``...) derived
from the locator registry, for ``edgetl run``.

As with the backend flags (``backend_options.py``), the options are read from ``LOCATORS`` when click
asks the command for its parameters (parsing, ``--help``, completion), so a locator registered later
is a choice of ``--locate`` and its options are flags. An option several locators share (``--sign-fill``)
is one flag. The callback receives ``locate`` (a name, or None for the default rule) and
``locate_options``: the locator options given on the command line, as text, by the names the locators
declare, ready for ``LoopConfig(locate=..., locate_options=...)``.
"""

from __future__ import annotations

import functools
from typing import Any

import click

from edgetl.camera.locate import LOCATORS, LocatorEntry, LocatorOption

PREFIX = "locator__"
LOCATE_HELP = ("Where to look in each frame. Default: signs when the model has the --background-label class, "
               "else frame (a fixed --roi implies frame).")


def _default_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _option(opt: LocatorOption, owners: list[str]) -> click.Option:
    default = "" if opt.default is None else f" [default: {_default_text(opt.default)}]"
    return click.Option([opt.flag, PREFIX + opt.name], metavar=opt.metavar or None, default=None,
                        help=f"[{', '.join(owners)}] {opt.help}{default}")


@functools.lru_cache(maxsize=8)
def _options_for(entries: tuple[LocatorEntry, ...]) -> tuple[click.Option, ...]:
    """``--locate`` and one flag per locator option; cached, so one invocation sees the same objects."""
    owners: dict[str, list[str]] = {}
    options: dict[str, LocatorOption] = {}
    for e in entries:
        for o in e.options:
            options.setdefault(o.flag, o)
            owners.setdefault(o.flag, []).append(e.name)
    choices = "; ".join(f"{e.name}: {e.description}" for e in entries)
    locate = click.Option(["--locate"], type=click.Choice([e.name for e in entries]), default=None,
                          help=f"{LOCATE_HELP} {choices}.")
    return (locate, *(_option(o, owners[flag]) for flag, o in options.items()))


def locator_click_options() -> tuple[click.Option, ...]:
    return _options_for(tuple(LOCATORS.values()))


class LocatorCommand(click.Command):
    """A click command with ``--locate`` and the registered locators' options."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        """The command's arguments, then where to look, then its own options and the others'."""
        params = super().get_params(ctx)
        n = sum(isinstance(p, click.Argument) for p in self.params)
        return [*params[:n], *locator_click_options(), *params[n:]]

    def invoke(self, ctx: click.Context) -> Any:
        given = {}
        for key in [k for k in ctx.params if k.startswith(PREFIX)]:
            value = ctx.params.pop(key)
            if value is not None:
                given[key[len(PREFIX):]] = value
        ctx.params["locate_options"] = given
        return super().invoke(ctx)
