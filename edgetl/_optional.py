"""Import optional heavy dependencies only where they are needed.

When one is missing, the error names the package and how to get it on this platform. On a Jetson,
TensorRT and CUDA come with JetPack: edgetl never pip-installs anything at run time.
"""

from __future__ import annotations

import importlib
import platform
import sys
from types import ModuleType
from typing import Any

from edgetl.errors import MissingDependencyError

_HOW = {
    "tensorrt": (
        "TensorRT is not installed. On a Jetson it comes with JetPack (use Dockerfile.jetson or the "
        "python3-libnvinfer package); on an x86 workstation install NVIDIA's TensorRT 10 wheels "
        "('pip install tensorrt') with a matching CUDA driver."
    ),
    "cuda": "cuda-python is not installed: 'pip install cuda-python' (or use torch CUDA tensors).",
    "onnxruntime": "onnxruntime is not installed: 'pip install onnxruntime' (onnxruntime-gpu on a CUDA machine).",
    "onnx": "onnx is not installed: 'pip install onnx'.",
    "matplotlib": "matplotlib is not installed: 'pip install matplotlib'.",
}


def is_jetson() -> bool:
    return platform.machine() == "aarch64" and _exists("/etc/nv_tegra_release")


def _exists(path: str) -> bool:
    import os

    return os.path.exists(path)


def require(module: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise a one-line error saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        key = package or module.split(".")[0]
        how = _HOW.get(key, f"'{key}' is not installed: 'pip install {key}'.")
        raise MissingDependencyError(how) from exc


def available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def lazy_attributes(package: str, where: dict[str, str], names: list[str]) -> tuple[Any, Any]:
    """A package's ``__getattr__`` and ``__dir__`` that import ``where[name]`` (a module) the first time
    ``name`` is looked up, so importing the package stays light:
    ``__getattr__, __dir__ = lazy_attributes(__name__, {"Runner": "edgetl.runtime.base"}, __all__)``."""
    module = sys.modules[package]

    def __getattr__(name: str) -> Any:
        if name not in where:  # also how 'from package import submodule' falls through to the import system
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(module, name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(names))

    return __getattr__, __dir__
