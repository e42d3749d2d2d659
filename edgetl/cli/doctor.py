"""``edgetl doctor``: what this machine has for edgetl, and how to fix what is missing."""

from __future__ import annotations

import json

import click

_MARK = {"ok": "ok", "missing": "MISSING", "warn": "warn", "info": "info"}
_COLOUR = {"ok": "green", "missing": "red", "warn": "yellow", "info": None}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(as_json: bool) -> None:
    """Check CUDA and the GPU, TensorRT, onnxruntime providers, OpenCV GStreamer, cameras and the Jetson."""
    from edgetl.doctor import run_checks

    checks = run_checks()
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in checks], indent=2))
        return
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = click.style(f"{_MARK[c.status]:<7}", fg=_COLOUR[c.status])
        click.echo(f"{mark} {c.name:<{width}}  {c.detail}")
        if c.fix and c.status != "ok":
            click.echo(f"{'':<7} {'':<{width}}  fix: {c.fix}")
    missing = sum(c.status == "missing" for c in checks)
    click.echo(f"\n{missing} missing, {sum(c.status == 'warn' for c in checks)} warning(s)")
