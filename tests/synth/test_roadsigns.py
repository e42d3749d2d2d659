"""The synthetic road-sign generator: layout, determinism, no leaks between splits, GTSRB output, and
the background class."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgetl.data import gtsrb
from edgetl.data.layouts import load_dataset
from edgetl.errors import DataError
from edgetl.synth.draw import SIGN_CLASSES, draw_sign
from edgetl.synth.roadsigns import RoadSignConfig, generate_roadsigns

SMALL = dict(per_class=8, views_per_track=2, classes=("stop", "keep_left", "keep_right"), image_size=(32, 32))


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rs") / "signs"
    generate_roadsigns(out, RoadSignConfig(**SMALL, workers=2))
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_manifest_and_load_dataset(small_set):
    m = json.loads((small_set / "manifest.json").read_text())
    assert m["synthetic"] is True and m["seed"] == 0 and m["generator_version"]
    labels = [*SMALL["classes"], "background"]
    assert (small_set / "labels.txt").read_text().split() == labels == m["classes"]
    data = load_dataset(small_set)
    assert data.classes == labels
    assert set(data.splits) == {"train", "val", "test", "calib"}
    for split, samples in data.splits.items():
        assert m["splits"][split]["images"] == len(samples) > 0
        per = [sum(s.label == i for s in samples) for i in range(4)]
        assert per == list(m["splits"][split]["per_class"].values())
        assert m["splits"][split]["per_class"]["background"] > 0  # the background class is in every split
    assert m["num_images"] == 3 * 8 + 16  # the default background: twice a sign class
    assert m["background"]["images"] == 16 == sum(m["background"]["kinds"].values())
    img = cv2.imread(str(data.splits["test"][0].path))
    assert img.shape == (32, 32, 3)


def test_tracks_never_cross_splits_and_calib_shares_nothing_with_test(small_set):
    data = load_dataset(small_set)
    groups = {k: {s.group for s in v} for k, v in data.splits.items()}
    assert all(g is not None for gs in groups.values() for g in gs)  # TTTTT_VVVVV names carry the track
    names = list(groups)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not groups[a] & groups[b], (a, b)
    test_bytes = {s.path.read_bytes() for s in data.splits["test"]}
    assert not test_bytes & {s.path.read_bytes() for s in data.splits["calib"]}
    # what progress bars count to: every image written, the background class included
    assert sum(len(v) for v in data.splits.values()) == RoadSignConfig(**SMALL).num_images()


def test_same_seed_same_bytes_whatever_the_workers(small_set, tmp_path):
    one = tmp_path / "one"
    m = generate_roadsigns(one, RoadSignConfig(**SMALL, workers=1))
    assert _files(one) == _files(small_set)
    other = generate_roadsigns(tmp_path / "seed1", RoadSignConfig(**{**SMALL, "classes": ("stop",)}, seed=1, workers=1))
    assert other["content_sha256"] != m["content_sha256"]


def test_a_class_subset_draws_the_same_signs(small_set, tmp_path):
    sub = tmp_path / "sub"
    generate_roadsigns(sub, RoadSignConfig(**{**SMALL, "classes": ("keep_right",)}, workers=1))
    a = {k: v for k, v in _files(sub).items() if "/keep_right/" in k}
    b = {k: v for k, v in _files(small_set).items() if "/keep_right/" in k}
    assert a and a == b


def test_background_zero_gives_the_sign_classes_alone_and_the_same_signs(small_set, tmp_path):
    out = tmp_path / "nobg"
    m = generate_roadsigns(out, RoadSignConfig(**SMALL, background=0, workers=1))
    assert m["classes"] == list(SMALL["classes"]) == (out / "labels.txt").read_text().split()
    assert m["background"] is None and not list(out.glob("*/background"))
    assert _files(out).keys() <= _files(small_set).keys()
    signs = {k: v for k, v in _files(out).items() if k.endswith(".png")}
    assert signs == {k: v for k, v in _files(small_set).items() if k in signs}  # the background adds, never changes


def test_background_kinds_and_size(tmp_path):
    m = generate_roadsigns(tmp_path / "b", RoadSignConfig(**{**SMALL, "classes": ("stop",)}, background=60, workers=1))
    assert m["background"]["images"] == 60 == sum(s["per_class"]["background"] for s in m["splits"].values())
    kinds = m["background"]["kinds"]
    assert all(kinds[k] > 0 for k in ("proposal", "thing", "sign_part", "photo")), kinds
    with pytest.raises(DataError, match="--background 3 is too few"):
        generate_roadsigns(tmp_path / "c", RoadSignConfig(**SMALL, background=3))


def test_images_are_photographs_not_flat_backgrounds(small_set):
    borders = []
    for p in sorted((small_set / "train" / "stop").iterdir()):
        img = cv2.imread(str(p)).astype(np.float32)
        borders.append(np.concatenate([img[:3].reshape(-1, 3), img[-3:].reshape(-1, 3)]).std(0).max())
    assert np.median(borders) > 8


def test_mirror_pairs_and_every_class_distinct():
    left, _ = draw_sign("keep_left", 96)
    right, _ = draw_sign("keep_right", 96)
    assert np.array_equal(left, right[:, ::-1])
    assert len(SIGN_CLASSES) >= 24
    drawn = {name: draw_sign(name, 64)[0].astype(np.int16) for name in SIGN_CLASSES}
    for i, a in enumerate(SIGN_CLASSES):
        for b in SIGN_CLASSES[i + 1:]:
            assert np.abs(drawn[a] - drawn[b]).mean() > 2, (a, b)


def test_gtsrb_format_is_read_by_the_gtsrb_reader(tmp_path):
    out = tmp_path / "g"
    generate_roadsigns(out, RoadSignConfig(**SMALL, format="gtsrb", workers=1))
    assert (out / "train" / "00000" / "GT-00000.csv").is_file()
    assert (out / "test" / "GT-final_test.csv").is_file()
    data = gtsrb.load_gtsrb(out, val_fraction=0.2, seed=0)
    assert data.layout == "gtsrb" and data.classes == [*SMALL["classes"], "background"]  # one more class
    assert (out / "train" / "00003" / "GT-00003.csv").is_file()
    assert any(s.label == 3 for s in data.splits["test"])
    assert set(data.splits) == {"train", "val", "test", "calib"}
    s = data.splits["test"][0]
    h, w = cv2.imread(str(s.path)).shape[:2]
    x1, y1, x2, y2 = s.roi
    assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h and (x2 - x1) > w / 2  # the sign fills most of the crop


@pytest.mark.parametrize("kw, msg", [
    (dict(classes=("stop", "speed_limit_90")), "unknown road-sign class 'speed_limit_90'"),
    (dict(per_class=6, views_per_track=2), "too few to fill train/val/test/calib"),
])
def test_bad_config_is_a_one_line_error(tmp_path, kw, msg):
    with pytest.raises(DataError, match=msg) as e:
        generate_roadsigns(tmp_path / "x", RoadSignConfig(**{**SMALL, **kw}))
    assert "\n" not in str(e.value)
    assert not (tmp_path / "x").exists()


def test_non_empty_output_needs_overwrite(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    cfg = RoadSignConfig(**{**SMALL, "classes": ("stop",)}, workers=1)
    with pytest.raises(DataError, match="--overwrite"):
        generate_roadsigns(out, cfg)
    assert (out / "keep.txt").read_text() == "mine"
    generate_roadsigns(out, cfg, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "manifest.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["o"]  # no partial or old folders left behind
