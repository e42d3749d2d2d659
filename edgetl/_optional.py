"""Import optional heavy dependencies only where they are needed.

When one is missing, the error names the package and how to get it on this platform. On a Jetson,
TensorRT and CUDA come with JetPack: edgetl never pip-installs anything at run time.
"""

from __future__ import annotations

import importlib
import platform
from types import ModuleType

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
