"""Deploy-side preprocessing: the resize filter each interpolation name selects, centre crops of single
images and batches, and the torch twin of ``normalize`` that training evaluates with."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from edgetl.preprocess import (center_crop, normalize, normalize_tensor, prepare_uint8, resize_square,
                               standardize_tensor, unit_tensor)
from edgetl.spec import INTERPOLATIONS, Preprocess

# What each name means, written out independently of edgetl.preprocess: (shrinking, enlarging)
MEANING = {"area": (cv2.INTER_AREA, cv2.INTER_LINEAR), "linear": (cv2.INTER_LINEAR, cv2.INTER_LINEAR),
           "cubic": (cv2.INTER_CUBIC, cv2.INTER_CUBIC)}


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", INTERPOLATIONS)
def test_each_interpolation_name_selects_its_filter_when_shrinking_and_enlarging(name):
    shrink, enlarge = MEANING[name]
    p = Preprocess(size=20, resize=24, interpolation=name)
    big, small = _image(61, 61), _image(13, 13)
    assert np.array_equal(resize_square(big, p), cv2.resize(big, (24, 24), interpolation=shrink))
    assert np.array_equal(resize_square(small, p), cv2.resize(small, (24, 24), interpolation=enlarge))
    wide = _image(40, 90)
    shorter = Preprocess(size=20, resize=24, resize_mode="shorter", interpolation=name)
    want = cv2.resize(wide, (54, 24), interpolation=shrink)[:, 15:39]
    assert np.array_equal(resize_square(wide, shorter), want)


def test_the_default_is_the_area_rule_and_the_names_give_different_pixels():
    big = _image(61, 61)
    assert Preprocess().interpolation == "area"
    out = {n: prepare_uint8(big, Preprocess(size=20, resize=24, interpolation=n)) for n in INTERPOLATIONS}
    assert len({o.tobytes() for o in out.values()}) == len(INTERPOLATIONS)


def test_center_crop_of_a_batch_is_the_crop_of_each_image_for_numpy_and_torch():
    batch = np.stack([_image(30, 26, seed=i) for i in range(3)])
    crops = center_crop(batch, 20)
    assert crops.shape == (3, 20, 20, 3)
    for img, crop in zip(batch, crops):
        assert np.array_equal(center_crop(img, 20), crop) and np.array_equal(crop, img[5:25, 3:23])
    assert np.array_equal(center_crop(torch.from_numpy(batch), 20).numpy(), crops)


@pytest.mark.parametrize("mean, std", [((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), ((0.5,) * 3, (0.5,) * 3),
                                       ((0.0,) * 3, (1.0,) * 3)])
def test_torch_twin_equals_normalize_element_for_element(mean, std):
    p = Preprocess(size=16, resize=16, mean=mean, std=std)
    batch = np.random.default_rng(1).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    batch[0] = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)  # every byte value once
    want = normalize(batch, p)
    got = normalize_tensor(torch.from_numpy(batch), p)
    assert got.dtype == torch.float32 and got.shape == want.shape
    assert np.array_equal(got.numpy(), want)
    assert np.array_equal(standardize_tensor(unit_tensor(torch.from_numpy(batch)), p).numpy(), want)
