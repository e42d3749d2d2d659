"""Calibration sets: picked by one rule, class-stratified, recorded with hashes, refused when they cannot
be trusted."""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import pytest

from edgetl.data import calibration as cal
from edgetl.data.layouts import load_dataset
from edgetl.data.samples import Sample
from edgetl.data.images import load_images
from edgetl.errors import DataError
from edgetl.spec import Preprocess

CLASSES = ("circle_red", "square_green", "triangle_blue")


def _samples(counts: dict[int, int]) -> list[Sample]:
    return [Sample(Path(f"c{c}/{i}.png"), c) for c, n in counts.items() for i in range(n)]


def test_selection_is_class_stratified_and_seeded():
    samples = _samples({0: 100, 1: 10, 2: 40})
    chosen = cal.select_stratified(samples, 60, seed=3)
    counts = Counter(s.label for s in chosen)
    assert len(chosen) == 60 and counts[1] == 10 and counts[0] == counts[2] == 25
    assert chosen == cal.select_stratified(samples, 60, seed=3)
    assert chosen != cal.select_stratified(samples, 60, seed=4)


def test_manifest_round_trip_and_detects_changed_images(tmp_path, tiny_data):
    calib_dir = shutil.copytree(tiny_data / "calib", tmp_path / "calib")
    cs = cal.make_calibration_set(cal.scan_folder(calib_dir, CLASSES), CLASSES, "test", size=12, min_images=12)
    manifest = cal.write_manifest(tmp_path / "run" / "calibration.json", cs, Preprocess(size=32, resize=32).to_dict(), 0)
    doc = json.loads(manifest.read_text())
    assert doc["format"] == "edgetl.calibration" and len(doc["images"]) == 12
    assert doc["per_class"] == {c: 4 for c in CLASSES} and doc["sha256"] == cs.sha256
    assert all(not Path(e["path"]).is_absolute() for e in doc["images"])
    back = cal.read_manifest(manifest, CLASSES)
    assert back.sha256 == cs.sha256 and [s.label for s in back.samples] == [s.label for s in cs.samples]
    victim = (manifest.parent / doc["images"][0]["path"]).resolve()
    victim.write_bytes(victim.read_bytes() + b"\0")
    with pytest.raises(DataError, match="changed since"):
        cal.read_manifest(manifest, CLASSES)


def test_image_list_hash_follows_content_not_paths(tmp_path, tiny_data):
    a = shutil.copytree(tiny_data / "calib", tmp_path / "a")
    b = shutil.copytree(tiny_data / "calib", tmp_path / "b")
    ha = cal.make_calibration_set(cal.scan_folder(a, CLASSES), CLASSES, "a").sha256
    assert ha == cal.make_calibration_set(cal.scan_folder(b, CLASSES), CLASSES, "b").sha256
    next((b / "circle_red").iterdir()).write_bytes(next((b / "square_green").iterdir()).read_bytes())
    assert ha != cal.make_calibration_set(cal.scan_folder(b, CLASSES), CLASSES, "b").sha256


def test_unknown_classes_and_tiny_sets_are_refused(tmp_path, tiny_data):
    calib_dir = shutil.copytree(tiny_data / "calib", tmp_path / "calib")
    (calib_dir / "stop_sign").mkdir()
    with pytest.raises(DataError, match=r"\['stop_sign'\] the model does not know"):
        cal.scan_folder(calib_dir, CLASSES)
    few = _samples({0: 3, 1: 3})
    with pytest.raises(DataError, match="has 6 image.*at least 16"):
        cal.make_calibration_set(few, CLASSES, "few")


def test_plain_image_folder_and_unreadable_images(tmp_path, tiny_data):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, p in enumerate(sorted((tiny_data / "calib").rglob("*.png"))):
        shutil.copy(p, flat / f"{i}.png")
    samples = cal.scan_folder(flat, CLASSES)
    assert len(samples) == 18 and {s.label for s in samples} == {-1}
    (flat / "broken.png").write_bytes(b"not an image")
    pre = Preprocess(size=32, resize=32)
    with pytest.raises(DataError, match="broken.png"):
        load_images(cal.scan_folder(flat, CLASSES), pre)


def test_written_manifest_and_example_follow_the_published_schema(tmp_path, tiny_data):
    jsonschema = pytest.importorskip("jsonschema")
    folder = Path(__file__).resolve().parents[2] / "calibration"
    schema = json.loads((folder / "manifest.schema.json").read_text())
    cs = cal.make_calibration_set(cal.scan_folder(tiny_data / "calib", CLASSES), CLASSES, "test")
    written = cal.write_manifest(tmp_path / "calibration.json", cs, Preprocess(size=32, resize=32).to_dict(), 0)
    jsonschema.validate(json.loads(written.read_text()), schema)
    jsonschema.validate(json.loads((folder / "example.json").read_text()), schema)
    broken = json.loads(written.read_text())
    broken["images"][0]["sha256"] = "not a hash"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_picker_takes_the_source_then_the_calib_split_then_warned_train(tmp_path, tiny_data, caplog):
    data = load_dataset(tiny_data)
    from_split = cal.pick_calibration_set(None, data, CLASSES, size=12, seed=1, min_images=12)
    assert "calib split" in from_split.source and len(from_split.samples) == 12
    assert {s.path.parent.parent.name for s in from_split.samples} == {"calib"}
    assert from_split.sha256 == cal.pick_calibration_set(tiny_data / "calib", None, CLASSES, 12, 1, 12).sha256
    assert from_split.sha256 != cal.pick_calibration_set(None, data, CLASSES, size=12, seed=2, min_images=12).sha256
    manifest = cal.write_manifest(tmp_path / "calibration.json", from_split, {}, 1)
    assert cal.pick_calibration_set(manifest, data, CLASSES, size=3).sha256 == from_split.sha256  # exactly its images

    no_calib = shutil.copytree(tiny_data, tmp_path / "data", ignore=shutil.ignore_patterns("calib"))
    with caplog.at_level(logging.WARNING, logger="edgetl"):
        train = cal.pick_calibration_set(None, load_dataset(no_calib), CLASSES, eval_split="test")
    assert {s.path.parent.parent.name for s in train.samples} == {"train"} and "train split" in train.source
    assert "never on test" in caplog.text
    with pytest.raises(DataError, match="pass --calib DIR or --data DIR"):
        cal.pick_calibration_set(None, None, CLASSES)
    with pytest.raises(DataError, match="at least 40"):
        cal.pick_calibration_set(None, data, CLASSES, min_images=40)
