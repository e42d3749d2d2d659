"""The self-describing ``model.pt`` and the resumable training checkpoint.

Both are plain dictionaries of tensors and JSON-able values, so ``torch.load(weights_only=True)``
reads them: loading a model never runs code from the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgetl import __version__, backbones
from edgetl.errors import ModelError
from edgetl.fileio import atomic_path, sha256_file
from edgetl.spec import ModelInfo

FORMAT = "edgetl.model"
TRAIN_STATE_FORMAT = "edgetl.train_state"
FORMAT_VERSION = 1


def save_model(path: str | os.PathLike, model: nn.Module, info: ModelInfo, **extra: Any) -> Path:
    """Write ``model.pt`` atomically: weights plus everything needed to use them."""
    state = {k: v.detach().cpu().contiguous() for k, v in _unwrap(model).state_dict().items()}
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "info": info.to_dict(),
               "state_dict": state, "edgetl_version": __version__, "torch_version": str(torch.__version__), **extra}
    return _save(path, payload)


def _save(path: str | os.PathLike, payload: dict) -> Path:
    """``torch.save`` atomically; a failed write (disk full...) is one ``OutputError`` naming ``path``.

    torch is given an open file, not a name, so that the OSError of a failed write reaches us behind
    torch's own RuntimeError (``fileio.writing`` looks for it there).
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(payload, f)
    return Path(path)


def _read(path: str | os.PathLike, expected_format: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file" + (
            "; run 'edgetl finetune' first" if path.name == "model.pt" else ""))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path} is corrupt or not a PyTorch file ({first})") from exc
    if not isinstance(obj, dict) or obj.get("format") != expected_format:
        raise ModelError(f"{path} is not an edgetl {expected_format.split('.')[1]} file (format "
                         f"{obj.get('format') if isinstance(obj, dict) else type(obj).__name__!r})")
    if int(obj.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelError(f"{path} was written by edgetl {obj.get('edgetl_version')} in format version "
                         f"{obj['format_version']}; this edgetl {__version__} reads up to {FORMAT_VERSION}: upgrade edgetl")
    return obj


def load_model(path: str | os.PathLike) -> tuple[nn.Module, ModelInfo]:
    """Rebuild the network from ``model.pt`` (eval mode, CPU) and return it with its description."""
    obj = _read(path, FORMAT)
    info = ModelInfo.from_dict(obj["info"])
    spec = backbones.get_spec(info.backbone)
    model = backbones.build_model(spec, info.num_classes, info.preprocess.size)
    try:
        model.load_state_dict(obj["state_dict"], strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not fit {info.backbone} with {info.num_classes} classes "
                         f"({str(exc).splitlines()[0]})") from exc
    model.eval()
    return model, info.replace(source_sha256=info.source_sha256 or sha256_file(path))


def read_model_file(path: str | os.PathLike) -> dict:
    """The raw ``model.pt`` dictionary (metrics, config), validated."""
    return _read(path, FORMAT)


def save_train_state(path: str | os.PathLike, **state: Any) -> Path:
    payload = {"format": TRAIN_STATE_FORMAT, "format_version": FORMAT_VERSION, "edgetl_version": __version__, **state}
    return _save(path, payload)


def load_train_state(path: str | os.PathLike) -> dict:
    return _read(path, TRAIN_STATE_FORMAT)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model
