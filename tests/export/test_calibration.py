"""Calibration sets: class-stratified, recorded with hashes, refused when they cannot be trusted."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from edgetl.data.folders import Sample
from edgetl.errors import DataError
from edgetl.export import calibration as cal
from edgetl.export.evaluate import load_images
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


def test_reader_feeds_normalised_batches_and_rewinds(tiny_data):
    pre = Preprocess(size=32, resize=32)
    images = load_images(cal.scan_folder(tiny_data / "calib", CLASSES), pre)
    reader = cal.OrtCalibrationReader(images, batch_size=8)
    first = [d["input"] for d in reader]
    assert [b.shape[0] for b in first] == [8, 8, 2] and first[0].dtype == np.float32
    assert len(reader) == 3
    again = [d["input"] for d in reader]
    assert np.array_equal(np.concatenate(first), np.concatenate(again))


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
