"""The locate stage: sign proposals on frames drawn with OpenCV, the frame locator, windows, batching."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgetl.camera.classify import infer_crops
from edgetl.camera.locate import (DEFAULT_LOCATOR, LOCATORS, batch_chunks, crop_batch, infer_batch, locator_options,
                                  make_locator)
from edgetl.proposals import (FrameLocator, Located, SignConfig, SignProposer, WindowConfig, WindowLocator, box_iou,
                              pad_to_crops, window_grid)
from edgetl.errors import EdgetlError
from edgetl.preprocess import crop_roi, preprocess_frames
from edgetl.runtime import Runner
from edgetl.spec import ModelInfo, Preprocess

W, H = 640, 360
RED, BLUE, YELLOW, WHITE, BLACK = (40, 30, 200), (165, 85, 15), (10, 195, 250), (245, 245, 245), (25, 25, 25)


def textured(seed: int = 0, w: int = W, h: int = H) -> np.ndarray:
    """A grey-green textured background with no sign colours: smoothed noise plus a gradient."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 3)
    base = 100 + 60 * noise / (noise.std() + 1e-6) + np.linspace(-20, 20, w)[None, :]
    img = np.stack([base * 0.9, base, base * 0.95], 2)
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_sign(img: np.ndarray, kind: str, x: int, y: int, size: int) -> tuple[int, int, int, int]:
    """Draw a sign of ``kind`` with its box's top-left at (x, y); return the box (x1, y1, x2, y2)."""
    s, c = size, (x + size / 2, y + size / 2)
    pts = lambda p: [np.round(np.asarray(p) * 16).astype(np.int32)]  # noqa: E731
    cc, r = (int(round(c[0] * 16)), int(round(c[1] * 16))), s / 2 - 0.5
    if kind == "red_circle":  # a speed limit: red ring, white inside, black digits
        cv2.circle(img, cc, int(r * 16), RED, -1, cv2.LINE_AA, 4)
        cv2.circle(img, cc, int(r * 0.8 * 16), WHITE, -1, cv2.LINE_AA, 4)
        cv2.putText(img, "50", (int(c[0] - s * 0.3), int(c[1] + s * 0.15)), cv2.FONT_HERSHEY_SIMPLEX,
                    s / 50, BLACK, max(1, s // 20), cv2.LINE_AA)
    elif kind == "blue_disc":  # a mandatory sign: blue disc, white arrow
        cv2.circle(img, cc, int(r * 16), BLUE, -1, cv2.LINE_AA, 4)
        cv2.arrowedLine(img, (int(c[0]), int(y + s * 0.8)), (int(c[0]), int(y + s * 0.2)), WHITE,
                        max(1, s // 10), cv2.LINE_AA, tipLength=0.4)
    elif kind == "yellow_diamond":  # priority road: white diamond, yellow diamond inside
        outer = [(c[0], y), (x + s, c[1]), (c[0], y + s), (x, c[1])]
        inner = [(c[0] + (p[0] - c[0]) * 0.72, c[1] + (p[1] - c[1]) * 0.72) for p in outer]
        cv2.fillPoly(img, pts(outer), WHITE, cv2.LINE_AA, 4)
        cv2.fillPoly(img, pts(inner), YELLOW, cv2.LINE_AA, 4)
    elif kind == "red_triangle":  # a warning: red border, white inside
        h = s * np.sqrt(3) / 2
        tri = np.array([(c[0], y), (x + s, y + h), (x, y + h)])
        cv2.fillPoly(img, pts(tri), RED, cv2.LINE_AA, 4)
        cv2.fillPoly(img, pts(tri.mean(0) + (tri - tri.mean(0)) * 0.6), WHITE, cv2.LINE_AA, 4)
        return x, y, x + s, int(np.ceil(y + h))
    else:
        raise ValueError(kind)
    return x, y, x + s, y + s


KINDS = ("red_circle", "blue_disc", "yellow_diamond", "red_triangle")


def best_iou(located: Located, box) -> float:
    return float(box_iou(located.boxes, np.array([box])).max()) if len(located) else 0.0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [22, 32, 64, 140])
def test_proposer_finds_each_sign_design_at_each_size(kind, size):
    img = textured(size)
    box = draw_sign(img, kind, 300 - size // 2, 150 - size // 3, size)
    located = SignProposer().locate(img)
    assert best_iou(located, box) >= 0.5, (located.boxes.tolist(), located.cues, box)
    i = int(np.argmax(box_iou(located.boxes, np.array([box]))[:, 0]))
    assert located.cues[i].split()[0] == kind.split("_")[0]


@pytest.mark.parametrize("squeeze, found", [(1.0, True), (1.5, True), (1.9, False)])
def test_a_sign_seen_at_an_angle_is_found_and_a_tall_strip_of_red_is_not(squeeze, found):
    """A red ring narrowed by yaw (1.5: about 48 degrees) is still a sign; narrowed to 1.9 it is the shape
    of the strips of red surfaces that came as false signs."""
    img = textured(3)
    h, w = 90, int(round(90 / squeeze))
    cv2.ellipse(img, (400, 300), (w // 2, h // 2), 0, 0, 360, RED, -1, cv2.LINE_AA)
    cv2.ellipse(img, (400, 300), (int(w * 0.4), int(h * 0.4)), 0, 0, 360, WHITE, -1, cv2.LINE_AA)
    box = (400 - w // 2, 300 - h // 2, 400 + w // 2, 300 + h // 2)
    assert (best_iou(SignProposer().locate(img), box) >= 0.5) is found


@pytest.mark.parametrize("corner", ["left", "top", "right", "bottom"])
def test_proposer_finds_a_sign_touching_the_frame_edge_and_keeps_its_crop_inside(corner):
    img, size = textured(3), 48
    x, y = {"left": (0, 100), "top": (200, 0), "right": (W - size, 200), "bottom": (400, H - size)}[corner]
    box = draw_sign(img, "blue_disc", x, y, size)
    located = SignProposer().locate(img)
    assert best_iou(located, box) >= 0.5
    crops = located.crops
    assert (crops[:, 0] >= 0).all() and (crops[:, 1] >= 0).all() and (crops[:, 2] <= W).all() and (crops[:, 3] <= H).all()
    i = int(np.argmax(box_iou(located.boxes, np.array([box]))[:, 0]))
    cx1, cy1, cx2, cy2 = crops[i]
    assert cx2 - cx1 == cy2 - cy1, "a crop at the edge stays square (shifted inside, not squashed)"
    assert cx1 <= box[0] and cy1 <= box[1] and cx2 >= box[2] and cy2 >= box[3], "the whole sign is in its crop"


def test_proposals_map_back_to_full_resolution_and_frame_the_sign_as_training_did():
    img = cv2.resize(textured(4), (1280, 720))
    box = draw_sign(img, "red_circle", 900, 400, 30)
    located = SignProposer(SignConfig(scale=0.5)).locate(img)
    i = int(np.argmax(box_iou(located.boxes, np.array([box]))[:, 0]))
    assert best_iou(located, box) >= 0.6
    x1, y1, x2, y2 = located.crops[i]
    bw = located.boxes[i][2] - located.boxes[i][0]
    assert (x2 - x1) == pytest.approx(bw / SignConfig().fill, abs=2), "padded to the training framing"
    assert located.scores[i] > 0 and located.scores.dtype == np.float32


def test_several_signs_in_one_frame_are_all_found():
    img = textured(5)
    boxes = [draw_sign(img, k, 40 + 150 * i, 120, 44) for i, k in enumerate(KINDS)]
    located = SignProposer().locate(img)
    for b in boxes:
        assert best_iou(located, b) >= 0.5, b


@pytest.mark.parametrize("frame", [None, np.zeros((0, 0, 3), np.uint8), np.zeros((0, 640, 3), np.uint8)])
def test_an_empty_frame_gives_no_boxes(frame):
    for loc in (SignProposer(), WindowLocator(), FrameLocator()):
        out = loc.locate(frame)
        assert len(out) == 0 and out.boxes.shape == (0, 4) and out.crops.shape == (0, 4)


@pytest.mark.parametrize("colour", [RED, BLUE, YELLOW, WHITE, (0, 0, 0)])
def test_a_frame_of_one_colour_gives_no_sign(colour):
    img = np.full((H, W, 3), colour, np.uint8)
    assert len(SignProposer().locate(img)) == 0


def test_grey_and_bgra_frames_are_accepted():
    img = textured(6)
    box = draw_sign(img, "blue_disc", 100, 100, 60)
    assert best_iou(SignProposer().locate(cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)), box) >= 0.5
    assert len(SignProposer().locate(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))) == 0  # grey: no colour cue


def red_blobs(n: int, seed: int = 7) -> np.ndarray:
    """A frame with ``n`` red discs and ellipses of varied roundness scattered on a texture."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(textured(seed), (1280, 720))
    for _ in range(n):
        x, y = int(rng.integers(20, 1260)), int(rng.integers(20, 700))
        a, b = int(rng.integers(11, 16)), int(rng.integers(7, 16))
        cv2.ellipse(img, (x, y), (a, b), float(rng.uniform(0, 180)), 0, 360, RED, -1, cv2.LINE_AA)
    return img


def test_hundreds_of_red_blobs_are_capped_to_the_best_and_the_cap_is_reported(caplog):
    img = red_blobs(400)
    everything = SignProposer(SignConfig(max_boxes=10_000)).locate(img)
    assert len(everything) > 40, "the frame should offer many sign-like candidates"
    with caplog.at_level(logging.DEBUG, logger="edgetl.proposals"):
        capped = SignProposer(SignConfig(max_boxes=16)).locate(img)
    assert len(capped) == 16
    assert capped.capped == len(everything) - 16
    np.testing.assert_allclose(np.sort(capped.scores)[::-1], np.sort(everything.scores)[::-1][:16])
    assert "kept the best 16" in caplog.text
    assert SignProposer().locate(textured(0)).capped == 0


def test_a_part_of_a_sign_does_not_come_as_a_second_box():
    img = textured(8)
    # a no-parking sign: blue disc inside a red ring, a red bar across
    cv2.circle(img, (200, 180), 40, RED, -1, cv2.LINE_AA)
    cv2.circle(img, (200, 180), 33, BLUE, -1, cv2.LINE_AA)
    cv2.line(img, (178, 158), (222, 202), RED, 7, cv2.LINE_AA)
    located = SignProposer().locate(img)
    near = box_iou(located.boxes, np.array([[160, 140, 241, 221]]))[:, 0] > 0.1
    assert near.sum() == 1, (located.boxes.tolist(), located.cues)


# --- the frame locator: today's behaviour ---------------------------------------------------------------

@pytest.mark.parametrize("roi", [None, (100, 50, 300, 250), (500, 300, 900, 700), (-20, -5, 40, 30)])
def test_frame_locator_gives_exactly_todays_crop(roi):
    img = textured(9)
    p = Preprocess(size=32, resize=36, resize_mode="shorter")
    located = FrameLocator(roi).locate(img)
    assert len(located) == 1 and located.capped == 0
    ours = crop_batch(img, located.crops, p)
    today = preprocess_frames([crop_roi(img, roi)], p)  # what the loop has always fed the runner
    np.testing.assert_array_equal(ours, today)
    if roi is None:
        assert located.boxes.tolist() == [[0, 0, W, H]]


def test_frame_locator_from_the_registry_parses_the_roi_as_the_cli_gives_it():
    loc = make_locator("frame", roi="10,20,100,50")
    assert loc.locate(textured(0)).boxes.tolist() == [[10, 20, 110, 70]]
    with pytest.raises(EdgetlError, match="x,y,w,h"):
        make_locator("frame", roi="10,20")


# --- sliding windows --------------------------------------------------------------------------------------

@pytest.mark.parametrize("scales,stride", [((0.1, 0.2, 0.4), 0.5), ((0.25,), 1.0), ((0.15, 0.5), 0.3)])
def test_windows_cover_the_frame_at_each_scale_with_the_given_stride(scales, stride):
    cfg = WindowConfig(scales=scales, stride=stride)
    located = WindowLocator(cfg).locate(textured(0))
    crops = located.crops
    assert (crops[:, 0] >= 0).all() and (crops[:, 2] <= W).all() and (crops[:, 3] <= H).all()
    for s in scales:
        side = round(s * H)
        mine = crops[(crops[:, 2] - crops[:, 0]) == side]
        assert len(mine) and ((mine[:, 3] - mine[:, 1]) == side).all()
        covered = np.zeros((H, W), bool)
        for x1, y1, x2, y2 in mine:
            covered[y1:y2, x1:x2] = True
        assert covered.all(), f"scale {s} leaves part of the frame unseen"
        xs = np.unique(mine[:, 0])
        steps = np.diff(xs)
        assert (steps[:-1] == max(1, round(stride * side))).all() and steps[-1] <= max(1, round(stride * side))
    assert len(crops) == len(window_grid(W, H, cfg)[0])


def test_window_boxes_are_the_object_a_crop_of_that_size_frames():
    located = WindowLocator(WindowConfig(scales=(0.5,), stride=1.0, fill=0.5)).locate(textured(0))
    c, b = located.crops[0], located.boxes[0]
    assert (b[2] - b[0]) == pytest.approx((c[2] - c[0]) * 0.5, abs=1)
    assert (b[0] + b[2]) / 2 == pytest.approx((c[0] + c[2]) / 2, abs=1)


def test_window_settings_are_checked():
    with pytest.raises(EdgetlError, match="scales"):
        WindowConfig(scales=(0.0,))
    with pytest.raises(EdgetlError, match="stride"):
        make_locator("windows", stride="1.5")


# --- the registry -----------------------------------------------------------------------------------------

def test_registry_lists_the_locators_with_descriptions_and_options_as_data():
    assert {"frame", "signs", "windows"} <= set(LOCATORS.names()) and DEFAULT_LOCATOR in LOCATORS
    for name, entry in LOCATORS.items():
        assert entry.name == name and entry.description and "\n" not in entry.description
        for o in entry.options:
            assert o.flag.startswith("--") and o.help
        assert hasattr(entry.create(), "locate")
    flags = [o.flag for o in locator_options()]
    assert len(flags) == len(set(flags)) and "--window-scales" in flags and "--max-boxes" in flags


def test_options_given_as_command_line_text_are_parsed():
    loc = make_locator("signs", scale="0.25", max_boxes="3", colours="red,blue")
    assert loc.config.scale == 0.25 and loc.config.max_boxes == 3 and loc.config.colours == ("red", "blue")
    win = make_locator("windows", scales="0.2,0.4", stride="0.25")
    assert win.config.scales == (0.2, 0.4) and win.config.stride == 0.25


@pytest.mark.parametrize("call,match", [
    (lambda: make_locator("nope"), "unknown locator 'nope'"),
    (lambda: make_locator("signs", window_scales="0.1"), "takes no option window_scales"),
    (lambda: make_locator("signs", colours="red,purple"), "sign colours"),
    (lambda: make_locator("signs", max_boxes="many"), "integer"),
    (lambda: make_locator("signs", max_boxes=0), "max-boxes"),
])
def test_bad_locator_settings_are_one_line_user_errors(call, match):
    with pytest.raises(EdgetlError, match=match) as exc:
        call()
    assert "\n" not in str(exc.value)


# --- crops to a batch, a batch through a runner -----------------------------------------------------------

def test_crop_batch_is_one_batch_prepared_like_the_runner_prepares_frames():
    img = textured(10)
    crops = np.array([[0, 0, 64, 64], [600, 300, 640, 360], [100, 100, 101, 101]], np.int32)
    p = Preprocess(size=24, resize=24)
    batch = crop_batch(img, crops, p)
    assert batch.shape == (3, 3, 24, 24) and batch.dtype == np.float32
    for i, c in enumerate(crops):
        np.testing.assert_array_equal(batch[i], preprocess_frames([crop_roi(img, c)], p)[0])
    assert crop_batch(img, np.zeros((0, 4), np.int32), p).shape == (0, 3, 24, 24)


def test_pad_to_crops_clips_a_crop_larger_than_the_frame():
    crops = pad_to_crops(np.array([[10, 10, 90, 50]]), 100, 60, fill=0.5)
    assert crops.tolist() == [[0, 0, 100, 60]]


class CountingRunner(Runner):
    """A runner whose logits are each image's mean and its negative, with a narrow batch range."""

    backend = "test"

    def __init__(self, batch_range):
        super().__init__(Path("model.test"), ModelInfo("test", ("sign", "background"), Preprocess(size=8, resize=8)))
        self.batch_range = batch_range
        self.sizes: list[int] = []

    def _infer(self, batch):
        self.sizes.append(len(batch))
        m = batch.mean(axis=(1, 2, 3))
        return np.stack([m, -m], 1)


@pytest.mark.parametrize("batch_range,n", [((1, 4), 11), ((2, 4), 5), ((1, None), 9), ((1, 1), 3), ((4, 8), 2)])
def test_infer_batch_splits_into_chunks_the_runner_accepts(batch_range, n):
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(n, 3, 8, 8)).astype(np.float32)
    with CountingRunner(batch_range) as r:
        logits = infer_batch(r, batch)
    assert logits.shape == (n, 2)
    np.testing.assert_allclose(logits[:, 0], batch.mean(axis=(1, 2, 3)), rtol=1e-5)
    lo, hi = batch_range
    assert all(lo <= s <= (hi or n) for s in r.sizes)
    assert len(r.sizes) == len(batch_chunks(n, batch_range))


def test_infer_batch_of_no_crops_does_not_call_the_model():
    with CountingRunner((1, 4)) as r:
        assert infer_batch(r, np.zeros((0, 3, 8, 8), np.float32)).shape == (0, 2)
    assert r.sizes == []


def test_infer_crops_prepares_and_runs_a_frame_of_many_crops_chunk_by_chunk():
    img = textured(11)
    crops = WindowLocator(WindowConfig(scales=(0.1, 0.2), stride=0.5)).locate(img).crops
    with CountingRunner((1, None)) as r:
        logits = infer_crops(r, img, crops, max_batch=32)
    expected = crop_batch(img, crops, r.info.preprocess).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(logits[:, 0], expected, rtol=1e-5)
    assert max(r.sizes) == 32 and sum(r.sizes) == len(crops)
    with CountingRunner((1, 8)) as r:
        infer_crops(r, img, crops[:5])
    assert r.sizes == [5], "a handful of crops is one batch"


def test_a_red_sign_against_a_red_wall_and_a_white_disc_against_a_pale_sky_are_found():
    img = textured(12)
    img[:, : W // 2] = (60, 70, 175)  # a brick-red wall behind the left half
    cv2.GaussianBlur(img, (5, 5), 0, dst=img)
    ring = draw_sign(img, "red_circle", 120, 140, 44)  # a speed limit in front of it
    img[:, W // 2:] = (186, 184, 180)  # a pale overcast sky on the right
    cx, cy, r = 480, 160, 22
    cv2.circle(img, (cx, cy), r, (250, 250, 250), -1, cv2.LINE_AA)  # the disc of the end of restrictions
    cv2.circle(img, (cx, cy), r, (90, 90, 90), 1, cv2.LINE_AA)
    for k in (-8, 0, 8):
        cv2.line(img, (cx - 12 + k, cy + 12 + k), (cx + 12 + k, cy - 12 + k), (120, 120, 120), 1, cv2.LINE_AA)
    located = SignProposer().locate(img)
    assert best_iou(located, ring) >= 0.5, (located.boxes.tolist(), located.cues)
    assert best_iou(located, (cx - r, cy - r, cx + r + 1, cy + r + 1)) >= 0.5, (located.boxes.tolist(), located.cues)
