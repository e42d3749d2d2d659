"""Things by the road that are not road signs, drawn with OpenCV.

One painter serves two purposes: its things are the hard cases of the road-sign data set's
``background`` class, and the distractors of the drive-by video. Most are painted in the red, blue,
white and yellow of sign designs, in shapes a colour-and-shape proposer may take for a sign: cars seen
from behind with their tail lights, red and blue roofs, the grey backs of signs on posts, poles and
striped bollards, balls, lifebuoys, shop boards with lettering, striped awnings and irregular blobs.
Each is a ``Sprite`` (BGR, alpha, the parts that glow at night, and boxes of its notable parts)
placed into a picture with ``place``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgetl.synth.draw import BLUE, RED, WHITE, YELLOW, fill_disc, fill_poly
from edgetl.synth.scene import paste_sign, rect_quad, sign_quad

AA = cv2.LINE_AA
LETTERS = "ABCDEFGHKLMNOPRSTUVWXYZ0123456789"
BACK_SHAPES = ("circle", "triangle", "triangle_down", "octagon", "rectangle", "diamond")

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Sprite:
    """A painted thing: BGR ``img``, its ``alpha``, the ``glow`` mask of parts that light themselves
    (tail lights: they stay bright at night; None when none) and ``parts``, boxes (x1, y1, x2, y2 as
    fractions of the sprite) of the pieces a proposer may find on their own."""

    kind: str
    img: np.ndarray
    alpha: np.ndarray
    glow: np.ndarray | None = None
    parts: tuple[tuple[float, float, float, float], ...] = ()

    @property
    def aspect(self) -> float:
        return self.img.shape[1] / self.img.shape[0]


def _shade(rng: np.random.Generator, base: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(int(np.clip(v * rng.uniform(0.75, 1.1), 0, 255)) for v in base)


def sign_colour(rng: np.random.Generator, weights=(0.45, 0.35, 0.1, 0.1)) -> tuple[int, int, int]:
    """A paint colour of sign designs (red, blue, white, yellow), shaded like a real object."""
    base = (RED, BLUE, WHITE, YELLOW)[int(rng.choice(4, p=np.asarray(weights) / sum(weights)))]
    return _shade(rng, base)


def _lighting(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A soft top-to-bottom light gradient and some grain, so a thing is not one flat colour."""
    h = img.shape[0]
    g = np.linspace(rng.uniform(1.0, 1.15), rng.uniform(0.7, 0.95), h, dtype=np.float32)[:, None, None]
    grain = rng.standard_normal(img.shape[:2], dtype=np.float32)[..., None] * np.float32(4)
    return np.clip(img.astype(np.float32) * g + grain, 0, 255).astype(np.uint8)


# --- the things ------------------------------------------------------------------------------------

def _car(rng: np.random.Generator, h: int) -> Sprite:
    """A car seen from behind: body, cabin, rear window, tail lights, plate, bumper and wheels."""
    w = int(h * rng.uniform(1.5, 2.0))
    img, mask, glow = np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    colour = sign_colour(rng, (0.5, 0.25, 0.15, 0.1)) if rng.random() < 0.75 else _shade(rng, (90, 90, 90))
    body_top, body_bot = h * 0.42, h * 0.88
    for sx in (0.08, 0.78):  # wheels
        x0, x1 = w * sx, w * (sx + 0.14)
        fill_poly(img, mask, [[x0, h * 0.8], [x1, h * 0.8], [x1, h], [x0, h]], (20, 20, 20))
    fill_poly(img, mask, [[w * 0.16, h * 0.02], [w * 0.84, h * 0.02], [w * 0.95, body_top], [w * 0.05, body_top]], colour)
    fill_poly(img, mask, [[0, body_top], [w, body_top], [w, body_bot], [0, body_bot]], colour)
    fill_poly(img, None, [[w * 0.22, h * 0.08], [w * 0.78, h * 0.08], [w * 0.86, body_top - 2], [w * 0.14, body_top - 2]],
          _shade(rng, (60, 50, 45)))
    fill_poly(img, None, [[0, body_bot - h * 0.1], [w, body_bot - h * 0.1], [w, body_bot], [0, body_bot]], (35, 35, 35))
    fill_poly(img, None, [[w * 0.38, h * 0.6], [w * 0.62, h * 0.6], [w * 0.62, h * 0.72], [w * 0.38, h * 0.72]], WHITE)
    txt = "".join(LETTERS[int(i)] for i in rng.integers(len(LETTERS), size=5))
    cv2.putText(img, txt, (int(w * 0.4), int(h * 0.705)), cv2.FONT_HERSHEY_PLAIN, max(0.3, h / 160), (30, 30, 30),
                1, AA)
    lw, lh = w * rng.uniform(0.12, 0.2), h * rng.uniform(0.1, 0.18)
    round_lights = rng.random() < 0.4
    parts = []
    for x0 in (w * 0.03, w * 0.97 - lw):
        c = (x0 + lw / 2, body_top + h * 0.05 + lh / 2)
        if round_lights:
            fill_disc(img, None, c, lh * 0.6, (30, 30, 235))
            fill_disc(glow, None, c, lh * 0.6, 255)
        else:
            pts = [[x0, c[1] - lh / 2], [x0 + lw, c[1] - lh / 2], [x0 + lw, c[1] + lh / 2], [x0, c[1] + lh / 2]]
            fill_poly(img, None, pts, (30, 30, 235))
            fill_poly(glow, None, pts, (255,))
        parts.append(((x0 - lw * 0.1) / w, (c[1] - lh) / h, (x0 + lw * 1.1) / w, (c[1] + lh) / h))
    return Sprite("car", _lighting(img, rng), mask, glow, tuple(parts))


