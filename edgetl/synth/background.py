"""The ``background`` class of the road-sign data set: what a sign finder proposes that is not a sign.

At run time a locator proposes boxes and the classifier sees each one padded to a square crop
(``edgetl.proposals.pad_to_crops``, the sign filling ``SIGN_FILL`` of its side). For the classifier to
say "no sign here", it must have seen such crops of non-signs. Each background track is one street-
sized scene (``SCENE_SIZE``): a region of a data photo (never the video's part of it), painted with
things that are not signs (``edgetl.synth.distractors``: red and blue cars, roofs, sign backs,
poles, balls, boards...) and, in some scenes, real signs. Its views are crops of four kinds:

- ``proposal``: a box ``SignProposer`` returns on the scene, framed as the camera loop frames it;
- ``thing``: a painted thing (or a part of one: a tail light, a stretch of roof or pole), framed alike;
- ``sign_part``: a crop that holds only a part of a sign: inside a large sign, or a sign's edge at the
  crop's border;
- ``photo``: a plain random square of the scene.

No crop holds more than ``PART_MAX`` of any sign (of its outline's area and of its painted area). Each
view goes through the same camera model as the sign images (blur, exposure, night, noise, sensor
resolution, JPEG).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from edgetl.proposals import SignProposer, pad_to_crops
from edgetl.synth.distractors import clamp_quad, part_boxes, place, render_thing
from edgetl.synth.draw import render_sign
from edgetl.synth.scene import Camera, apply_camera, draw_post, paste_sign, scene_canvas, sign_quad

BACKGROUND = "background"
PART_MAX = 0.35  # the most of any sign (share of its area) a background crop may hold
SCENE_SIZE = (1280, 720)  # a camera frame: the proposer sees a scene at the scale it sees the road
KINDS = ("proposal", "thing", "sign_part", "photo")
KIND_WEIGHTS = (0.35, 0.30, 0.15, 0.20)
THING_WEIGHTS = {"car": 0.16, "roof": 0.08, "sign_back": 0.14, "pole": 0.10, "ball": 0.10, "board": 0.12,
                 "lifebuoy": 0.10, "awning": 0.08, "blob": 0.12}
THING_HEIGHT = {"car": (40, 260), "roof": (120, 480), "sign_back": (30, 250), "pole": (150, 720), "ball": (20, 200),
                "board": (25, 200), "lifebuoy": (25, 200), "awning": (40, 200), "blob": (25, 220)}
_PROPOSER = SignProposer()

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class SceneSign:
    """A real sign painted into a scene: its outline ``quad`` and its painted (alpha) mask at (x0, y0)."""

    label: str
    quad: np.ndarray
    x0: int
    y0: int
    mask: np.ndarray

    def share_in(self, crop: Box) -> float:
        """The largest share of this sign inside ``crop``: of its outline's area, or of its paint."""
        x1, y1, x2, y2 = crop
        rect = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
        inter, _ = cv2.intersectConvexConvex(self.quad.astype(np.float32), rect)
        by_quad = max(0.0, float(inter)) / max(1e-6, abs(cv2.contourArea(self.quad.astype(np.float32))))
        h, w = self.mask.shape
        sx1, sy1 = max(0, x1 - self.x0), max(0, y1 - self.y0)
        sx2, sy2 = min(w, x2 - self.x0), min(h, y2 - self.y0)
        total = float(self.mask.sum())
        inside = float(self.mask[sy1:sy2, sx1:sx2].sum()) if sx2 > sx1 and sy2 > sy1 else 0.0
        return max(by_quad, inside / total if total else 0.0)


@dataclass(frozen=True)
class Scene:
    """A street-sized picture to cut background crops from: ``canvas`` (BGR), ``lit`` (255 where a
    sign's paint or a tail light stays bright at night), the real ``signs`` in it and the painted
    ``things`` as (kind, box, boxes of its parts)."""

    canvas: np.ndarray
    lit: np.ndarray
    signs: tuple[SceneSign, ...]
    things: tuple[tuple[str, Box, tuple[Box, ...]], ...]

    def sign_share(self, crop: Box) -> float:
        return max((s.share_in(crop) for s in self.signs), default=0.0)


@dataclass(frozen=True)
class Candidate:
    """A crop of a scene (square, scene pixels), the object it frames and what it is."""

    crop: Box
    box: Box
    kind: str
    what: str


