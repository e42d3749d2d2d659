"""Deploy-side preprocessing (Runner.preprocess on OpenCV BGR frames) against an independent
torchvision reference of the eval transform, and predict() against infer() on the reference tensors;
the resize filter is the one the model records."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from edgetl.preprocess import read_image
from edgetl.runtime import open_runner
from edgetl.spec import Preprocess

ONE_STEP = 1.0 + 1e-3  # one uint8 step after normalisation, plus float32 rounding


def torchvision_eval(frame_bgr: np.ndarray, p: Preprocess) -> np.ndarray:
    """The eval transform in torchvision: RGB, antialiased resize, centre crop, to float, normalise."""
    rgb = torch.from_numpy(np.ascontiguousarray(frame_bgr[..., ::-1])).permute(2, 0, 1)
    resize = (p.resize, p.resize) if p.resize_mode == "stretch" else p.resize
    t = v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(p.resize), v2.CenterCrop(p.size),
                    v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(p.mean), list(p.std))])
    return t(rgb).numpy()


def steps(a: np.ndarray, b: np.ndarray, p: Preprocess) -> np.ndarray:
    """|a - b| in quantisation steps of each channel (1/255/std)."""
    return np.abs(a - b) * 255 * np.asarray(p.std, np.float32)[:, None, None]


def val_frames(data, labels):
    paths, truth = [], []
    for i, name in enumerate(labels):
        for path in sorted((data / "val" / name).iterdir()):
            paths.append(path)
            truth.append(i)
    return paths, [read_image(p) for p in paths], truth


@pytest.mark.parametrize("artifact", ["tiny_model", "tiny_onnx"])
def test_predict_matches_torchvision_eval_on_val_split(artifact, request, tiny_data):
    with open_runner(request.getfixturevalue(artifact)) as r:
        p = r.info.preprocess
        paths, frames, truth = val_frames(tiny_data, r.info.labels)
        x = r.preprocess(frames)
        ref = np.stack([torchvision_eval(f, p) for f in frames])
        assert x.shape == ref.shape == (len(frames), 3, p.size, p.size) and x.dtype == np.float32
        assert steps(x, ref, p).max() <= ONE_STEP
        preds = r.predict(frames)
        assert [q.index for q in preds] == list(r.infer(ref).argmax(1))
        assert [q.index for q in r.predict(paths)] == [q.index for q in preds]
        assert np.mean([q.index == t for q, t in zip(preds, truth)]) >= 0.8  # the model recognises them


@pytest.mark.parametrize("shape", [(16, 16), (20, 24), (24, 31)])
def test_upscaled_frames_match_torchvision_within_one_step(tiny_model, tiny_data, shape):
    with open_runner(tiny_model) as r:
        p = r.info.preprocess
        _, frames, _ = val_frames(tiny_data, r.info.labels)
        small = [cv2.resize(f, shape[::-1], interpolation=cv2.INTER_AREA) for f in frames]
        ref = np.stack([torchvision_eval(f, p) for f in small])
        assert steps(r.preprocess(small), ref, p).max() <= ONE_STEP
        assert [q.index for q in r.predict(small)] == list(r.infer(ref).argmax(1))


def area_reference(frame_bgr: np.ndarray, p: Preprocess) -> np.ndarray:
    """Box-filter downscaling (torch 'area' interpolation, exact for whole-number factors), rounded to uint8."""
    rgb = torch.from_numpy(np.ascontiguousarray(frame_bgr[..., ::-1])).permute(2, 0, 1)[None].float()
    u8 = F.interpolate(rgb, size=(p.resize, p.resize), mode="area").round() / 255
    return v2.Normalize(list(p.mean), list(p.std))(u8[0]).numpy()


@pytest.mark.parametrize("shape", [(64, 64), (480, 640)])
def test_downscaled_frames_are_box_filtered(tiny_model, tiny_data, shape):
    """Downscaling is OpenCV INTER_AREA, a box filter: equal to area interpolation within one step.
    (torchvision's antialiased bilinear is a wider triangle filter and differs at edges; see README.)"""
    with open_runner(tiny_model) as r:
        p = r.info.preprocess
        _, frames, _ = val_frames(tiny_data, r.info.labels)
        big = [cv2.resize(f, shape[::-1], interpolation=cv2.INTER_NEAREST) for f in frames]
        ref = np.stack([area_reference(f, p) for f in big])
        assert steps(r.preprocess(big), ref, p).max() <= ONE_STEP
        assert [q.index for q in r.predict(big)] == list(r.infer(ref).argmax(1))


def bilinear_reference(frame_bgr: np.ndarray, p: Preprocess) -> np.ndarray:
    """Plain bilinear resizing (torch, no antialiasing), rounded to uint8."""
    rgb = torch.from_numpy(np.ascontiguousarray(frame_bgr[..., ::-1])).permute(2, 0, 1)[None].float()
    u8 = F.interpolate(rgb, size=(p.resize, p.resize), mode="bilinear", antialias=False).round() / 255
    return v2.Normalize(list(p.mean), list(p.std))(u8[0]).numpy()


def with_interpolation(src, dst, interpolation: str | None):
    """A copy of the ONNX ``src`` recording ``interpolation``; None: as written before it was recorded."""
    import onnx

    proto = onnx.load(str(src))
    props = {q.key: q.value for q in proto.metadata_props}
    doc = json.loads(props["edgetl"])
    if interpolation is None:
        del doc["preprocess"]["interpolation"]
        del props["interpolation"]
    else:
        doc["preprocess"]["interpolation"] = props["interpolation"] = interpolation
    props["edgetl"] = json.dumps(doc)
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(dst))
    return dst


def test_resize_filter_is_the_models_and_older_models_keep_the_area_rule(tiny_onnx, tmp_path):
    old = with_interpolation(tiny_onnx, tmp_path / "old.onnx", None)
    linear = with_interpolation(tiny_onnx, tmp_path / "linear.onnx", "linear")
    with open_runner(old) as r:
        p = r.info.preprocess
        rng = np.random.default_rng(0)
        big = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(4)]  # fine detail to filter
        assert p.interpolation == "area"
        area = r.preprocess(big)
    assert steps(area, np.stack([area_reference(f, p) for f in big]), p).max() <= ONE_STEP
    with open_runner(linear) as r:
        assert r.info.preprocess.interpolation == "linear"
        bilinear = r.preprocess(big)
    assert steps(bilinear, np.stack([bilinear_reference(f, p) for f in big]), p).max() <= ONE_STEP
    assert steps(bilinear, area, p).max() > 10 * ONE_STEP  # the recorded filter, not a fixed one, was used
