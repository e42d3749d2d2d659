"""edgetl finetune as a user runs it: outputs, resume, freezing, cached features, early stopping."""

from __future__ import annotations

import json

import pytest
import torch

from edgetl import backbones, checkpoint
from edgetl.errors import EdgetlError
from edgetl.runtime import open_runner
from edgetl.train.finetune import Callbacks, FinetuneConfig, finetune

FAST = dict(backbone="mobilenet_v3_small", weights="none", image_size=32, batch_size=12, lr=3e-3, workers=0)


def _cfg(data, out, **kw):
    return FinetuneConfig(data=str(data), out=str(out), **{**FAST, **kw})


def test_pretrained_mobilenet_v2_run_writes_every_artifact(tiny_data, tmp_path):
    run = tmp_path / "run"
    cfg = FinetuneConfig(data=str(tiny_data), out=str(run), image_size=32, batch_size=6, epochs=6, workers=0)
    result = finetune(cfg)
    for name in ("model.pt", "checkpoint.pt", "metrics.json", "confusion.png", "labels.txt", "config.json", "train.log"):
        assert (run / name).is_file(), name
    m = json.loads((run / "metrics.json").read_text())
    assert m["complete"] and len(m["epochs"]) == 6
    assert 0.0 <= m["test_top1"] <= 1.0 and m["test_top1"] >= 0.8  # easy shapes, ImageNet features
    assert set(m["per_class"]) == {"circle_red", "square_green", "triangle_blue"}
    assert (run / "labels.txt").read_text().split() == ["circle_red", "square_green", "triangle_blue"]
    raw = checkpoint.read_model_file(run / "model.pt")
    assert raw["info"]["extra"]["weights_source"] == "pip-package"
    assert raw["info"]["extra"]["weights_sha256"].startswith("b0353104")
    assert raw["info"]["preprocess"]["size"] == 32
    # the artifact is self-describing: a runner needs nothing else
    with open_runner(run / "model.pt") as r:
        assert r.info.labels == ("circle_red", "square_green", "triangle_blue")
    assert result.parameters[0]["trainable"] == 0  # stage 0 frozen by --freeze auto


def test_frozen_stages_keep_weights_and_batchnorm_statistics(tiny_data, tmp_path):
    run = tmp_path / "run"
    finetune(_cfg(tiny_data, run, backbone="mobilenet_v2", weights=None, freeze="3", epochs=1))
    spec = backbones.get_spec("mobilenet_v2")
    from edgetl.weights import resolve

    imagenet, _ = resolve(spec, None)
    trained = checkpoint.read_model_file(run / "model.pt")["state_dict"]
    frozen_prefixes = [p + "." for stage in spec.stages[:3] for p in stage]
    later = [p + "." for p in spec.stages[5]]
    frozen_keys = [k for k in trained if any(k.startswith(p) for p in frozen_prefixes)]
    assert any("running_mean" in k for k in frozen_keys)
    for k in frozen_keys:
        assert torch.equal(trained[k], imagenet[k]), k
    assert any(not torch.equal(trained[k], imagenet[k]) for k in trained if any(k.startswith(p) for p in later))


class _InterruptAfter(Callbacks):
    """Acts like Ctrl-C arriving right after the given epoch."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_end(self, record: dict) -> None:
        if record["epoch"] == self.epoch:
            raise KeyboardInterrupt


def test_interrupted_then_resumed_run_ends_with_same_weights(tiny_data, tmp_path):
    full = tmp_path / "full"
    finetune(_cfg(tiny_data, full, epochs=2, seed=3))
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        finetune(_cfg(tiny_data, part, epochs=2, seed=3), _InterruptAfter(1))
    first = json.loads((part / "metrics.json").read_text())
    assert len(first["epochs"]) == 1 and not first["complete"]
    checkpoint.load_model(part / "model.pt")  # the last complete epoch is usable as it is
    finetune(FinetuneConfig(data=str(tiny_data), out=str(part), epochs=0), resume=True)
    a = checkpoint.load_train_state(full / "checkpoint.pt")["model"]
    b = checkpoint.load_train_state(part / "checkpoint.pt")["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert json.loads((part / "metrics.json").read_text())["complete"]


def test_refuses_to_overwrite_a_trained_run(tiny_data, tmp_path):
    run = tmp_path / "run"
    finetune(_cfg(tiny_data, run, epochs=1))
    before = (run / "model.pt").read_bytes()
    with pytest.raises(EdgetlError, match="--resume"):
        finetune(_cfg(tiny_data, run, epochs=1))
    assert (run / "model.pt").read_bytes() == before


def test_cache_features_trains_only_the_head(tiny_data, tmp_path):
    with pytest.raises(EdgetlError, match="--freeze all"):
        finetune(_cfg(tiny_data, tmp_path / "x", cache_features=True, epochs=1))
    run = tmp_path / "cached"
    finetune(_cfg(tiny_data, run, backbone="mobilenet_v2", weights=None, freeze="all", cache_features=True, epochs=3,
                  lr=1e-2))
    m = json.loads((run / "metrics.json").read_text())
    assert m["test_top1"] >= 0.8


class _Snapshot(Callbacks):
    """Reads stage-0 weights from the checkpoint written at the end of each epoch."""

    def __init__(self, run):
        self.run, self.stage0 = run, {}

    def on_epoch_end(self, record: dict) -> None:
        state = checkpoint.load_train_state(self.run / "checkpoint.pt")["model"]
        self.stage0[record["epoch"]] = state["features.0.0.weight"].clone()


def test_unfreeze_at_trains_early_stages_from_that_epoch(tiny_data, tmp_path):
    run = tmp_path / "run"
    snap = _Snapshot(run)
    finetune(_cfg(tiny_data, run, backbone="mobilenet_v2", weights=None, freeze="all", unfreeze_at=2, epochs=2), snap)
    from edgetl.weights import resolve

    start = resolve(backbones.get_spec("mobilenet_v2"), None)[0]["features.0.0.weight"]
    assert torch.equal(snap.stage0[1], start)  # frozen during epoch 1
    assert not torch.equal(snap.stage0[2], start)  # trained from epoch 2
    assert checkpoint.load_train_state(run / "checkpoint.pt")["frozen_stages"] == 0


def test_patience_stops_early(tiny_data, tmp_path):
    run = tmp_path / "run"
    result = finetune(_cfg(tiny_data, run, epochs=8, patience=1, lr=1e-6))
    assert result.stopped_early
    assert len(result.metrics["epochs"]) < 8


def test_single_tree_is_split_stratified(tmp_path):
    from helpers import make_image_tree

    root = make_image_tree(tmp_path / "flat", ["a", "b"], 20)
    run = tmp_path / "run"
    finetune(_cfg(root, run, epochs=1, val_fraction=0.25))
    m = json.loads((run / "metrics.json").read_text())
    assert m["evaluated_on"] == "val"
    assert m["per_class"]["a"]["support"] == 5 and m["per_class"]["b"]["support"] == 5

