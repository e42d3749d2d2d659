"""The downloaded layouts through the commands a user runs: what finetune says it found, and export on the run."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from edgetl.cli.main import cli

FAST = ["--backbone", "mobilenet_v3_small", "--weights", "none", "--image-size", "32", "--batch-size", "16",
        "--workers", "0", "--epochs", "1"]


def _finetune(data: Path, run: Path, *extra: str):
    res = CliRunner().invoke(cli, ["finetune", str(data), "-o", str(run), *FAST, *extra])
    assert res.exit_code == 0, res.output
    return res


def test_finetune_says_it_found_the_kaggle_gtsrb_layout_first(gtsrb_csv_tree, tmp_path):
    res = _finetune(gtsrb_csv_tree, tmp_path / "run", "--val-fraction", "0.5")
    first = res.stdout.splitlines()[0]
    assert first.startswith("data: gtsrb-csv, 43 classes, train 86, val 86, test 43;"), first
    labels = (tmp_path / "run" / "labels.txt").read_text().split()
    assert labels[:3] == ["speed_limit_20", "speed_limit_30", "speed_limit_50"] and len(labels) == 43


def test_finetune_on_a_csv_manifest_then_int8_export_of_the_run(tiny_data, tmp_path, monkeypatch):
    """The run records the manifest file as its data; export reads the same splits from it (calib included)."""
    rows = ["path,label,split"]
    for split in ("train", "val", "test", "calib"):
        for img in sorted((tiny_data / split).rglob("*.png")):
            rows.append(f"{os.path.relpath(img, tmp_path)},{img.parent.name},{split}")
    manifest = tmp_path / "labels.csv"
    manifest.write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)  # DATA as users type it: a relative file name
    res = _finetune(Path("labels.csv"), Path("run"))
    assert res.stdout.splitlines()[0].startswith("data: manifest, 3 classes, train 36, val 18, test 18;")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"] == "labels.csv"
    res = CliRunner().invoke(cli, ["export", "run", "--int8", "--calib-size", "18", "--max-drop", "100"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "run" / "model.int8.onnx").is_file()
    report = json.loads((tmp_path / "run" / "export.json").read_text())
    assert "labels.csv (calib split)" in json.dumps(report)
