"""A backend is one registry entry: a fake one registered here for ``.fake`` files shows up among the
options of 'edgetl run' and 'edgetl bench', runs through 'edgetl bench', and is checked by 'edgetl doctor';
option values are read as the entries declare them, and a suffix cannot belong to two backends."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgetl.cli.main import cli
from edgetl.doctor import run_checks
from edgetl.errors import EdgetlError, ModelError
from edgetl.registry import DuplicateEntryError
from edgetl.runtime import BACKENDS, Backend, BackendOption, Runner, backend_for, open_runner
from edgetl.runtime.backends import Availability
from edgetl.spec import ModelInfo, Preprocess

CALLS: list[tuple] = []  # what the fake backend's prepare step and runner were given, in order


class FakeRunner(Runner):
    """Fixed logits (1, 2) times the gain: class 'b' wins."""

    backend = "fake"

    def __init__(self, path, gain: float = 1.0):
        super().__init__(path, ModelInfo(backbone="fake", labels=("a", "b"), preprocess=Preprocess(size=8, resize=8)))
        self.gain = gain
        CALLS.append(("runner", gain))

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return np.tile(np.array([[1.0, 2.0]], np.float32) * self.gain, (len(batch), 1))


def prepare_fake(path, verify: bool = False) -> None:
    CALLS.append(("prepare", path.name, verify))


FAKE = Backend(
    name="fake", suffixes=(".fake",), runner=f"{__name__}:FakeRunner", prepare=f"{__name__}:prepare_fake",
    check=lambda probe, jetson: Availability("ok", "fake backend 1.0"),
    options=(BackendOption("gain", "--fake-gain", float, "Multiply the fake logits.", minimum=0),
             BackendOption("verify", "--fake-verify", bool, "Check the fake model first.", for_prepare=True)),
)


@pytest.fixture
def fake_backend(tmp_path):
    CALLS.clear()
    model = tmp_path / "model.fake"
    model.write_bytes(b"fake")
    with BACKENDS.temporarily("fake", FAKE):
        yield model


def test_help_of_run_and_bench_lists_a_registered_backends_options(fake_backend):
    for command in ("run", "bench"):
        res = CliRunner().invoke(cli, [command, "--help"])
        assert res.exit_code == 0, res.output
        assert "--fake-gain" in res.output and "--fake-verify" in res.output and "[.fake]" in res.output
        # --threads is declared by torch and onnxruntime alike and listed once, for both
        options = [line.split()[0] for line in res.output.splitlines() if line.startswith("  -")]
        assert options.count("--threads") == 1 and "[.pt, .onnx]" in res.output


def test_options_leave_with_the_backend():
    for command in ("run", "bench"):
        res = CliRunner().invoke(cli, [command, "--help"])
        assert "--fake-gain" not in res.output
        options = [line.split()[0] for line in res.output.splitlines() if line.startswith("  -")]
        assert "--provider" in options and "--providers" not in options  # the old spelling is hidden


def test_bench_runs_a_registered_backend(fake_backend, tmp_path):
    out = tmp_path / "bench.json"
    res = CliRunner().invoke(cli, ["bench", str(fake_backend), "--fake-gain", "3", "--fake-verify", "--iters", "3",
                                   "--warmup", "0", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert CALLS == [("prepare", "model.fake", True), ("runner", 3.0)]  # prepare first, each with its own options
    result = json.loads(out.read_text())["results"][0]
    assert result["backend"] == "fake" and result["iterations"] == 3


def test_open_runner_uses_the_entry(fake_backend):
    assert backend_for(fake_backend) is FAKE
    with open_runner(fake_backend, gain="2") as r:
        assert [p.label for p in r.predict([np.zeros((8, 8, 3), np.uint8)])] == ["b"]
        assert r.gain == 2.0
    with pytest.raises(EdgetlError, match=r"^--fake-gain -1.0: use 0 or more$"):
        open_runner(fake_backend, gain=-1)


def test_an_option_the_backend_does_not_take_is_one_line(fake_backend, tiny_model):
    with pytest.raises(ModelError, match=r"model.fake: fake runner does not take option\(s\) threads "
                                         r"\(--threads is for .pt, .onnx models\)$"):
        open_runner(fake_backend, threads=2)
    res = CliRunner().invoke(cli, ["bench", str(tiny_model), "--fake-gain", "2", "--iters", "2"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output.strip().splitlines() == ["Error: --fake-gain applies to .fake models, and none was given "
                                               "(torch (.pt) takes --device, --threads)"]


def test_doctor_checks_a_registered_backend(fake_backend):
    checks = {c.name: c for c in run_checks()}
    assert checks["fake"].status == "ok" and checks["fake"].detail == "fake backend 1.0"
    res = CliRunner().invoke(cli, ["doctor"])
    assert res.exit_code == 0 and " fake " in res.output


def test_a_suffix_belongs_to_one_backend(fake_backend):
    clash = Backend(name="fake2", suffixes=(".fake",), runner=FAKE.runner, check=FAKE.check)
    with BACKENDS.temporarily("fake2", clash), pytest.raises(DuplicateEntryError, match=r"\.fake"):
        backend_for(fake_backend)


def test_provider_is_repeatable_and_takes_comma_lists(tiny_onnx):
    provider = BACKENDS.get("onnxruntime").option("providers")
    assert provider.value(("cpu,cuda", " tensorrt ")) == ["cpu", "cuda", "tensorrt"]
    assert provider.value("cpu") == ["cpu"] and provider.value(()) is None
    with open_runner(tiny_onnx, providers=("cpu",)) as r:
        assert r.providers == ["CPUExecutionProvider"]
    res = CliRunner().invoke(cli, ["bench", str(tiny_onnx), "--providers", "cpu", "--iters", "2", "--warmup", "0"])
    assert res.exit_code == 0, res.output  # the old bench spelling still works
