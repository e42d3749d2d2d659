"""A synthetic drive-by video of road signs with per-frame ground truth.

The background is a panorama of real photographs (the parts the data set never uses) that pans and
zooms like a moving car. Signs appear small near the vanishing point, grow and pass out of frame: on
both sides of the road and at different heights, one at a time, two on one post, or one on each side
at once, and sometimes the next before the last has gone. Between them drive things that are not
signs, painted by the same painter as the data set's background class: a car ahead with its tail
lights, parked cars, sign backs, poles, roofs, boards, balls. Night and low-sun glare come in
segments, and bumps blur the frame.

Beside ``drive.mp4`` goes ``drive.gt.json`` (format 2, ``edgetl.data.groundtruth``): per frame, every
sign in view with its box (the part inside the frame), label, track (one number per physical sign)
and whether it is recognisable there (``recognisable``, the rule ``RECOGNISABLE_RULE``). Its
provenance lists the night, glare and blur segments. The video is synthetic, and says so.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from edgetl.data.groundtruth import ground_truth_path, ground_truth_record
from edgetl.errors import DataError
from edgetl.fileio import atomic_path, check_output, write_json
from edgetl.synth.distractors import Sprite, clamp_quad, place, render_thing
from edgetl.synth.draw import SIGN_CLASSES, render_sign
from edgetl.synth.scene import draw_post, paste_sign, sign_quad, video_photos

log = logging.getLogger(__name__)

VIDEO_GENERATOR_VERSION = "2"
# A sign in view is recognisable in a frame when all of these hold:
MIN_LABEL_PX = 24  # its box's shorter side is at least this many pixels,
MIN_INSIDE = 0.8  # at least this share of its box is inside the frame,
BLUR_SHARE = 0.25  # motion blur is at most this share of that side,
NIGHT_LIT = 0.5  # at night, the headlights light it at least this much (0..1; see ``_lit``),
GLARE_LOST = 0.55  # and the glare veil over its centre is below this (0 clear, 1 white).
NIGHT_FULL = 0.12  # headlights light a sign fully once its side is this share of the frame height
RECOGNISABLE_RULE = (f"box side >= {MIN_LABEL_PX} px, >= {MIN_INSIDE:.0%} of the box inside the frame, motion blur "
                     f"<= {BLUR_SHARE:.0%} of the side, at night lit >= {NIGHT_LIT:.0%} (full at a side of "
                     f"{NIGHT_FULL:.0%} of the frame height), glare veil over its centre < {GLARE_LOST}")
FADE_S = 0.4  # night and glare fade in and out over this long


@dataclass(frozen=True)
class VideoConfig:
    seconds: float = 24.0
    fps: int = 30
    width: int = 1280
    height: int = 720
    seed: int = 0
    classes: tuple[str, ...] | None = None

    def class_names(self) -> tuple[str, ...]:
        return self.classes or SIGN_CLASSES


@dataclass(frozen=True)
class Pass:
    """One sign driven past: frames [start, end), growing from ``size0`` to ``size1`` pixels; ``track``
    numbers it in the ground truth. Signs of one ``site`` stand together (one post, or both sides)."""

    label: str
    start: int
    end: int
    size0: float
    size1: float
    side: int  # +1 right of the road, -1 left
    lateral: float  # centre offset from the vanishing point, in sign diameters
    height: float  # centre above the vanishing point, in sign diameters
    yaw: float
    seed: int
    track: int = 0
    site: int = 0
    post: bool = True


@dataclass(frozen=True)
class ThingPass:
    """A thing that is not a sign driven past like a sign (``lead`` = the car ahead, which keeps its distance)."""

    kind: str
    start: int
    end: int
    size0: float
    size1: float
    side: int
    lateral: float
    height: float
    seed: int
    lead: bool = False


@dataclass(frozen=True)
class Segment:
    """Frames [start, end) of night, glare or blur; ``strength``: the night's scene light (0..1), the
    glare's peak veil, or the blur's length in pixels."""

    kind: str
    start: int
    end: int
    strength: float
    x: float = 0.5  # glare: the sun's place, as fractions of the frame
    y: float = 0.2
    angle: int = 0  # blur: 0 horizontal (a swerve), 90 vertical (a bump)

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "start": self.start, "end": self.end}
        if self.kind == "blur":
            out["px"] = round(self.strength, 1)
        return out


# --- the plan --------------------------------------------------------------------------------------

def plan_passes(cfg: VideoConfig) -> list[Pass]:
    """Signs for the whole video, in sites of one or two; deterministic for the seed."""
    rng = np.random.default_rng([cfg.seed, 0x51D])
    n = int(round(cfg.seconds * cfg.fps))
    names, scale = cfg.class_names(), cfg.height / 720
    passes: list[Pass] = []
    t, site = int(rng.uniform(0.3, 1.2) * cfg.fps), 0
    while True:
        dur = int(rng.uniform(2.2, 3.4) * cfg.fps)
        if t + dur > n:
            break
        kind = rng.choice(3, p=(0.55, 0.2, 0.25))  # one sign, two on one post, one on each side
        side = 1 if rng.random() < 0.7 else -1
        base = dict(start=t, end=t + dur, size0=float(rng.uniform(10, 14)) * scale,
                    size1=float(rng.uniform(220, 320)) * scale, lateral=float(rng.uniform(1.4, 2.6)),
                    yaw=float(rng.uniform(8, 25)), site=site)
        heights = [float(rng.uniform(0.3, 1.5))]
        sides = [side]
        if kind == 1:
            heights.append(heights[0] + 1.15)  # stacked on the same post
            sides.append(side)
        elif kind == 2:
            heights.append(float(rng.uniform(0.3, 1.5)))
            sides.append(-side)
        for k, (h, s) in enumerate(zip(heights, sides)):
            extra = {}
            if kind == 2 and k == 1:  # the sign across the road stands a little further on
                shift = int(rng.uniform(0.0, 0.4) * cfg.fps)
                extra = dict(start=t + shift, end=min(n, t + dur + shift), lateral=float(rng.uniform(1.4, 2.6)))
            passes.append(Pass(**{**base, **extra}, label=names[int(rng.integers(len(names)))], side=s, height=h,
                               seed=int(rng.integers(1 << 31)), track=len(passes), post=not (kind == 1 and k == 1)))
        site += 1
        t += int(dur * rng.uniform(0.6, 1.25)) + int(0.3 * cfg.fps)
    return passes


THING_PLAN = {  # kind: (weight, closest height range in pixels at 720p, height above the horizon in sizes)
    "sign_back": (0.18, (150, 260), (0.3, 1.5)),
    "car": (0.14, (160, 260), (-0.9, -0.5)),
    "board": (0.14, (120, 260), (-0.2, 1.2)),
    "ball": (0.08, (80, 160), (-0.5, 0.8)),
    "lifebuoy": (0.08, (100, 200), (-0.2, 1.0)),
    "awning": (0.1, (150, 260), (0.8, 1.6)),
    "roof": (0.1, (260, 420), (1.0, 1.8)),
    "pole": (0.1, (400, 700), (0.0, 0.2)),
    "blob": (0.08, (100, 220), (-0.6, 1.0)),
}


def plan_things(cfg: VideoConfig) -> list[ThingPass]:
    """Things that are not signs: roadside ones about every 1.2-2.4 s, and a car ahead now and then."""
    rng = np.random.default_rng([cfg.seed, 0x7A1])
    n, scale = int(round(cfg.seconds * cfg.fps)), cfg.height / 720
    kinds = list(THING_PLAN)
    p = np.asarray([THING_PLAN[k][0] for k in kinds])
    out: list[ThingPass] = []
    t = int(rng.uniform(0.0, 1.0) * cfg.fps)
    while t < n:
        kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
        _, (lo, hi), (hlo, hhi) = THING_PLAN[kind]
        dur = int(rng.uniform(2.0, 3.4) * cfg.fps)
        size1 = float(rng.uniform(lo, hi)) * scale
        out.append(ThingPass(kind, t, min(n, t + dur), size1 / float(rng.uniform(16, 24)), size1,
                             1 if rng.random() < 0.5 else -1, float(rng.uniform(1.2, 3.2)),
                             float(rng.uniform(hlo, hhi)), int(rng.integers(1 << 31))))
        t += int(rng.uniform(1.2, 2.4) * cfg.fps)
    t = int(rng.uniform(1.0, 4.0) * cfg.fps)
    while t < n:  # the car ahead: stays for a while at a slowly changing distance
        dur = int(rng.uniform(3.0, 7.0) * cfg.fps)
        size = float(rng.uniform(70, 130)) * scale
        out.append(ThingPass("car", t, min(n, t + dur), size * 0.8, size * 1.2, 1, float(rng.uniform(-0.4, 0.4)),
                             -0.9, int(rng.integers(1 << 31)), lead=True))
        t += dur + int(rng.uniform(3.0, 8.0) * cfg.fps)
    return out


def plan_segments(cfg: VideoConfig) -> list[Segment]:
    """Night and glare between stretches of day (the first is night, the second glare), and short
    bumps of motion blur; deterministic for the seed."""
    rng = np.random.default_rng([cfg.seed, 0x5E6])
    n, fps, scale = int(round(cfg.seconds * cfg.fps)), cfg.fps, cfg.height / 720
    out: list[Segment] = []
    t, k = int(rng.uniform(2.0, 4.0) * fps), 0
    while t < n:
        kind = ("night", "glare")[k] if k < 2 else ("night" if rng.random() < 0.6 else "glare")
        end = min(n, t + int(rng.uniform(2.5, 4.5) * fps))
        if kind == "night":
            out.append(Segment("night", t, end, float(rng.uniform(0.15, 0.3))))
        else:
            out.append(Segment("glare", t, end, float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.15, 0.85)),
                               float(rng.uniform(0.05, 0.35))))
        t, k = end + int(rng.uniform(3.0, 6.0) * fps), k + 1
    t = int(rng.uniform(1.0, 3.0) * fps)
    while t < n:
        end = min(n, t + max(2, int(rng.uniform(0.3, 1.0) * fps)))
        out.append(Segment("blur", t, end, float(rng.uniform(5, 14)) * scale, angle=90 if rng.random() < 0.7 else 0))
        t = end + int(rng.uniform(3.0, 7.0) * fps)
    return sorted(out, key=lambda s: (s.start, s.kind))


# --- drawing ---------------------------------------------------------------------------------------

def _panorama(cfg: VideoConfig, rng: np.random.Generator) -> np.ndarray:
    """Real photographs side by side, tall enough to zoom into: the parts of them the data set never uses."""
    h = int(cfg.height * 1.35)
    bgs = list(video_photos())
    order = rng.permutation(len(bgs))
    parts, width = [], 0
    for i in order:
        img = bgs[i][1]
        w = int(img.shape[1] * h / img.shape[0])
        parts.append(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if img.shape[0] > h else cv2.INTER_LINEAR))
        width += w
        if width > cfg.width * 4:
            break
    pano = np.hstack(parts)
    return np.hstack([pano, pano[:, : int(cfg.width * 1.4)]])  # wraps around if the pan runs long


def _background(pano: np.ndarray, cfg: VideoConfig, frame: int, n: int) -> np.ndarray:
    """The view at ``frame``: pan right across the panorama, zooming gently in and out."""
    t = frame / max(1, n - 1)
    zoom = 1.0 + 0.15 * (0.5 - 0.5 * np.cos(2 * np.pi * 3 * t))
    vw, vh = cfg.width / zoom, cfg.height / zoom
    max_x = pano.shape[1] - cfg.width * 1.4
    x = (t * (pano.shape[1] - cfg.width * 1.4)) % max(1.0, max_x)
    y = (pano.shape[0] - vh) / 2
    x0, y0 = int(x), int(y)
    crop = pano[y0:y0 + int(round(vh)), x0:x0 + int(round(vw))]
    return cv2.resize(crop, (cfg.width, cfg.height), interpolation=cv2.INTER_LINEAR)


def _approach(start: int, end: int, size0: float, size1: float, frame: int) -> float:
    """The apparent size at ``frame`` of something approaching at constant speed."""
    u = (frame - start) / max(1, end - start - 1)
    return size1 / (1.0 + (size1 / size0 - 1.0) * (1.0 - u))


def _sign_geometry(p: Pass, frame: int, cfg: VideoConfig) -> tuple[float, float, float]:
    """Centre x, y and diameter of the sign of pass ``p`` at ``frame``."""
    d = _approach(p.start, p.end, p.size0, p.size1, frame)
    vx, vy = cfg.width * 0.5, cfg.height * 0.45
    return vx + p.side * p.lateral * d, vy - p.height * d, d


def _thing_geometry(t: ThingPass, frame: int, cfg: VideoConfig) -> tuple[float, float, float]:
    vx, vy = cfg.width * 0.5, cfg.height * 0.45
    if t.lead:  # the car ahead: its distance breathes, it drifts in its lane
        u = (frame - t.start) / max(1, t.end - t.start)
        d = t.size0 + (t.size1 - t.size0) * (0.5 - 0.5 * np.cos(2 * np.pi * u))
        return vx + t.lateral * d * np.sin(np.pi * u), vy + 0.9 * d, d
    d = _approach(t.start, t.end, t.size0, t.size1, frame)
    return vx + t.side * t.lateral * d * 1.5, vy - t.height * d, d


@dataclass
class _Light:
    """The light in one frame: scene gain (night), glare veil strength and its map, blur."""

    night: float = 0.0  # 0 day .. 1 full night
    scene: float = 1.0  # the light on the scene
    glare: float = 0.0
    veil: np.ndarray | None = None  # (h, w, 3) uint8: the current glare segment's veil at full strength
    blur: float = 0.0
    angle: int = 0


def _ramp(seg: Segment, frame: int, fps: int) -> float:
    """0..1: fades in over FADE_S at a segment's start and out at its end."""
    fade = max(1.0, FADE_S * fps)
    return float(np.clip(min(frame - seg.start + 1, seg.end - frame) / fade, 0.0, 1.0))


