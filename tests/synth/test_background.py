"""The background class: crops that hold no sign, framed like proposals, with the proposer's hard cases."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgetl.proposals import SIGN_FILL, SignProposer, pad_to_crops
from edgetl.synth.background import KINDS, PART_MAX, SCENE_SIZE, candidates, pick, render_background, render_scene
from edgetl.synth.scene import DATA_SHARE, backgrounds, data_photos, video_photos

CLASSES = ("stop", "yield", "ahead_only", "speed_limit_50", "priority_road")


@pytest.fixture(scope="module")
def scenes():
    out = []
    for t in range(14):
        rng = np.random.default_rng([3, 1000, t])
        scene = render_scene(rng, CLASSES)
        out.append((scene, {k: candidates(scene, k, rng) for k in KINDS}, pick(scene, rng, 6)))
    return out


def _quad_share(quad: np.ndarray, crop) -> float:
    """The share of a sign's outline inside a crop, counted in pixels (independent of the generator's geometry)."""
    w, h = SCENE_SIZE
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 1)
    x1, y1, x2, y2 = crop
    return mask[y1:y2, x1:x2].sum() / max(1, mask.sum())


def test_no_background_crop_holds_more_than_a_part_of_a_sign(scenes):
    checked = 0
    for scene, pools, chosen in scenes:
        for cand in [c for pool in pools.values() for c in pool] + chosen:
            for sign in scene.signs:
                assert _quad_share(sign.quad, cand.crop) <= PART_MAX + 0.02, (cand, sign.label)
                checked += 1
    assert checked > 50  # scenes with signs were there to be checked
    parts = [c for _, pools, _ in scenes for c in pools["sign_part"]]
    assert parts and all(scene_share > 0 for scene_share in
                         [s.sign_share(c.crop) for s, pools, _ in scenes for c in pools["sign_part"]])


def test_the_proposers_hard_cases_are_among_them(scenes):
    proposer = SignProposer()
    mined = 0
    on_things = 0
    for scene, pools, _ in scenes:
        found = {tuple(int(v) for v in c) for c in proposer.locate(scene.canvas).crops}
        for cand in pools["proposal"]:
            assert cand.crop in found  # exactly the crop the camera loop's proposer gives its classifier
            mined += 1
            on_things += any(_overlaps(cand.box, box) for _, box, _ in scene.things)
    assert mined >= 10 and on_things >= 3  # red and blue things that are not signs get proposed


def _overlaps(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def test_crops_are_framed_like_proposals(scenes):
    w, h = SCENE_SIZE
    for _, pools, _ in scenes:
        for cand in pools["thing"] + pools["proposal"]:
            expected = pad_to_crops(np.asarray([cand.box]), w, h)[0]
            assert tuple(int(v) for v in expected) == cand.crop


def test_views_go_through_the_camera_and_keep_their_box():
    views = render_background(0, 5, 6, CLASSES, (48, 64), False, 1000)
    assert len(views) == 6 and {v.kind for v in views} <= set(KINDS)
    for v in views:
        assert 48 <= v.image.shape[0] == v.image.shape[1] <= 64 and v.image.dtype == np.uint8
        x1, y1, x2, y2 = v.box
        assert 0 <= x1 < x2 <= v.image.shape[1] and 0 <= y1 < y2 <= v.image.shape[0]
        assert v.sign_share <= PART_MAX
    framed = [v for v in views if v.kind in ("proposal", "thing") and v.crop[2] - v.crop[0] < SCENE_SIZE[1]]
    for v in framed:  # the object fills about SIGN_FILL of the crop (less where the crop met the frame's edge)
        side = max(v.box[2] - v.box[0], v.box[3] - v.box[1]) / v.image.shape[0]
        assert side <= SIGN_FILL + 0.1
    again = render_background(0, 5, 6, CLASSES, (48, 64), False, 1000)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(views, again))


def test_data_and_video_use_disjoint_parts_of_the_photos():
    whole = dict(backgrounds())
    video = dict(video_photos())
    assert video and set(video) < set(whole)
    for name, img in data_photos():
        if name in video:
            cut = int(whole[name].shape[1] * DATA_SHARE)
            assert img.shape[1] == cut and video[name].shape[1] == whole[name].shape[1] - cut
            assert np.array_equal(np.hstack([img, video[name]]), whole[name])

