"""Run folders for export tests: the shared tiny model.pt plus a config.json naming the tiny data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


def make_run(dst: Path, model_pt: Path, data: Path | None) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(model_pt, dst / "model.pt")
    (dst / "config.json").write_text(json.dumps({"data": str(data)} if data else {}))
    return dst


@pytest.fixture(name="make_run", scope="session")
def make_run_fixture():
    """The ``make_run`` function, for tests that need a run folder of their own."""
    return make_run


@pytest.fixture
def run_dir(tmp_path, tiny_model, tiny_data) -> Path:
    return make_run(tmp_path / "run", tiny_model, tiny_data)


@pytest.fixture(scope="module")
def int8_run(tmp_path_factory, tiny_model, tiny_data) -> Path:
    """One INT8 (--target cpu) export shared by a module's read-only checks."""
    from edgetl.export import ExportConfig, export_run

    run = make_run(tmp_path_factory.mktemp("int8") / "run", tiny_model, tiny_data)
    export_run(ExportConfig(run=run, int8=True, latency_iters=10))
    return run


def sabotage_first_layer(run_dir: Path) -> None:
    """Give the first layer's activations a far too narrow range in the calibration cache: every INT8 form
    quantized from these ranges loses most of its accuracy, on any CPU."""
    (cache,) = (run_dir / "calib_cache").glob("calib-*.json")
    doc = json.loads(cache.read_text())
    hit = [k for k in doc["data"] if "features.0/" in k]
    assert hit
    for k in hit:
        doc["data"][k]["lowest"]["data"], doc["data"][k]["highest"]["data"] = [-1e-2], [1e-2]
    cache.write_text(json.dumps(doc))


@pytest.fixture(name="sabotage_first_layer", scope="session")
def sabotage_first_layer_fixture():
    """The ``sabotage_first_layer`` function."""
    return sabotage_first_layer
