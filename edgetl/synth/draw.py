"""Road signs modelled on European (Vienna Convention) signs, drawn with OpenCV.

Each sign is drawn on a square canvas with an alpha mask: the right shape, border, colours, digits
and pictogram. ``render_sign`` adds the variation of one physical sign (paint colour, fading, font,
stroke width), so two tracks of the same class differ the way two real signs do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

# BGR paint colours
RED, BLUE, YELLOW = (40, 30, 200), (165, 85, 15), (10, 195, 250)
WHITE, BLACK, GREY = (245, 245, 245), (25, 25, 25), (120, 120, 120)
AA = cv2.LINE_AA


@dataclass(frozen=True)
class Style:
    """How one physical sign looks: font, stroke and border widths."""

    font: int = cv2.FONT_HERSHEY_SIMPLEX
    stroke: float = 1.0  # pictogram/digit stroke width factor
    border: float = 1.0  # border width factor


def _pts(a) -> np.ndarray:
    return np.round(np.asarray(a, np.float64) * 16).astype(np.int32)  # 4 fractional bits


def fill_poly(img, mask, pts, colour) -> None:
    """Fill the polygon ``pts`` (float pixels, anti-aliased, 4 fractional bits) in ``img`` and ``mask``."""
    p = [_pts(pts)]
    cv2.fillPoly(img, p, colour, AA, shift=4)
    if mask is not None:
        cv2.fillPoly(mask, p, 255, AA, shift=4)


def fill_disc(img, mask, c, r, colour) -> None:
    """Fill the disc at ``c`` of radius ``r`` (float pixels, at least 1/16) in ``img`` and ``mask``."""
    cc = tuple(int(round(v * 16)) for v in c)
    r16 = max(1, int(round(r * 16)))
    cv2.circle(img, cc, r16, colour, -1, AA, shift=4)
    if mask is not None:
        cv2.circle(mask, cc, r16, 255, -1, AA, shift=4)


def _line(img, a, b, colour, width) -> None:
    cv2.line(img, tuple(_pts(a)), tuple(_pts(b)), colour, max(1, int(round(width))), AA, shift=4)


def _regular(n: int, c: float, r: float, start_deg: float) -> np.ndarray:
    ang = np.deg2rad(start_deg + 360.0 * np.arange(n) / n)
    return np.stack([c + r * np.cos(ang), c + r * np.sin(ang)], 1)


def _text(img, text: str, c, width: float, height: float, colour, style: Style, thick: float) -> None:
    """Centre ``text`` in a ``width`` x ``height`` box around ``c``."""
    t = max(1, int(round(thick * style.stroke)))
    (w, h), _ = cv2.getTextSize(text, style.font, 1.0, t)
    scale = min(width / w, height / h)
    t = max(1, int(round(thick * style.stroke)))
    (w, h), _ = cv2.getTextSize(text, style.font, scale, t)
    org = (int(round(c[0] - w / 2)), int(round(c[1] + h / 2)))
    cv2.putText(img, text, org, style.font, scale, colour, t, AA)


# --- sign bodies ------------------------------------------------------------------------------------

def _ring(img, mask, s, style, fill, ring=RED, frac=0.11) -> tuple[float, float]:
    c, r = s / 2, s / 2 - 1
    fill_disc(img, mask, (c, c), r, ring)
    inner = r * (1 - frac * style.border)
    fill_disc(img, None, (c, c), inner, fill)
    return c, inner


def _triangle(img, mask, s, style, down=False) -> tuple[np.ndarray, float]:
    m = 2.0
    side = s - 2 * m
    h = side * np.sqrt(3) / 2
    top = (s - h) / 2
    pts = np.array([[s / 2, top], [m, top + h], [s - m, top + h]])
    if down:
        pts[:, 1] = s - pts[:, 1]
    fill_poly(img, mask, pts, RED)
    centroid = pts.mean(0)
    inner = centroid + (pts - centroid) * (1 - 0.30 * style.border)
    fill_poly(img, None, inner, WHITE)
    return centroid, side


def _warning(draw_picto: Callable) -> Callable:
    def draw(img, mask, s, style):
        (cx, cy), side = _triangle(img, mask, s, style)
        draw_picto(img, cx, cy + s * 0.04, s * 0.30, style)
    return draw


def _mandatory(draw_picto: Callable) -> Callable:
    def draw(img, mask, s, style):
        c = s / 2
        fill_disc(img, mask, (c, c), c - 1, BLUE)
        draw_picto(img, c, c, c * 0.62, style)
    return draw


def _speed(value: int) -> Callable:
    def draw(img, mask, s, style):
        c, inner = _ring(img, mask, s, style, WHITE)
        txt = str(value)
        _text(img, txt, (c, c), inner * (1.15 if len(txt) == 2 else 1.45), inner * 0.85, BLACK, style, s / 20)
    return draw


def _stop(img, mask, s, style):
    c = s / 2
    fill_poly(img, mask, _regular(8, c, c - 1, 22.5), WHITE)
    fill_poly(img, None, _regular(8, c, (c - 1) * (1 - 0.06 * style.border), 22.5), RED)
    _text(img, "STOP", (c, c), s * 0.72, s * 0.26, WHITE, style, s / 22)


def _yield(img, mask, s, style):
    _triangle(img, mask, s, style, down=True)


def _no_entry(img, mask, s, style):
    c = s / 2
    fill_disc(img, mask, (c, c), c - 1, RED)
    hw, hh = s * 0.36, s * 0.09
    fill_poly(img, None, [[c - hw, c - hh], [c + hw, c - hh], [c + hw, c + hh], [c - hw, c + hh]], WHITE)


def _car_front(img, cx, cy, w, colour) -> None:
    """A car seen from behind: body, cabin and wheels."""
    h = w * 0.75
    body = [[cx - w / 2, cy], [cx + w / 2, cy], [cx + w / 2, cy + h * 0.45], [cx - w / 2, cy + h * 0.45]]
    cabin = [[cx - w * 0.36, cy + 2], [cx - w * 0.26, cy - h * 0.45], [cx + w * 0.26, cy - h * 0.45],
             [cx + w * 0.36, cy + 2]]
    fill_poly(img, None, cabin, colour)
    fill_poly(img, None, body, colour)
    for sx in (-1, 1):
        x = cx + sx * w * 0.32
        fill_poly(img, None, [[x - w * 0.1, cy + h * 0.4], [x + w * 0.1, cy + h * 0.4], [x + w * 0.1, cy + h * 0.62],
                          [x - w * 0.1, cy + h * 0.62]], colour)
    fill_poly(img, None, [[cx - w * 0.18, cy - h * 0.35], [cx + w * 0.18, cy - h * 0.35], [cx + w * 0.22, cy - 2],
                      [cx - w * 0.22, cy - 2]], WHITE)


def _no_overtaking(img, mask, s, style):
    c, inner = _ring(img, mask, s, style, WHITE)
    _car_front(img, c - inner * 0.42, c - s * 0.02, inner * 0.62, RED)
    _car_front(img, c + inner * 0.42, c - s * 0.02, inner * 0.62, BLACK)


def _priority(img, mask, s, style):
    c = s / 2
    fill_poly(img, mask, _regular(4, c, c - 1, 0), WHITE)
    fill_poly(img, None, _regular(4, c, c - 1, 0), WHITE)
    cv2.polylines(img, [_pts(_regular(4, c, c - 1.5, 0))], True, BLACK, 1, AA, shift=4)
    fill_poly(img, None, _regular(4, c, (c - 1) * (1 - 0.28 * style.border), 0), YELLOW)


def _end_all(img, mask, s, style):
    c = s / 2
    fill_disc(img, mask, (c, c), c - 1, GREY)
    fill_disc(img, None, (c, c), c - 1 - max(1.0, s * 0.015), WHITE)
    d = np.array([1, 1]) / np.sqrt(2)
    n = np.array([1, -1]) / np.sqrt(2)
    for k in np.linspace(-0.16, 0.16, 5):
        mid = np.array([c, c]) + d * k * s
        _line(img, mid - n * s * 0.43, mid + n * s * 0.43, BLACK, s * 0.018 * style.stroke)


def _no_parking(img, mask, s, style):
    c, inner = _ring(img, mask, s, style, BLUE, frac=0.16)
    w = inner * 0.17 * style.border
    a, b = np.array([c, c]) - inner * 0.72, np.array([c, c]) + inner * 0.72
    _line(img, a, b, RED, 2 * w)


def _square_info(draw_picto: Callable) -> Callable:
    def draw(img, mask, s, style):
        m = 2.0
        fill_poly(img, mask, [[m, m], [s - m, m], [s - m, s - m], [m, s - m]], BLUE)
        draw_picto(img, s, style)
    return draw


def _walker(img, x, y, h, style, colour=BLACK, stride=1.0) -> None:
    """A walking figure with its feet at (x, y), ``h`` tall."""
    w = h * 0.11 * style.stroke
    fill_disc(img, None, (x + h * 0.05, y - h * 0.9), h * 0.1, colour)
    hip, neck = (x, y - h * 0.42), (x + h * 0.04, y - h * 0.75)
    _line(img, hip, neck, colour, w * 1.3)
    _line(img, hip, (x - h * 0.2 * stride, y), colour, w)
    _line(img, hip, (x + h * 0.22 * stride, y - h * 0.02), colour, w)
    _line(img, neck, (x - h * 0.18, y - h * 0.45), colour, w * 0.8)
    _line(img, neck, (x + h * 0.2, y - h * 0.5), colour, w * 0.8)


def _pedestrian_crossing(img, s, style):
    m = s * 0.12
    tri = np.array([[s / 2, m], [m, s - m * 1.2], [s - m, s - m * 1.2]])
    fill_poly(img, None, tri, WHITE)
    for i in range(4):
        x0 = s * (0.3 + 0.1 * i)
        fill_poly(img, None, [[x0, s * 0.76], [x0 + s * 0.06, s * 0.76], [x0 + s * 0.04, s * 0.8],
                          [x0 - s * 0.02, s * 0.8]], BLACK)
    _walker(img, s * 0.49, s * 0.73, s * 0.46, style)


def _exclaim(img, cx, cy, r, style):
    w = r * 0.2 * style.stroke
    fill_poly(img, None, [[cx - w, cy - r * 0.85], [cx + w, cy - r * 0.85], [cx + w * 0.45, cy + r * 0.35],
                      [cx - w * 0.45, cy + r * 0.35]], BLACK)
    fill_disc(img, None, (cx, cy + r * 0.7), w * 0.9, BLACK)


def _children(img, cx, cy, r, style):
    _walker(img, cx - r * 0.35, cy + r * 0.85, r * 1.5, style)
    _walker(img, cx + r * 0.45, cy + r * 0.85, r * 1.1, style, stride=1.3)


def _road_works(img, cx, cy, r, style):
    w = r * 0.16 * style.stroke
    base = cy + r * 0.8
    fill_disc(img, None, (cx - r * 0.05, cy - r * 0.7), r * 0.16, BLACK)
    hip, neck = (cx - r * 0.3, cy + r * 0.05), (cx - r * 0.1, cy - r * 0.45)
    _line(img, hip, neck, BLACK, w * 1.4)
    _line(img, hip, (cx - r * 0.65, base), BLACK, w)
    _line(img, hip, (cx - r * 0.05, base), BLACK, w)
    _line(img, neck, (cx + r * 0.35, cy - r * 0.05), BLACK, w * 0.9)
    _line(img, (cx + r * 0.05, cy - r * 0.35), (cx + r * 0.55, cy + r * 0.45), BLACK, w * 0.6)
    fill_poly(img, None, [[cx + r * 0.25, base], [cx + r * 0.65, cy + r * 0.3], [cx + r * 0.95, base]], BLACK)


def _slippery(img, cx, cy, r, style):
    _car_front(img, cx, cy - r * 0.45, r * 0.95, BLACK)
    w = r * 0.1 * style.stroke
    for sx in (-1, 1):
        t = np.linspace(0, 1, 12)
        xs = cx + sx * r * 0.28 + r * 0.28 * np.sin(t * 2 * np.pi) * sx
        ys = cy + r * 0.05 + t * r * 0.8
        cv2.polylines(img, [_pts(np.stack([xs, ys], 1))], False, BLACK, max(1, int(round(w))), AA, shift=4)


def _arrow(img, pts, colour, width, head) -> None:
    """A polyline shaft through ``pts`` ending in a filled head of size ``head``."""
    pts = np.asarray(pts, np.float64)
    d = pts[-1] - pts[-2]
    d /= np.linalg.norm(d)
    n = np.array([-d[1], d[0]])
    tip = pts[-1]
    base = tip - d * head
    cv2.polylines(img, [_pts(np.vstack([pts[:-1], base + d]))], False, colour, max(1, int(round(width))), AA, shift=4)
    fill_poly(img, None, [tip, base + n * head * 0.65, base - n * head * 0.65], colour)


def _ahead(img, cx, cy, r, style):
    _arrow(img, [(cx, cy + r), (cx, cy - r)], WHITE, r * 0.32 * style.stroke, r * 0.7)


def _turn_right(img, cx, cy, r, style):
    t = np.linspace(np.pi, np.pi / 2, 10)
    arc = np.stack([cx + r * 0.35 + r * 0.7 * np.cos(t), cy + r * 0.15 - r * 0.7 * np.sin(t)], 1)
    pts = np.vstack([[cx - r * 0.35, cy + r], arc, [cx + r * 0.95, cy - r * 0.55]])
    _arrow(img, pts, WHITE, r * 0.3 * style.stroke, r * 0.6)


def _keep_right(img, cx, cy, r, style):
    _arrow(img, [(cx - r * 0.65, cy - r * 0.65), (cx + r * 0.7, cy + r * 0.7)], WHITE, r * 0.3 * style.stroke, r * 0.65)


def _roundabout(img, cx, cy, r, style):
    for k in range(3):
        a0 = np.deg2rad(90 + 120 * k + 20)
        t = a0 - np.linspace(0, np.deg2rad(85), 10)
        pts = np.stack([cx + r * 0.72 * np.cos(t), cy - r * 0.72 * np.sin(t)], 1)
        _arrow(img, pts, WHITE, r * 0.2 * style.stroke, r * 0.42)


def _mirrored(draw: Callable) -> Callable:
    def draw_m(img, mask, s, style):
        tmp_i, tmp_m = np.zeros_like(img), np.zeros_like(mask)
        draw(tmp_i, tmp_m, s, style)
        img[:] = tmp_i[:, ::-1]
        mask[:] = tmp_m[:, ::-1]
    return draw_m


_DRAW: dict[str, Callable] = {
    **{f"speed_limit_{v}": _speed(v) for v in (20, 30, 50, 60, 70, 80, 100, 120)},
    "stop": _stop,
    "yield": _yield,
    "no_entry": _no_entry,
    "no_overtaking": _no_overtaking,
    "priority_road": _priority,
    "pedestrian_crossing": _square_info(_pedestrian_crossing),
    "children": _warning(_children),
    "road_works": _warning(_road_works),
    "slippery_road": _warning(_slippery),
    "general_caution": _warning(_exclaim),
    "roundabout": _mandatory(_roundabout),
    "ahead_only": _mandatory(_ahead),
    "turn_right": _mandatory(_turn_right),
    "turn_left": _mirrored(_mandatory(_turn_right)),
    "keep_right": _mandatory(_keep_right),
    "keep_left": _mirrored(_mandatory(_keep_right)),
    "end_of_all_restrictions": _end_all,
    "no_parking": _no_parking,
}

SIGN_CLASSES: tuple[str, ...] = tuple(_DRAW)


def draw_sign(name: str, size: int = 160, style: Style | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The clean sign ``name``: BGR uint8 (size, size, 3) and its uint8 alpha mask."""
    img = np.zeros((size, size, 3), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    _DRAW[name](img, mask, size, style or Style())
    return img, mask


def random_style(rng: np.random.Generator) -> Style:
    fonts = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX)
    return Style(font=fonts[int(rng.integers(len(fonts)))], stroke=float(rng.uniform(0.8, 1.25)),
                 border=float(rng.uniform(0.8, 1.2)))


def render_sign(name: str, rng: np.random.Generator, size: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """One physical sign of class ``name``: its style, paint shade and fading drawn from ``rng``."""
    img, mask = draw_sign(name, size, random_style(rng))
    f = img.astype(np.float32)
    f *= rng.uniform(0.85, 1.08, 3).astype(np.float32)  # paint shade
    fade = rng.uniform(0.0, 0.45) if rng.random() < 0.5 else 0.0  # sun-bleached paint
    if fade:
        grey = f.mean(axis=2, keepdims=True)
        f += (grey * 0.4 + 150.0 - f) * np.float32(fade)
    return np.clip(f, 0, 255).astype(np.uint8), mask
