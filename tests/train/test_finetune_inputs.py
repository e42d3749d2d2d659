"""Bad input to finetune: each gets a one-line error or a logged skip, and nothing written is lost."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from edgetl import backbones
from edgetl.data.layouts import load_dataset
from edgetl.errors import DataError, EdgetlError, WeightsError
from edgetl.train import images
from edgetl.train.finetune import FinetuneConfig, finetune
from edgetl.train.qat import train_prepared

FAST = dict(backbone="mobilenet_v3_small", weights="none", image_size=32, batch_size=12, workers=0, epochs=1)


def _copy(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    return root


def _run(root, tmp_path, **kw):
    return finetune(FinetuneConfig(data=str(root), out=str(tmp_path / "run"), **{**FAST, **kw}))


def test_corrupt_images_are_skipped_counted_and_logged(tiny_data, tmp_path):
    root = _copy(tiny_data, tmp_path)
    bad = root / "train" / "circle_red" / "0000.png"
    bad.write_bytes(b"not an image at all")
    _run(root, tmp_path, max_bad_fraction=0.1)
    log = (tmp_path / "run" / "train.log").read_text()
    assert "skipped 1 of 36 images" in log and str(bad) in log


def test_too_many_corrupt_images_stop_the_run(tiny_data, tmp_path):
    root = _copy(tiny_data, tmp_path)
    for p in list((root / "train" / "circle_red").iterdir())[:6]:
        p.write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="6 of 36 images are unreadable"):
        _run(root, tmp_path)


def test_a_corrupt_image_in_a_streamed_train_split_is_skipped_counted_and_logged_once(tiny_data, tmp_path,
                                                                                      monkeypatch):
    """A train split too big for memory is decoded batch by batch: an unreadable image leaves its batch with
    its label (the loss saw 11 images and 12 labels before), is logged once over both epochs, and counts
    toward --max-bad-fraction as it would in memory."""
    monkeypatch.setattr(images, "MEMORY_BUDGET", 0)
    root = _copy(tiny_data, tmp_path)
    bad = root / "train" / "circle_red" / "0000.png"
    bad.write_bytes(b"not an image at all")
    _run(root, tmp_path, epochs=2, max_bad_fraction=0.1)
    log = (tmp_path / "run" / "train.log").read_text()
    assert "decoding on the fly" in log
    assert log.count("skipped unreadable image") == 1 and f"skipped unreadable image in train: {bad}" in log
    for p in list((root / "train" / "square_green").iterdir())[:5]:
        p.write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match=r"train: 2 of 36 images are unreadable \(more than 5%\)"):
        _run(root, tmp_path / "b")


def _manifest(tiny_data, path, missing: int):
    """A manifest of tiny_data's train and val images plus ``missing`` train rows whose files do not exist."""
    rows = ["path,label,split"] + [f"{img},{img.parent.name},{split}" for split in ("train", "val")
                                   for img in sorted((tiny_data / split).rglob("*.png"))]
    gone = [f"{tiny_data}/train/circle_red/99{i:02d}.png,circle_red,train" for i in range(missing)]
    path.write_text("\n".join(rows + gone) + "\n")
    return path


def test_rows_listed_wrongly_count_like_unreadable_images(tiny_data, tmp_path):
    """A manifest row whose image is missing is skipped, logged with its line, and counts toward the limit."""
    manifest = _manifest(tiny_data, tmp_path / "labels.csv", missing=1)
    _run(manifest, tmp_path, max_bad_fraction=0.1)
    log = (tmp_path / "run" / "train.log").read_text()
    assert f"skipped row in train: {manifest} line 56: image file missing" in log
    assert "train: skipped 1 of 37 rows" in log
    _manifest(tiny_data, manifest, missing=6)
    with pytest.raises(DataError, match="train: 6 of 42 images could not be used"):
        _run(manifest, tmp_path / "b")


def test_quantization_aware_training_counts_rows_listed_wrongly_as_finetune_does(tiny_data, tmp_path):
    """QAT decodes the run's data as finetune does: skipped rows count toward the limit before any training."""
    manifest = _manifest(tiny_data, tmp_path / "labels.csv", missing=6)
    recipe = FinetuneConfig(data=str(manifest), out=str(tmp_path / "qat"), **FAST)
    pre = backbones.get_spec(recipe.backbone).default_preprocess(recipe.image_size)
    with pytest.raises(DataError, match="train: 6 of 42 images could not be used"):
        train_prepared(torch.nn.Linear(1, 1), recipe, load_dataset(manifest), pre)  # refused before the model is used


def test_empty_class_folder(tiny_data, tmp_path):
    root = _copy(tiny_data, tmp_path)
    (root / "train" / "empty_class").mkdir()
    with pytest.raises(DataError, match="empty_class is empty"):
        _run(root, tmp_path)


def test_val_class_unknown_to_train(tiny_data, tmp_path):
    root = _copy(tiny_data, tmp_path)
    shutil.copytree(root / "val" / "circle_red", root / "val" / "hexagon")
    with pytest.raises(DataError, match="hexagon"):
        _run(root, tmp_path)


def test_missing_val_split_is_held_out_from_train(tiny_data, tmp_path):
    root = _copy(tiny_data, tmp_path)
    shutil.rmtree(root / "val")
    result = _run(root, tmp_path, val_fraction=0.25)
    assert any("no val/" in n for n in result.notes)
    with pytest.raises(DataError, match="no val/"):
        _run(root, tmp_path / "b", val_fraction=0.0)


def test_non_image_tree(tmp_path):
    root = tmp_path / "docs"
    (root / "a").mkdir(parents=True)
    (root / "a" / "readme.txt").write_text("hello")
    with pytest.raises(DataError, match="is empty"):
        _run(root, tmp_path)
    with pytest.raises(DataError, match="no such data folder"):
        _run(tmp_path / "nowhere", tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folder(tiny_data, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(EdgetlError, match="cannot write"):
        finetune(FinetuneConfig(data=str(tiny_data), out=str(ro / "run"), **FAST))


def test_output_that_is_a_file(tiny_data, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(EdgetlError, match="not a folder"):
        finetune(FinetuneConfig(data=str(tiny_data), out=str(f), **FAST))


def test_weights_for_another_architecture(tiny_data, tmp_path):
    import torch

    from edgetl import backbones

    other = tmp_path / "resnet.pth"
    torch.save(backbones.build_model(backbones.get_spec("resnet18")).state_dict(), other)
    with pytest.raises(WeightsError, match="are not mobilenet_v3_small weights"):
        _run(tiny_data, tmp_path, weights=str(other))
    assert not (tmp_path / "run" / "model.pt").exists()


def test_bad_freeze_value(tiny_data, tmp_path):
    with pytest.raises(EdgetlError, match="has 6 stages"):
        _run(tiny_data, tmp_path, freeze="9")


def test_metrics_are_fractions(tiny_data, tmp_path):
    _run(tiny_data, tmp_path)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert all(0 <= e["val_top1"] <= 1 for e in m["epochs"]) and 0 <= m["test_top1"] <= 1


def test_output_folder_that_cannot_be_created(tiny_data):
    with pytest.raises(EdgetlError, match="cannot write to the output folder"):
        finetune(FinetuneConfig(data=str(tiny_data), out="/dev/null/run", **FAST))