def _roof(rng: np.random.Generator, h: int) -> Sprite:
    """A tiled roof, red or blue, with its eave: a large area of sign colour with straight edges."""
    w = int(h * rng.uniform(1.8, 3.2))
    img, mask = np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.uint8)
    colour = sign_colour(rng, (0.5, 0.5, 0.0, 0.0))
    inset = w * rng.uniform(0.0, 0.3)
    fill_poly(img, mask, [[inset, 0], [w - inset, 0], [w, h], [0, h]], colour)
    dark = tuple(int(v * 0.6) for v in colour)
    rows = int(rng.integers(5, 12))
    for i in range(1, rows + 1):
        y = h * i / (rows + 1)
        cv2.line(img, (0, int(y)), (w, int(y)), dark, max(1, h // 80), AA)
    fill_poly(img, None, [[0, h * 0.93], [w, h * 0.93], [w, h], [0, h]], (40, 40, 40))
    img[mask == 0] = 0
    return Sprite("roof", _lighting(img, rng), mask)


def _sign_back(rng: np.random.Generator, h: int) -> Sprite:
    """The grey back of a sign (a sign for the other direction): a metal shape with clamps."""
    img, mask = np.zeros((h, h, 3), np.uint8), np.zeros((h, h), np.uint8)
    shape = BACK_SHAPES[int(rng.integers(len(BACK_SHAPES)))]
    c, r = h / 2, h / 2 - 1
    grey = int(rng.integers(120, 200))
    metal = (grey, grey, int(min(255, grey * rng.uniform(1.0, 1.08))))
    if shape == "circle":
        fill_disc(img, mask, (c, c), r, metal)
    elif shape == "rectangle":
        fill_poly(img, mask, [[1, h * 0.1], [h - 1, h * 0.1], [h - 1, h * 0.9], [1, h * 0.9]], metal)
    else:  # a regular polygon; a triangle's centroid moves so the triangle fills the square's height
        n, start, dy = {"triangle": (3, -90, 0.12), "triangle_down": (3, 90, -0.12), "octagon": (8, 22.5, 0.0),
                        "diamond": (4, 0, 0.0)}[shape]
        ang = np.deg2rad(start + 360.0 * np.arange(n) / n)
        fill_poly(img, mask, np.stack([c + r * np.cos(ang), c + dy * h + r * np.sin(ang)], 1), metal)
    rim = np.zeros_like(mask)
    cv2.erode(mask, np.ones((3, 3), np.uint8), dst=rim, iterations=max(1, h // 40))
    img[(mask > 0) & (rim == 0)] = (grey * 0.7, grey * 0.7, grey * 0.7)
    for y in (0.38, 0.62):  # the clamps around the post
        cv2.rectangle(img, (int(h * 0.42), int(h * y)), (int(h * 0.58), int(h * y + h * 0.06)), (60, 60, 60), -1)
    img[mask == 0] = 0
    return Sprite("sign_back", _lighting(img, rng), mask)


def _pole(rng: np.random.Generator, h: int) -> Sprite:
    """A round post, metal grey or a red-and-white (or blue) striped bollard, lit from one side."""
    w = max(3, int(h * rng.uniform(0.06, 0.14)))
    x = np.linspace(-1, 1, w, dtype=np.float32)
    light = (0.55 + 0.45 * np.sqrt(np.clip(1 - (x - 0.3) ** 2, 0, 1)))[None, :, None]
    striped = rng.random() < 0.35
    base = np.full((h, w, 3), int(rng.integers(110, 190)), np.float32)
    if striped:
        band = max(2, int(w * rng.uniform(1.0, 2.5)))
        stripe = np.asarray(sign_colour(rng, (0.7, 0.3, 0, 0)), np.float32)
        on = ((np.arange(h) // band) % 2 == 0)
        base[on] = stripe
        base[~on] = np.asarray(WHITE, np.float32)
    img = np.clip(base * light, 0, 255).astype(np.uint8)
    return Sprite("pole", _lighting(img, rng), np.full((h, w), 255, np.uint8))


def _ball(rng: np.random.Generator, h: int) -> Sprite:
    """A shaded sphere (a ball, a lamp globe) in a sign colour, with its highlight."""
    img, mask = np.zeros((h, h, 3), np.uint8), np.zeros((h, h), np.uint8)
    colour = np.asarray(sign_colour(rng), np.float32)
    yy, xx = np.mgrid[0:h, 0:h].astype(np.float32)
    c, r = h / 2, h / 2 - 1
    lx, ly = c + rng.uniform(-0.4, 0.4) * r, c - rng.uniform(0.2, 0.5) * r
    d = np.sqrt((xx - lx) ** 2 + (yy - ly) ** 2) / (1.6 * r)
    shade = np.clip(1.15 - d, 0.3, 1.15)[..., None]
    spec = np.exp(-((xx - lx) ** 2 + (yy - ly) ** 2) / (2 * (0.12 * r) ** 2))[..., None] * 160
    img[:] = np.clip(colour * shade + spec, 0, 255).astype(np.uint8)
    fill_disc(mask, None, (c, c), r, 255)
    img[mask == 0] = 0
    return Sprite("ball", img, mask)


def _board(rng: np.random.Generator, h: int) -> Sprite:
    """A shop board or plate in a sign colour with lettering and no sign design."""
    w = int(h * rng.uniform(0.8, 2.4))
    img, mask = np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.uint8)
    colour = sign_colour(rng, (0.4, 0.4, 0.1, 0.1))
    fill_poly(img, mask, [[0, 0], [w, 0], [w, h], [0, h]], colour)
    ink = WHITE if sum(colour) < 450 else (25, 25, 25)
    if rng.random() < 0.5:
        cv2.rectangle(img, (0, 0), (w - 1, h - 1), _shade(rng, (40, 40, 40)), max(1, h // 20))
    lines = int(rng.integers(1, 3))
    for i in range(lines):
        n = int(rng.integers(2, 7))
        txt = "".join(LETTERS[int(j)] for j in rng.integers(len(LETTERS), size=n))
        (tw, th), _ = cv2.getTextSize(txt, cv2.FONT_HERSHEY_DUPLEX, 1.0, 2)
        scale = min(w * 0.85 / tw, h * 0.6 / lines / th)
        thick = max(1, int(scale * 2))
        (tw, th), _ = cv2.getTextSize(txt, cv2.FONT_HERSHEY_DUPLEX, scale, thick)
        y = int(h * (i + 0.5) / lines + th / 2)
        cv2.putText(img, txt, (int((w - tw) / 2), y), cv2.FONT_HERSHEY_DUPLEX, scale, ink, thick, AA)
    return Sprite("board", _lighting(img, rng), mask)


def _lifebuoy(rng: np.random.Generator, h: int) -> Sprite:
    """A ring in alternating segments of a sign colour and white."""
    img, mask = np.zeros((h, h, 3), np.uint8), np.zeros((h, h), np.uint8)
    colour = sign_colour(rng, (0.75, 0.25, 0, 0))
    c, r = h / 2, h / 2 - 1
    segs = int(rng.choice([4, 6, 8]))
    for k in range(segs):
        cv2.ellipse(img, (int(c * 16), int(c * 16)), (int(r * 16), int(r * 16)), 0, 360 * k / segs,
                    360 * (k + 1) / segs, colour if k % 2 == 0 else WHITE, -1, AA, shift=4)
    fill_disc(mask, None, (c, c), r, 255)
    inner = r * rng.uniform(0.5, 0.65)
    fill_disc(mask, None, (c, c), inner, 0)
    img[mask == 0] = 0
    return Sprite("lifebuoy", _lighting(img, rng), mask)


def _awning(rng: np.random.Generator, h: int) -> Sprite:
    """A striped shop awning with a scalloped edge: sign colour and white."""
    w = int(h * rng.uniform(1.4, 3.0))
    img, mask = np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.uint8)
    colour = sign_colour(rng, (0.6, 0.4, 0, 0))
    stripes = int(rng.integers(4, 10))
    sw = w / stripes
    body = h * 0.8
    for i in range(stripes):
        c = colour if i % 2 == 0 else WHITE
        fill_poly(img, mask, [[i * sw, 0], [(i + 1) * sw, 0], [(i + 1) * sw, body], [i * sw, body]], c)
        fill_disc(img, mask, ((i + 0.5) * sw, body), min(sw / 2, h - body), c)
    return Sprite("awning", _lighting(img, rng), mask)


def _blob(rng: np.random.Generator, h: int) -> Sprite:
    """An irregular patch of sign colour: clothing, a painted wall, a plastic crate."""
    img, mask = np.zeros((h, h, 3), np.uint8), np.zeros((h, h), np.uint8)
    n = int(rng.integers(5, 10))
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = h / 2 * rng.uniform(0.45, 1.0, n)
    pts = np.stack([h / 2 + rad * np.cos(ang), h / 2 + rad * np.sin(ang)], 1)
    fill_poly(img, mask, np.clip(pts, 0, h - 1), sign_colour(rng))
    return Sprite("blob", _lighting(img, rng), mask)


_PAINT = {"car": _car, "roof": _roof, "sign_back": _sign_back, "pole": _pole, "ball": _ball, "board": _board,
          "lifebuoy": _lifebuoy, "awning": _awning, "blob": _blob}
THING_KINDS = tuple(_PAINT)  # what render_thing can draw


def render_thing(kind: str, rng: np.random.Generator, height: int) -> Sprite:
    """A new thing of ``kind`` (one of THING_KINDS), drawn ``height`` pixels tall."""
    return _PAINT[kind](rng, max(8, int(height)))


def place(canvas: np.ndarray, sprite: Sprite, cx: float, cy: float, height: float, light: float = 1.0,
          yaw: float = 0.0) -> tuple[np.ndarray, Box | None]:
    """Paste ``sprite`` ``height`` pixels tall centred on (cx, cy), its lit parts at ``light`` (night
    scenes darken what does not glow). Return its quad and its box clamped to the canvas (None when
    out of view)."""
    h = float(height)
    w = h * sprite.aspect
    quad = sign_quad(cx, cy, h, yaw, 0.0, 0.0) if sprite.aspect == 1.0 and yaw else rect_quad(cx, cy, w, h)
    img = sprite.img
    if light != 1.0:
        f = np.full(sprite.alpha.shape, light, np.float32)
        if sprite.glow is not None:
            f = np.maximum(f, sprite.glow.astype(np.float32) / 255)
        img = np.clip(img.astype(np.float32) * f[..., None], 0, 255).astype(np.uint8)
    paste_sign(canvas, img, sprite.alpha, quad)
    return quad, clamp_quad(quad, canvas.shape[1], canvas.shape[0])


def clamp_quad(quad: np.ndarray, width: int, height: int) -> Box | None:
    """The pixel box around ``quad``, clamped to a ``width`` x ``height`` picture; None if outside."""
    x1, y1 = np.floor(quad.min(0)).astype(int)
    x2, y2 = np.ceil(quad.max(0)).astype(int)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    return (int(x1), int(y1), int(x2), int(y2)) if x2 > x1 and y2 > y1 else None


def part_boxes(sprite: Sprite, quad: np.ndarray) -> list[tuple[float, float, float, float]]:
    """The sprite's ``parts`` in picture pixels, for a sprite placed upright on ``quad``."""
    x0, y0 = quad.min(0)
    w, h = np.ptp(quad[:, 0]), np.ptp(quad[:, 1])
    return [(x0 + a * w, y0 + b * h, x0 + c * w, y0 + d * h) for a, b, c, d in sprite.parts]
