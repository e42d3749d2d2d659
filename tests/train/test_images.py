"""Training evaluates on exactly the tensors a deployed model is fed: the images training decodes, centre
cropped and normalised by its eval path, equal what the ONNX runner computes from the image files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgetl.checkpoint import load_model
from edgetl.data.layouts import load_dataset
from edgetl.export.onnx_export import export_onnx
from edgetl.preprocess import preprocess_paths, read_image
from edgetl.runtime import open_runner
from edgetl.spec import Preprocess
from edgetl.train.finetune import FinetuneConfig, Dist, Trainer
from edgetl.train.images import decode_split, eval_batch


@pytest.mark.parametrize("image_size", [None, 24])  # enlarge 32 -> 256 and crop 224; shrink 32 -> 24
def test_training_eval_and_the_onnx_runner_feed_the_model_the_same_tensor(tiny_data, tiny_model, tmp_path, image_size):
    data = load_dataset(tiny_data)
    cfg = FinetuneConfig(data=str(tiny_data), out=str(tmp_path / "run"), backbone="mobilenet_v3_small",
                         weights="none", image_size=image_size, workers=0)
    tr = Trainer(cfg, Dist(), torch.device("cpu"), data)
    samples = data.splits["val"]
    trained_on = tr.eval_input(decode_split(samples, tr.pre, threads=1).images)

    model, info = load_model(tiny_model)
    onnx = export_onnx(model, info.replace(preprocess=tr.pre), tmp_path / "model.onnx")
    with open_runner(onnx) as r:
        assert r.info.preprocess == tr.pre
        deployed = r.preprocess([read_image(s.path) for s in samples])
    assert trained_on.shape == deployed.shape == (len(samples), 3, tr.pre.size, tr.pre.size)
    assert float(np.abs(trained_on.numpy() - deployed).max()) == 0.0


@pytest.mark.parametrize("pre", [
    Preprocess(size=20, resize=26, interpolation="area"),
    Preprocess(size=36, resize=40, resize_mode="shorter", interpolation="cubic", color="BGR"),
    Preprocess(size=28, resize=28, interpolation="linear", mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0)),
])
def test_eval_batch_is_deploy_preprocessing_for_any_recipe(tiny_data, pre):
    paths = sorted((tiny_data / "val").rglob("*.png"))
    samples = load_dataset(tiny_data).splits["val"]
    by_path = {s.path: s for s in samples}
    split = decode_split([by_path[p] for p in paths], pre, threads=1)
    assert np.array_equal(eval_batch(split.images, pre).numpy(), preprocess_paths(paths, pre))
