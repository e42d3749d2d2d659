"""The README's commands stay true: the install commands are what CI runs, and the showcase runs."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Options appended to each showcase command so it runs in seconds; click keeps the last value given.
SMALL = {
    ("data", "roadsigns"): ["--per-class", "20"],
    ("finetune",): ["--epochs", "1", "--batch-size", "16"],
    ("export",): ["--max-drop", "100"],  # a 1-epoch model's INT8 accuracy means nothing
    ("bench",): ["--seconds", "0.3", "--warmup", "2"],
    ("data", "roadsigns-video"): ["--seconds", "6"],
    ("run",): [],
}


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    nxt = re.search(r"\n#{2,3} ", text[start + len(heading):])
    return text[start: start + len(heading) + (nxt.start() if nxt else len(text))]


def test_first_command_installs_and_runs_the_demo_and_second_is_what_ci_runs():
    first, second = bash_blocks(README)[:2]
    assert first.strip().endswith("edgetl demo")
    steps = [s.strip() for s in second.strip().split("&&")]
    ci = (ROOT / ".ci" / "run").read_text()
    ci_lines = [ln.strip() for ln in ci.splitlines() if ln.strip().startswith("python3")]
    normalise = lambda c: c.replace(" -q ", " ").replace(" -q", "")  # noqa: E731
    assert [normalise(c) for c in ci_lines] == [normalise(c) for c in steps]
    assert [s.strip() for s in first.strip().split("&&")][:2] == steps[:2]


def test_showcase_commands_run(tmp_path):
    block = bash_blocks(section(README, "### The showcase, step by step"))[0]
    commands = [shlex.split(ln) for ln in block.strip().splitlines() if ln.strip() and not ln.startswith("#")]
    assert [c[0] for c in commands] == ["edgetl"] * 6
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EDGETL_OFFLINE": "1"}
    for argv in commands:
        key = next(k for k in SMALL if tuple(argv[1:1 + len(k)]) == k)
        cmd = [sys.executable, "-m", "edgetl", *argv[1:], *SMALL[key]]
        res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, f"{' '.join(argv)}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
    for produced in ("signs/manifest.json", "runs/signs/model.pt", "runs/signs/model.int8.onnx", "drive.mp4",
                     "drive.gt.json", "events.jsonl"):
        assert (tmp_path / produced).is_file(), produced
    assert "locate: signs" in res.stderr and "announced once with the right label" in res.stdout