def _veil(seg: Segment, cfg: VideoConfig) -> np.ndarray:
    """A low sun's veil: a bright bloom around the sun over a haze, as 0..255 (3 channels), peak
    ``seg.strength``."""
    w, h = max(1, cfg.width // 4), max(1, cfg.height // 4)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - seg.x * w) ** 2 + (yy - seg.y * h) ** 2) / np.float32((0.16 * w) ** 2)
    v = (0.18 + (seg.strength - 0.18) * np.exp(-r2 / 2)) * 255
    v = cv2.resize(np.round(v).astype(np.uint8), (cfg.width, cfg.height), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(v, cv2.COLOR_GRAY2BGR)


def _light_at(frame: int, segments: list[Segment], cfg: VideoConfig, veils: dict[int, np.ndarray]) -> _Light:
    light = _Light()
    for i, s in enumerate(segments):
        if not s.start <= frame < s.end:
            continue
        if s.kind == "night":
            light.night = _ramp(s, frame, cfg.fps)
            light.scene = 1.0 - light.night * (1.0 - s.strength)
        elif s.kind == "glare":
            light.glare = _ramp(s, frame, cfg.fps)
            if i not in veils:
                veils.clear()  # one glare segment at a time
                veils[i] = _veil(s, cfg)
            light.veil = veils[i]
        else:
            light.blur, light.angle = s.strength, s.angle
    return light


def _lit(d: float, light: _Light, cfg: VideoConfig) -> float:
    """How bright a sign of side ``d`` is, 0..1: fully by day; at night as far as the headlights reach it."""
    headlights = float(np.clip(0.15 + 0.85 * d / (NIGHT_FULL * cfg.height), 0.15, 1.0))
    return 1.0 - light.night * (1.0 - headlights)


class _Mip:
    """A sprite at full, 1/2, 1/4... size: a frame pastes the smallest level at least twice as tall as
    it needs, so the shrinking before the warp costs little."""

    def __init__(self, sprite: Sprite):
        self.levels = [sprite]
        while min(sprite.img.shape[:2]) >= 32:
            down = [None if a is None else cv2.pyrDown(a) for a in (sprite.img, sprite.alpha, sprite.glow)]
            sprite = dataclasses.replace(sprite, img=down[0], alpha=down[1], glow=down[2])
            self.levels.append(sprite)

    def at(self, height: float) -> Sprite:
        return next((s for s in reversed(self.levels) if s.img.shape[0] >= 2 * height), self.levels[0])


def _scaled(img: np.ndarray, f: float) -> np.ndarray:
    return img if f >= 0.999 else cv2.convertScaleAbs(img, alpha=f)


def _draw_things(img: np.ndarray, things: list[ThingPass], sprites: dict[int, _Mip], f: int, light: _Light,
                 cfg: VideoConfig) -> None:
    for i, t in enumerate(things):
        if not t.start <= f < t.end:
            continue
        cx, cy, d = _thing_geometry(t, f, cfg)
        if t.kind == "sign_back":
            draw_post(img, cx, cy + d / 2 - 1, max(2.0, d * 0.07), int(110 * light.scene))
        place(img, sprites[i].at(d), cx, cy, d, light=light.scene)


def _draw_sign(img: np.ndarray, p: Pass, sign: _Mip, f: int, light: _Light,
               cfg: VideoConfig) -> tuple[np.ndarray, float, float]:
    """Paste the sign of pass ``p``; return its quad, side and brightness."""
    cx, cy, d = _sign_geometry(p, f, cfg)
    quad = sign_quad(cx, cy, d, p.side * p.yaw, 0.0, 0.0)
    if p.post:
        draw_post(img, cx, quad[:, 1].max() - 1, max(2.0, d * 0.07), int(110 * light.scene))
    lit = _lit(d, light, cfg)
    level = sign.at(d)
    paste_sign(img, _scaled(level.img, lit), level.alpha, quad)
    return quad, d, lit


def _truth(p: Pass, quad: np.ndarray, lit: float, light: _Light, cfg: VideoConfig) -> dict | None:
    """The sign's ground truth in this frame (None when it is not in view), by ``RECOGNISABLE_RULE``."""
    box = clamp_quad(quad, cfg.width, cfg.height)
    if box is None:
        return None
    x1, y1 = quad.min(0)
    x2, y2 = quad.max(0)
    inside = (box[2] - box[0]) * (box[3] - box[1]) / max(1e-6, (x2 - x1) * (y2 - y1))
    side = min(x2 - x1, y2 - y1)
    veil = 0.0
    if light.veil is not None and light.glare > 0:
        cx, cy = int(np.clip((x1 + x2) / 2, 0, cfg.width - 1)), int(np.clip((y1 + y2) / 2, 0, cfg.height - 1))
        veil = float(light.veil[cy, cx, 0]) / 255 * light.glare
    ok = (min(box[2] - box[0], box[3] - box[1]) >= MIN_LABEL_PX and inside >= MIN_INSIDE
          and light.blur <= BLUR_SHARE * side and lit >= NIGHT_LIT and veil < GLARE_LOST)
    return {"box": list(box), "label": p.label, "track": p.track, "recognisable": bool(ok)}


class _Grain:
    """Sensor noise at night, from a few precomputed fields (drawing fresh noise per frame is slow)."""

    def __init__(self, cfg: VideoConfig, rng: np.random.Generator):
        n = rng.normal(0, 7, (cfg.height + 16, cfg.width + 16, 3)).astype(np.float32)
        self.pos, self.neg = np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)
        self.w, self.h = cfg.width, cfg.height

    def add(self, img: np.ndarray, frame: int, amount: float) -> np.ndarray:
        ox, oy = (frame * 7) % 16, (frame * 11) % 16
        pos, neg = self.pos[oy:oy + self.h, ox:ox + self.w], self.neg[oy:oy + self.h, ox:ox + self.w]
        if amount < 1.0:
            pos, neg = _scaled(pos, amount), _scaled(neg, amount)
        return cv2.subtract(cv2.add(img, pos), neg)


def _finish(img: np.ndarray, light: _Light, grain: _Grain, f: int) -> np.ndarray:
    """Glare veil, motion blur and night grain over the drawn frame."""
    if light.veil is not None and light.glare > 0:  # img + (255 - img) * veil
        veil = _scaled(light.veil, light.glare)
        img = cv2.add(img, cv2.multiply(cv2.bitwise_not(img), veil, scale=1 / 255))
    if light.blur >= 1.5:
        k = int(round(light.blur))
        img = cv2.blur(img, (k, 1) if light.angle == 0 else (1, k))
    if light.night > 0:
        img = grain.add(img, f, light.night)
    return img


def render_frames(cfg: VideoConfig) -> Iterator[tuple[np.ndarray, dict]]:
    """(BGR frame, ground-truth record ``{"frame", "signs": [...]}``) for every frame."""
    n = int(round(cfg.seconds * cfg.fps))
    pano = _panorama(cfg, np.random.default_rng([cfg.seed, 0xBA6]))
    passes, things, segments = plan_passes(cfg), plan_things(cfg), plan_segments(cfg)
    signs = {p.track: _Mip(Sprite(p.label, *render_sign(p.label, np.random.default_rng(p.seed), 256)))
             for p in passes}
    sprites = {i: _Mip(render_thing(t.kind, np.random.default_rng(t.seed), int(min(240, max(16, t.size1)))))
               for i, t in enumerate(things)}
    grain = _Grain(cfg, np.random.default_rng([cfg.seed, 0x6A1]))
    veils: dict[int, np.ndarray] = {}
    for f in range(n):
        light = _light_at(f, segments, cfg, veils)
        img = _scaled(_background(pano, cfg, f, n), light.scene)
        _draw_things(img, things, sprites, f, light, cfg)
        in_view = []
        for p in passes:
            if p.start <= f < p.end:
                quad, _, lit = _draw_sign(img, p, signs[p.track], f, light, cfg)
                truth = _truth(p, quad, lit, light, cfg)
                if truth:
                    in_view.append(truth)
        yield _finish(img, light, grain, f), {"frame": f, "signs": in_view}


def generate_video(out: str | os.PathLike, cfg: VideoConfig, overwrite: bool = False,
                   progress: Callable[[int], None] | None = None) -> dict:
    """Write the drive-by video to ``out`` (.mp4) and its ground truth beside it; return the truth."""
    out = Path(out)
    unknown = [c for c in cfg.class_names() if c not in SIGN_CLASSES]
    if unknown:
        raise DataError(f"unknown road-sign class {unknown[0]!r}; known: {', '.join(SIGN_CLASSES)}")
    if out.suffix.lower() != ".mp4":
        raise DataError(f"{out}: the video must be an .mp4 file name")
    gt = ground_truth_path(out)
    for p in (out, gt):
        check_output(p)
        if p.exists() and not overwrite:
            raise DataError(f"{p} exists: choose another name or pass --overwrite")
    if cfg.seconds <= 0 or cfg.fps <= 0:
        raise DataError("video length and frame rate must be positive")
    frames = []
    with atomic_path(out, suffix=".mp4") as tmp:  # OpenCV picks the container from the name
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), cfg.fps, (cfg.width, cfg.height))
        if not writer.isOpened():
            raise DataError(f"OpenCV cannot write an mp4v video to {tmp.parent}: check the folder and OpenCV build")
        try:
            for img, truth in render_frames(cfg):
                writer.write(img)
                frames.append(truth)
                if progress:
                    progress(1)
        finally:
            writer.release()
    truth = ground_truth_record(out.name, cfg.fps, cfg.width, cfg.height, cfg.class_names(), frames,
                                synthetic=True, seed=cfg.seed, generator_version=VIDEO_GENERATOR_VERSION,
                                recognisable_rule=RECOGNISABLE_RULE,
                                segments=[s.to_dict() for s in plan_segments(cfg)])
    write_json(gt, truth)
    labelled = sum(any(s["recognisable"] for s in fr["signs"]) for fr in frames)
    log.info("wrote %s: %d frames, %d with a recognisable sign", out, len(frames), labelled)
    return truth
