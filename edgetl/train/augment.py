"""Batched augmentation for sign-like images, on whatever device the batch lives on.

One random homography per image (rotation, scale, shift, a little perspective) applied with a single
``grid_sample``, then brightness, contrast, saturation and an occasional blur. No horizontal flip by
default: keep-left and keep-right are mirror images of each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    rotate_deg: float = 10.0
    scale: tuple[float, float] = (0.85, 1.15)
    shift: float = 0.08  # fraction of the image
    perspective: float = 0.06  # corner jitter, fraction of the image
    brightness: float = 0.4
    contrast: float = 0.3
    saturation: float = 0.3
    blur_p: float = 0.25
    hflip: bool = False


def _homographies(n: int, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """(n, 3, 3) maps from output to input, in normalised [-1, 1] coordinates."""
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    ang = (u(n) * 2 - 1) * math.radians(cfg.rotate_deg)
    s = cfg.scale[0] + u(n) * (cfg.scale[1] - cfg.scale[0])
    tx, ty = [(u(n) * 2 - 1) * 2 * cfg.shift for _ in range(2)]
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    H = torch.zeros(n, 3, 3)
    H[:, 0, 0], H[:, 0, 1], H[:, 0, 2] = cos, -sin, tx
    H[:, 1, 0], H[:, 1, 1], H[:, 1, 2] = sin, cos, ty
    H[:, 2, 2] = 1
    H[:, 2, 0], H[:, 2, 1] = [(u(n) * 2 - 1) * cfg.perspective for _ in range(2)]
    if cfg.hflip:
        flip = u(n) < 0.5
        H[flip, :, 0] *= -1
    return H


def _warp(x: torch.Tensor, H: torch.Tensor, size: int) -> torch.Tensor:
    n = x.shape[0]
    lin = torch.linspace(-1, 1, size, device=x.device)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    pts = torch.stack([xx, yy, torch.ones_like(xx)], -1).reshape(1, -1, 3).expand(n, -1, -1)
    src = pts @ H.to(x.device).transpose(1, 2)
    grid = (src[..., :2] / src[..., 2:].clamp(min=1e-3)).reshape(n, size, size, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=True)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    k = torch.arange(-2, 3, device=x.device, dtype=x.dtype)
    w = torch.exp(-(k**2) / (2 * sigma**2))
    w = w / w.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="reflect"), w.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(F.pad(x, (0, 0, 2, 2), mode="reflect"), w.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def augment(x: torch.Tensor, size: int, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """float (N, 3, R, R) in [0, 1] -> augmented float (N, 3, size, size) in [0, 1]."""
    n = x.shape[0]
    x = _warp(x, _homographies(n, cfg, g), size)
    dev = x.device
    u = lambda: torch.rand(n, 1, 1, 1, generator=g).to(dev)  # noqa: E731
    x = x * (1 + (u() * 2 - 1) * cfg.brightness)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (1 + (u() * 2 - 1) * cfg.contrast) + mean
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * (1 + (u() * 2 - 1) * cfg.saturation) + grey
    if cfg.blur_p > 0:
        pick = (torch.rand(n, generator=g) < cfg.blur_p).to(dev)
        if pick.any():
            sigma = 0.4 + float(torch.rand(1, generator=g)) * 0.8
            x = torch.where(pick.view(n, 1, 1, 1), _blur(x, sigma), x)
    return x.clamp_(0, 1)