@dataclass(frozen=True)
class BackgroundView:
    """One background image: pixels, the framed object's box in them (the GTSRB ROI), the kind of
    crop, what it shows, its crop of the scene and the most of a sign it holds."""

    image: np.ndarray
    box: Box
    kind: str
    what: str
    crop: Box
    sign_share: float


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _warp_mask(alpha: np.ndarray, quad: np.ndarray, w: int, h: int) -> tuple[int, int, np.ndarray]:
    """``alpha`` warped onto ``quad`` as ``paste_sign`` warps it: (x0, y0, mask of the clamped box)."""
    sh, sw = alpha.shape
    x0, y0 = (max(0, int(v)) for v in np.floor(quad.min(0)) - 1)
    x1, y1 = min(w, int(np.ceil(quad[:, 0].max())) + 1), min(h, int(np.ceil(quad[:, 1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return 0, 0, np.zeros((1, 1), np.uint8)
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
    m = cv2.getPerspectiveTransform(src, (quad - [x0, y0]).astype(np.float32))
    return x0, y0, cv2.warpPerspective(alpha, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)


def _mark_lit(lit: np.ndarray, x0: int, y0: int, mask: np.ndarray) -> None:
    region = lit[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]]
    np.maximum(region, mask[: region.shape[0], : region.shape[1]], out=region)


def _paint_things(canvas: np.ndarray, lit: np.ndarray, rng: np.random.Generator) -> list:
    h, w = canvas.shape[:2]
    kinds, p = list(THING_WEIGHTS), np.asarray(list(THING_WEIGHTS.values()))
    things = []
    for _ in range(int(rng.integers(1, 6))):
        kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
        height = _loguniform(rng, *THING_HEIGHT[kind])
        sprite = render_thing(kind, rng, min(int(height), 240))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        if kind == "sign_back":
            draw_post(canvas, cx, cy + height / 2 - 1, max(2.0, height * 0.07), int(rng.integers(60, 180)))
        quad, box = place(canvas, sprite, cx, cy, height, yaw=float(rng.normal(0, 15)) if kind == "sign_back" else 0.0)
        if box is None:
            continue
        parts = [clamp_quad(np.array([[a, b], [c, d]]), w, h) for a, b, c, d in part_boxes(sprite, quad)]
        if sprite.glow is not None:  # the tail lights stay lit at night
            _mark_lit(lit, *_warp_mask(sprite.glow, quad, w, h))
        things.append((kind, box, tuple(p for p in parts if p)))
    return things


def _paint_signs(canvas: np.ndarray, lit: np.ndarray, rng: np.random.Generator,
                 classes: tuple[str, ...]) -> list[SceneSign]:
    h, w = canvas.shape[:2]
    signs = []
    n = int(rng.integers(1, 3)) if rng.random() < 0.6 else 0
    for _ in range(n):
        label = classes[int(rng.integers(len(classes)))]
        sign, alpha = render_sign(label, rng, 160)
        d = _loguniform(rng, 40, 360)
        cx, cy = rng.uniform(0.05 * w, 0.95 * w), rng.uniform(0.05 * h, 0.8 * h)
        yaw, pitch = float(np.clip(rng.normal(0, 18), -45, 45)), float(np.clip(rng.normal(0, 8), -20, 20))
        quad = sign_quad(cx, cy, d, yaw, pitch, float(np.clip(rng.normal(0, 5), -12, 12)))
        if rng.random() < 0.6:
            draw_post(canvas, cx, quad[:, 1].max() - 1, d * 0.07, int(rng.integers(60, 180)))
        paste_sign(canvas, sign, alpha, quad)
        x0, y0, mask = _warp_mask(alpha, quad, w, h)
        _mark_lit(lit, x0, y0, mask)
        signs.append(SceneSign(label, quad, x0, y0, mask))
    return signs


def render_scene(rng: np.random.Generator, classes: tuple[str, ...]) -> Scene:
    """A data photo region at camera-frame size with 1-5 painted things and, in 60% of scenes, 1-2 signs."""
    w, h = SCENE_SIZE
    canvas = scene_canvas(rng, w, h)
    lit = np.zeros((h, w), np.uint8)
    things = _paint_things(canvas, lit, rng)
    signs = _paint_signs(canvas, lit, rng, classes)
    return Scene(canvas, lit, tuple(signs), tuple(things))


# --- crops -----------------------------------------------------------------------------------------

def _framed(boxes: list[Box], whats: list[str], kind: str) -> list[Candidate]:
    if not boxes:
        return []
    crops = pad_to_crops(np.asarray(boxes, np.int64).reshape(-1, 4), *SCENE_SIZE)
    return [Candidate(tuple(int(v) for v in c), b, kind, what) for c, b, what in zip(crops, boxes, whats)]


def _thing_boxes(scene: Scene, rng: np.random.Generator) -> tuple[list[Box], list[str]]:
    """The box of each thing, its parts, and for large and long things a stretch of them."""
    boxes, whats = [], []
    for kind, (x1, y1, x2, y2), parts in scene.things:
        bw, bh = x2 - x1, y2 - y1
        if kind in ("roof", "awning") or bh > 2.5 * bw:  # a stretch of a roof, an awning or a pole
            side = int(max(8, min(bw, bh) * rng.uniform(0.6, 1.0) if kind == "pole" else bh * rng.uniform(0.25, 0.6)))
            sx = int(rng.uniform(x1 - side / 3, max(x1 - side / 3 + 1, x2 - 2 * side / 3)))
            sy = int(rng.uniform(y1 - side / 3, max(y1 - side / 3 + 1, y2 - 2 * side / 3)))
            seg_h = side if kind != "pole" else int(side * rng.uniform(1.0, 1.6))
            boxes.append((sx, sy, sx + side, sy + seg_h))
            whats.append(f"{kind} stretch")
        else:
            boxes.append((x1, y1, x2, y2))
            whats.append(kind)
        for p in parts:
            boxes.append(p)
            whats.append(f"{kind} part")
    return boxes, whats


def _sign_part_crops(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    """Crops inside a sign, or with a sign's edge at their border, each holding 3%..PART_MAX of it."""
    out = []
    for s in scene.signs:
        (qx1, qy1), (qx2, qy2) = s.quad.min(0), s.quad.max(0)
        d = max(qx2 - qx1, qy2 - qy1)
        cx, cy = (qx1 + qx2) / 2, (qy1 + qy2) / 2
        for _ in range(12):
            if rng.random() < 0.5:  # inside the sign, zoomed in
                side = d * rng.uniform(0.25, 0.5)
                x, y = rng.uniform(qx1 - side / 2, qx2 - side / 2), rng.uniform(qy1 - side / 2, qy2 - side / 2)
            else:  # a sign's edge at the border of a crop framed like a proposal
                side = d / 0.74 * rng.uniform(0.7, 1.4)
                a = rng.uniform(0, 2 * np.pi)
                r = (side + d) / 2 * rng.uniform(0.75, 1.0)
                x, y = cx + r * np.cos(a) - side / 2, cy + r * np.sin(a) - side / 2
            crop = _square_in_scene(x, y, side)
            if crop and 0.03 <= scene.sign_share(crop) <= PART_MAX:
                out.append(Candidate(crop, _centre_box(crop), "sign_part", f"{s.label} part"))
                if len(out) >= 4:
                    break
    return out


def _square_in_scene(x: float, y: float, side: float) -> Box | None:
    w, h = SCENE_SIZE
    side = int(round(min(side, w, h)))
    if side < 8:
        return None
    x, y = int(round(np.clip(x, 0, w - side))), int(round(np.clip(y, 0, h - side)))
    return x, y, x + side, y + side


def _centre_box(crop: Box, fill: float = 0.74) -> Box:
    """The box a crop of a proposal would frame: its centre ``fill`` of the side."""
    x1, y1, x2, y2 = crop
    m = (x2 - x1) * (1 - fill) / 2
    return int(round(x1 + m)), int(round(y1 + m)), int(round(x2 - m)), int(round(y2 - m))


def candidates(scene: Scene, kind: str, rng: np.random.Generator) -> list[Candidate]:
    """Every crop of ``kind`` in ``scene`` that holds at most ``PART_MAX`` of any sign."""
    if kind == "proposal":
        located = _PROPOSER.locate(scene.canvas)
        found = [Candidate(tuple(int(v) for v in c), tuple(int(v) for v in b), kind, cue)
                 for c, b, cue in zip(located.crops, located.boxes, located.cues)]
    elif kind == "thing":
        found = _framed(*_thing_boxes(scene, rng), "thing")
    elif kind == "sign_part":
        found = _sign_part_crops(scene, rng)
    else:
        found = []
        for _ in range(6):
            x, y = rng.uniform(0, SCENE_SIZE[0]), rng.uniform(0, SCENE_SIZE[1])
            crop = _square_in_scene(x, y, _loguniform(rng, 24, 360))
            if crop:
                found.append(Candidate(crop, _centre_box(crop), "photo", "photo"))
    return [c for c in found if _is_square(c.crop) and scene.sign_share(c.crop) <= PART_MAX]


def _is_square(crop: Box) -> bool:
    return crop[2] - crop[0] == crop[3] - crop[1] and crop[2] > crop[0]


def pick(scene: Scene, rng: np.random.Generator, views: int) -> list[Candidate]:
    """``views`` distinct candidates, each of a kind drawn by ``KIND_WEIGHTS``; a kind the scene has
    none of left gives way to the next (``photo`` crops never run out)."""
    pools: dict[str, list[Candidate]] = {}
    out = []
    for _ in range(views):
        first = int(rng.choice(len(KINDS), p=KIND_WEIGHTS))
        for kind in KINDS[first:] + KINDS[:first]:
            if kind not in pools:
                pools[kind] = candidates(scene, kind, rng)
            if not pools[kind] and kind == "photo":
                pools[kind] = candidates(scene, kind, rng)
            if pools[kind]:
                out.append(pools[kind].pop(int(rng.integers(len(pools[kind])))))
                break
    return out


def view_image(scene: Scene, cand: Candidate, cam: Camera, sensor: int, size: int,
               rng: np.random.Generator) -> tuple[np.ndarray, Box]:
    """The crop as a ``size`` x ``size`` camera image seen at ``sensor`` pixels, and the framed box in it."""
    x1, y1, x2, y2 = cand.crop
    side = x2 - x1
    pixels = scene.canvas[y1:y2, x1:x2]
    img = cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)
    if cam.scene_gain != 1.0:  # night: the scene darkens, signs' paint and tail lights stay lit
        lit = cv2.resize(scene.lit[y1:y2, x1:x2], (size, size), interpolation=cv2.INTER_LINEAR)
        g = np.float32(cam.scene_gain) + np.float32((1 - cam.scene_gain) / 255) * lit.astype(np.float32)
        img = (img.astype(np.float32) * g[..., None]).astype(np.uint8)
    img = apply_camera(img, cam, min(sensor, side), rng)
    f = size / side
    bx1, by1, bx2, by2 = cand.box
    box = (max(0, int(math.floor((bx1 - x1) * f))), max(0, int(math.floor((by1 - y1) * f))),
           min(size, int(math.ceil((bx2 - x1) * f))), min(size, int(math.ceil((by2 - y1) * f))))
    if box[2] <= box[0] or box[3] <= box[1]:
        box = (0, 0, size, size)
    return img, box


def render_background(seed: int, track: int, views: int, classes: tuple[str, ...], image_size: tuple[int, int],
                      camera_size: bool, cid: int) -> list[BackgroundView]:
    """The views of background track ``track``: crops of one scene, each through the camera model.

    Output images are ``image_size`` (drawn per view from the range) or, with ``camera_size``, as
    large as the camera saw them (the GTSRB layout). Randomness comes from (seed, cid, track[, view])."""
    rng = np.random.default_rng([seed, cid, track])
    scene = render_scene(rng, classes)
    chosen = pick(scene, rng, views)
    mood = Camera.random(rng)
    out = []
    for v, cand in enumerate(chosen):
        vr = np.random.default_rng([seed, cid, track, v])
        sensor = int(round(float(np.clip(np.exp(vr.normal(np.log(44), 0.4)), 15, 200))))
        side = cand.crop[2] - cand.crop[0]
        size = min(sensor, side) if camera_size else int(vr.integers(image_size[0], image_size[1] + 1))
        cam = dataclasses.replace(Camera.random(vr), gain=mood.gain, gamma=mood.gamma, cast=mood.cast,
                                  scene_gain=mood.scene_gain)
        img, box = view_image(scene, cand, cam, sensor, max(8, size), vr)
        out.append(BackgroundView(img, box, cand.kind, cand.what, cand.crop, scene.sign_share(cand.crop)))
    return out

