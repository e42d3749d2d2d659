"""Entry point of the ``edgetl`` command.

Subcommands are imported lazily, so ``edgetl --help`` stays fast and works with only the core
dependencies. A user error (``EdgetlError``) is printed as one line without a traceback, and so, as a
last line of defence, is an ``OSError`` that escaped a command (the writers and the early output checks
are where such errors are meant to be caught). Error lines and log records go through ``redact``.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from edgetl import __version__
from edgetl.errors import EdgetlError
from edgetl.fileio import describe_os_error, os_error_of
from edgetl.redaction import RedactingFilter, redact

# name -> (module, attribute, one-line help shown in 'edgetl --help' without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("edgetl.cli.data", "data", "Generate the synthetic road-sign showcase data and video."),
    "finetune": ("edgetl.cli.finetune", "finetune", "Fine-tune a pretrained backbone on image folders."),
    "export": ("edgetl.cli.export", "export", "Export a run to verified ONNX, optionally INT8 (Q/DQ)."),
    "build": ("edgetl.cli.build", "build", "Build a TensorRT engine from an ONNX model (on the device)."),
    "run": ("edgetl.cli.run", "run", "Recognise from a camera, video, stream or image folder."),
    "bench": ("edgetl.cli.bench", "bench", "Measure latency percentiles and throughput per backend."),
    "doctor": ("edgetl.cli.doctor", "doctor", "Check what this machine has for edgetl and how to fix what is missing."),
    "demo": ("edgetl.cli.demo", "demo", "Run the whole pipeline on synthetic road signs, offline."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgetlError as exc:
            raise click.ClickException(redact(exc)) from None
        except (click.exceptions.Exit, click.exceptions.Abort):  # RuntimeErrors that are click's own
            raise
        except (OSError, RuntimeError) as exc:
            cause = os_error_of(exc)
            if cause is None:
                raise
            raise click.ClickException(redact(os_error_line(cause))) from None
        except KeyboardInterrupt:
            click.echo("\ninterrupted: files already written are complete", err=True)
            sys.exit(130)


def os_error_line(exc: OSError) -> str:
    """One line for an ``OSError`` no command turned into an ``EdgetlError``: the file and the cause."""
    path = exc.filename
    cause = describe_os_error(exc, path)
    return f"{path}: {cause}" if path is not None else f"{cause} ({type(exc).__name__})"


def setup_logging(verbosity: int) -> None:
    """Console logging: warnings by default (progress is drawn by the commands), -v info, -vv debug.

    The level is set on the console handler, so a command may still log INFO to a file of its own.
    """
    level = logging.ERROR if verbosity < 0 else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    handler = logging.StreamHandler()
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logging.basicConfig(level=level, handlers=[handler], force=True)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edgetl")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
def cli(verbose: int, quiet: bool) -> None:
    """edgetl: fine-tune, export, quantize, build and run vision classifiers on NVIDIA Jetson."""
    setup_logging(-1 if quiet else verbose)


def main() -> None:
    cli(prog_name="edgetl")


if __name__ == "__main__":
    main()
