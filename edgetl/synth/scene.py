"""Put a drawn sign into a real photograph the way a camera would see it.

Backgrounds are photographs that installed packages ship (scikit-image's data images and, when
scikit-learn is installed, its sample images). A view is: a background crop, the sign warped with
rotation and perspective, an optional post and occluder, then the camera: blur, lighting, colour
cast, sensor resolution, noise and JPEG compression.

The photographs are shared between the data set and the drive-by video without sharing pixels: the
data set draws from the left ``DATA_SHARE`` of each scenery photograph (and the whole of the others),
the video pans across the rest (``data_photos``, ``video_photos``). A model trained on the data set
has not seen the video's backgrounds, so its false alarms on the video are measured, not learned.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

# scikit-image data images that load offline from the installed package (photographs and textures)
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "brick", "grass",
                  "gravel", "clock", "hubble_deep_field", "immunohistochemistry")


@functools.lru_cache(maxsize=1)
def backgrounds() -> tuple[tuple[str, np.ndarray], ...]:
    """(name, BGR uint8 photo) pairs, in a fixed order."""
    import skimage.data as skd

    out = []
    for name in SKIMAGE_PHOTOS:
        try:
            out.append((f"skimage:{name}", _bgr(getattr(skd, name)())))
        except Exception as exc:  # an image missing from this scikit-image build
            log.debug("background %s unavailable: %s", name, exc)
    try:
        out.append(("skimage:stereo_motorcycle", _bgr(skd.stereo_motorcycle()[0])))
    except Exception as exc:
        log.debug("background stereo_motorcycle unavailable: %s", exc)
    try:
        from sklearn.datasets import load_sample_images

        samples = load_sample_images()
        for fname, img in zip(samples.filenames, samples.images):
            out.append((f"sklearn:{Path(fname).name}", _bgr(img)))
    except Exception as exc:  # scikit-learn is optional
        log.debug("scikit-learn sample images unavailable: %s", exc)
    if not out:
        raise RuntimeError("no background photographs could be loaded from scikit-image")
    return tuple(out)


# photographs that are not scenery (microscopy, a star field, coins, a clock): the data set uses them
# whole, the drive-by video not at all
NOT_SCENERY = ("hubble_deep_field", "immunohistochemistry", "coins", "clock")
DATA_SHARE = 0.6  # of each scenery photo's width, from the left, for the data set; the video gets the rest


def _is_scenery(name: str) -> bool:
    return not name.endswith(NOT_SCENERY)


@functools.lru_cache(maxsize=1)
def data_photos() -> tuple[tuple[str, np.ndarray], ...]:
    """The pixels the data set may use: the left ``DATA_SHARE`` of each scenery photo, the others whole."""
    return tuple((name, img[:, : int(img.shape[1] * DATA_SHARE)] if _is_scenery(name) else img)
                 for name, img in backgrounds())


@functools.lru_cache(maxsize=1)
def video_photos() -> tuple[tuple[str, np.ndarray], ...]:
    """The pixels the drive-by video may use: the right part of each scenery photo, disjoint from
    ``data_photos``."""
    return tuple((name, img[:, int(img.shape[1] * DATA_SHARE):]) for name, img in backgrounds() if _is_scenery(name))


@functools.lru_cache(maxsize=1)
def _pyramids() -> tuple[tuple[np.ndarray, ...], ...]:
    """Each data photo at full, 1/2, 1/4 and 1/8 size, so small crops resize cheaply."""
    out = []
    for _, img in data_photos():
        levels = [img]
        for _ in range(3):
            levels.append(cv2.pyrDown(levels[-1]))
        out.append(tuple(levels))
    return tuple(out)


def _bgr(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(img[..., 2::-1])


def background_crop(rng: np.random.Generator, out_w: int, out_h: int, region: tuple | None = None) -> np.ndarray:
    """A random (or the given ``(index, x, y, size, flip)``) square region of a data photo, resized."""
    if region is None:
        region = random_region(rng)
    i, fx, fy, fs, flip = region
    levels = _pyramids()[i % len(data_photos())]
    h, w = levels[0].shape[:2]
    side = max(8, int(fs * min(h, w)))
    x, y = int(fx * (w - side)), int(fy * (h - side))
    k = 0
    while k + 1 < len(levels) and side >> (k + 1) >= 2 * max(out_w, out_h):
        k += 1
    x, y, side = x >> k, y >> k, max(4, side >> k)
    crop = levels[k][y:y + side, x:x + side]
    if flip:
        crop = crop[:, ::-1]
    return cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA if side > out_w else cv2.INTER_LINEAR)


def random_region(rng: np.random.Generator) -> tuple[int, float, float, float, bool]:
    return (int(rng.integers(len(data_photos()))), float(rng.random()), float(rng.random()),
            float(rng.uniform(0.12, 0.6)), bool(rng.random() < 0.5))


@dataclass(frozen=True)
class Camera:
    """The look of one view: optics, exposure, sensor."""

    gauss_sigma: float = 0.0  # optical blur, in output pixels
    motion_len: float = 0.0  # motion blur length, output pixels
    motion_deg: float = 0.0
    gain: float = 1.0  # exposure: < 0.6 dim, > 1.5 over-exposed
    gamma: float = 1.0
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel colour cast (BGR)
    noise: float = 0.0  # sensor noise sigma, grey levels
    jpeg: int = 0  # JPEG quality, 0 = none
    scene_gain: float = 1.0  # light on the scene; at night only the retro-reflective sign stays bright

    @staticmethod
    def random(rng: np.random.Generator) -> "Camera":
        mood = rng.random()
        if mood < 0.15:  # night: dark scene, sign lit by headlights
            gain, gamma, scene = rng.uniform(0.6, 1.0), rng.uniform(1.0, 1.4), rng.uniform(0.12, 0.4)
        elif mood < 0.27:  # over-exposed
            gain, gamma, scene = rng.uniform(1.3, 1.9), rng.uniform(0.7, 1.0), 1.0
        else:
            gain, gamma, scene = rng.uniform(0.6, 1.3), rng.uniform(0.8, 1.25), 1.0
        cast = tuple(float(v) for v in rng.uniform(0.8, 1.2, 3)) if rng.random() < 0.4 else (1.0, 1.0, 1.0)
        moving = rng.random() < 0.35
        return Camera(
            gauss_sigma=float(rng.uniform(0.0, 1.3)) if rng.random() < 0.6 else 0.0,
            motion_len=float(rng.uniform(2.0, 6.0)) if moving else 0.0,
            motion_deg=float(rng.uniform(0, 180)),
            gain=float(gain), gamma=float(gamma), cast=cast, scene_gain=float(scene),
            noise=float(rng.uniform(1.0, 10.0)) if rng.random() < 0.7 else 0.0,
            jpeg=int(rng.integers(25, 90)) if rng.random() < 0.5 else 0,
        )


def sign_quad(cx: float, cy: float, diam: float, yaw: float, pitch: float,
              roll: float) -> np.ndarray:
    """Corners (tl, tr, br, bl) of a sign of ``diam`` pixels seen under ``yaw``/``pitch``/``roll`` (degrees)."""
    r = diam / 2
    sq = np.array([[-r, -r], [r, -r], [r, r], [-r, r]], np.float64)
    ky, kp = np.sin(np.deg2rad(yaw)), np.sin(np.deg2rad(pitch))
    sq[:, 0] *= np.cos(np.deg2rad(yaw))
    sq[:, 1] *= np.cos(np.deg2rad(pitch))
    sq[:, 1] *= 1 + 0.25 * ky * np.sign(sq[:, 0])  # the nearer edge looks taller
    sq[:, 0] *= 1 + 0.25 * kp * np.sign(sq[:, 1])
    a = np.deg2rad(roll)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return sq @ rot.T + np.array([cx, cy])


def paste_sign(canvas: np.ndarray, sign: np.ndarray, alpha: np.ndarray, quad: np.ndarray) -> None:
    """Warp ``sign`` (with ``alpha``; any aspect) onto ``quad`` (tl, tr, br, bl) of ``canvas`` in place,
    anti-aliased."""
    h, w = canvas.shape[:2]
    target = float(np.ptp(quad[:, 0]) + np.ptp(quad[:, 1])) / 2
    sh, sw = sign.shape[:2]
    if target * 2 < max(sh, sw):  # pre-shrink so the warp does not alias
        f = target * 2 / max(sh, sw)
        size = (max(8, int(sw * f)), max(8, int(sh * f)))
        sign = cv2.resize(sign, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        sw, sh = size
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
    m = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    x0, y0 = np.floor(quad.min(0)).astype(int) - 1
    x1, y1 = np.ceil(quad.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    m = shift @ m
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpPerspective(sign, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    a = cv2.warpPerspective(alpha, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    a = a.astype(np.float32)[..., None] * np.float32(1 / 255)
    roi = canvas[y0:y1, x0:x1].astype(np.float32)
    fg = warped.astype(np.float32)
    canvas[y0:y1, x0:x1] = np.clip(roi + (fg - roi) * a, 0, 255).astype(np.uint8)


def rect_quad(cx: float, cy: float, w: float, h: float) -> np.ndarray:
    """Corners (tl, tr, br, bl) of an upright ``w`` x ``h`` rectangle centred on (cx, cy)."""
    return np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2], [cx + w / 2, cy + h / 2],
                     [cx - w / 2, cy + h / 2]], np.float64)


def scene_canvas(rng: np.random.Generator, out_w: int, out_h: int) -> np.ndarray:
    """A ``out_w`` x ``out_h`` view of a random part of a data photo (a street-scene-sized canvas)."""
    photos = data_photos()
    img = photos[int(rng.integers(len(photos)))][1]
    h, w = img.shape[:2]
    aspect = out_w / out_h
    full_w = min(w, h * aspect)  # the largest region of the output's aspect
    f = rng.uniform(0.35, 1.0)
    rw, rh = max(8, int(full_w * f)), max(8, int(full_w * f / aspect))
    x, y = int(rng.uniform(0, w - rw + 1)), int(rng.uniform(0, h - rh + 1))
    crop = img[y:y + rh, x:x + rw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_LINEAR)


def draw_post(canvas: np.ndarray, cx: float, bottom: float, width: float, shade: int) -> None:
    h = canvas.shape[0]
    x0, x1 = int(round(cx - width / 2)), int(round(cx + width / 2))
    if bottom < h and x1 > x0:
        canvas[int(bottom):, max(0, x0):max(0, x1)] = (shade, shade, shade)


def occlude(canvas: np.ndarray, rng: np.random.Generator, quad: np.ndarray, max_frac: float,
            light: float = 1.0) -> None:
    """Cover up to ``max_frac`` of the sign's width from one side with a piece of another photo."""
    h, w = canvas.shape[:2]
    x0, y0 = quad.min(0)
    x1, y1 = quad.max(0)
    side = int(rng.integers(4))
    depth = rng.uniform(0.08, max_frac)
    patch = background_crop(rng, w, h).astype(np.float32) * np.float32(light)
    mask = np.zeros((h, w), np.uint8)
    jag = rng.uniform(-0.06, 0.06, 2)  # a slanted edge, like a branch or a parked van
    if side == 0:  # from the left
        e = x0 + (x1 - x0) * (depth + jag)
        pts = [[0, 0], [e[0], 0], [e[1], h], [0, h]]
    elif side == 1:
        e = x1 - (x1 - x0) * (depth + jag)
        pts = [[e[0], 0], [w, 0], [w, h], [e[1], h]]
    elif side == 2:  # from below
        e = y1 - (y1 - y0) * (depth + jag)
        pts = [[0, e[0]], [w, e[1]], [w, h], [0, h]]
    else:
        e = y0 + (y1 - y0) * (depth + jag)
        pts = [[0, 0], [w, 0], [w, e[1]], [0, e[0]]]
    cv2.fillPoly(mask, [np.round(np.array(pts) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    a = mask.astype(np.float32)[..., None] / 255
    canvas[:] = (canvas * (1 - a) + patch * a).astype(np.uint8)


def apply_camera(img: np.ndarray, cam: Camera, sensor: int, rng: np.random.Generator) -> np.ndarray:
    """Optics, exposure, sensor resolution ``sensor`` (pixels across), noise and JPEG."""
    h, w = img.shape[:2]
    if cam.gauss_sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), cam.gauss_sigma)
    if cam.motion_len >= 1.5:
        img = cv2.filter2D(img, -1, _motion_kernel(cam.motion_len, cam.motion_deg))
    f = img.astype(np.float32) * np.float32(1 / 255)
    f = np.power(np.clip(f * np.float32(cam.gain) * np.asarray(cam.cast, np.float32), 0, 1), np.float32(cam.gamma))
    img = (f * 255 + 0.5).astype(np.uint8)
    small = sensor < min(h, w)
    if small:
        sh = max(4, int(round(sensor * h / w)))
        img = cv2.resize(img, (sensor, sh), interpolation=cv2.INTER_AREA)
    if cam.noise > 0:
        n = rng.normal(0, cam.noise, img.shape).astype(np.float32)
        img = np.clip(img.astype(np.float32) + n, 0, 255).astype(np.uint8)
    if cam.jpeg:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, cam.jpeg])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if small:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return img


@functools.lru_cache(maxsize=256)
def _motion_kernel_cached(length: int, deg: int) -> np.ndarray:
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    d = np.array([np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))]) * c
    cv2.line(k, (int(round(c - d[0])), int(round(c - d[1]))), (int(round(c + d[0])), int(round(c + d[1]))), 1.0, 1)
    return k / k.sum()


def _motion_kernel(length: float, deg: float) -> np.ndarray:
    return _motion_kernel_cached(max(2, int(round(length))) | 1, int(deg) % 180)
