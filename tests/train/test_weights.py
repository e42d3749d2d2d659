"""Pretrained weights: found offline, verified, loaded strictly, and a clear error when missing."""

from __future__ import annotations

import pytest
import torch

from edgetl import backbones, weights
from edgetl.errors import WeightsError

MNV2 = backbones.get_spec("mobilenet_v2")


def test_mobilenet_v2_weights_come_from_the_pip_package_verified():
    state, info = weights.resolve(MNV2, None, allow_download=False)
    assert info.source == "pip-package"
    assert info.sha256 == "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
    model = backbones.build_model(MNV2, 5)
    weights.load_into(model, state, MNV2, "pkg")
    assert torch.equal(model.features[0][0].weight, state["features.0.0.weight"])


def test_torch_cache_wins_and_a_tampered_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = weights.torch_cache_dir()
    cache.mkdir(parents=True)
    target = cache / MNV2.weights_filename()
    good = weights.offline_package_file(MNV2.packaged)
    target.write_bytes(good.read_bytes())
    _, info = weights.resolve(MNV2, None, allow_download=False)
    assert info.source == "torch-cache"
    target.write_bytes(good.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(WeightsError, match="does not match"):
        weights.resolve(MNV2, None, allow_download=False)


def test_missing_weights_error_lists_what_was_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    spec = backbones.get_spec("resnet18")
    with pytest.raises(WeightsError) as e:
        weights.resolve(spec, None, allow_download=False)
    msg = str(e.value)
    assert "torchvision cache" in msg and "resnet18-f37072fd.pth" in msg and "--weights none" in msg
    assert "\n" not in msg


def test_explicit_weights_none_and_bad_paths(tmp_path, caplog):
    state, info = weights.resolve(MNV2, "none")
    assert state is None and info.source == "none"
    assert "RANDOM" in caplog.text
    with pytest.raises(WeightsError, match="no such file"):
        weights.resolve(MNV2, str(tmp_path / "missing.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="cannot read weights"):
        weights.resolve(MNV2, str(junk))


@pytest.mark.parametrize("name", backbones.names())
def test_every_backbone_gets_a_head_and_freezes_by_stage(name):
    spec = backbones.get_spec(name)
    model = backbones.build_model(spec, 7)
    frozen = backbones.FrozenStages(model, spec, 2)
    table = backbones.parameter_table(model, spec)
    assert [r["trainable"] for r in table[:2]] == [0, 0] and table[2]["trainable"] == table[2]["total"] > 0
    assert sum(r["total"] for r in table) == sum(p.numel() for p in model.parameters())
    frozen.train(model)
    assert all(not m.training for m in frozen.modules) and model.get_submodule(spec.head).training
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 7)


def test_trainable_batchnorm_gets_a_fine_tuning_momentum_and_frozen_keeps_its_own():
    spec = backbones.get_spec("mobilenet_v3_small")
    model = backbones.build_model(spec, 3)
    frozen = backbones.FrozenStages(model, spec, 2)
    assert backbones.speed_up_batchnorm(model, frozen) > 0
    frozen_bns = [m for top in frozen.modules for m in top.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    later = [m for m in model.features[5].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert frozen_bns and all(m.momentum == 0.01 for m in frozen_bns)
    assert later and all(m.momentum == 0.1 for m in later)
