"""Every module imports, and every command answers --help, with only the core dependencies and
without loading torch, OpenCV or onnxruntime where it need not.

Runs in a fresh interpreter so that nothing a previous test imported hides a missing import, and
checks that no optional heavy dependency (TensorRT, CUDA bindings) is needed for it.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

import edgetl
from edgetl.cli.main import COMMANDS, cli

MODULES = sorted(m.name for m in pkgutil.walk_packages(edgetl.__path__, "edgetl."))


def test_every_module_imports_without_optional_dependencies():
    code = (
        "import importlib, sys\n"
        "sys.modules['tensorrt'] = None\n"  # as on a machine without TensorRT
        f"mods = {MODULES!r}\n"
        "for m in mods: importlib.import_module(m)\n"
        "print(len(mods))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert int(res.stdout.strip()) == len(MODULES) > 20


# What a command's module may load when imported (for 'edgetl CMD --help'). Every other command waits
# until it runs before it loads torch, OpenCV or onnxruntime; 'run', 'finetune' and 'demo' are not there yet.
HEAVY = ("torch", "cv2", "onnxruntime")
HEAVY_AT_IMPORT = {"run": {"cv2"}, "finetune": {"torch", "cv2"}, "demo": {"torch", "cv2"}}


@pytest.mark.parametrize("name", ["main", *sorted(COMMANDS)])
def test_command_modules_import_no_heavy_package(name):
    module = "edgetl.cli.main" if name == "main" else COMMANDS[name][0]
    code = f"import sys, {module}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    loaded = set(res.stdout.split()) - HEAVY_AT_IMPORT.get(name, set())
    assert not loaded, f"import {module} loads {sorted(loaded)}: defer it to the command or make the import lighter"


def test_top_level_help_lists_every_command():
    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0
    for name in COMMANDS:
        assert name in res.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help(name):
    res = CliRunner().invoke(cli, [name, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage:" in res.output


def test_python_dash_m_and_version():
    res = subprocess.run([sys.executable, "-m", "edgetl", "--version"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and edgetl.__version__ in res.stdout
