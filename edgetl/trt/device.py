"""Where an engine is built and run: GPU name and compute capability, Jetson model, L4T and JetPack.

Reading these needs no TensorRT: the GPU comes from torch's CUDA device, the rest from files that
L4T installs. ``edgetl doctor`` shows the same facts.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

NV_TEGRA_RELEASE = "/etc/nv_tegra_release"
DEVICE_TREE_MODEL = "/proc/device-tree/model"

# L4T (Jetson Linux) release -> JetPack, from NVIDIA's JetPack archive; the first match of a prefix wins.
_JETPACK = (
    ("36.4.4", "6.2.1"), ("36.4.3", "6.2"), ("36.4", "6.1"), ("36.3", "6.0"), ("36.2", "6.0 DP"),
    ("35.6", "5.1.4"), ("35.5", "5.1.3"), ("35.4", "5.1.2"), ("35.3", "5.1.1"), ("35.2", "5.1"),
    ("35.1", "5.0.2"), ("32.7", "4.6.x"),
)


@dataclass(frozen=True)
class DeviceFacts:
    gpu: str | None = None
    compute_capability: str | None = None  # "8.7"
    jetson_model: str | None = None
    l4t_release: str | None = None  # "36.4.3"
    jetpack: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def parse_l4t_release(text: str | None) -> str | None:
    """'# R36 (release), REVISION: 4.3, GCID: ...' -> '36.4.3'."""
    if not text:
        return None
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"{m.group(1)}.{m.group(2).rstrip('.')}" if m else None


def jetpack_for(l4t: str | None) -> str | None:
    if not l4t:
        return None
    for prefix, jp in _JETPACK:
        if l4t == prefix or l4t.startswith(prefix + "."):
            return jp
    return None


def read_text(path: str) -> str | None:
    try:
        return Path(path).read_bytes().decode("utf-8", "replace").replace("\x00", "").strip()
    except OSError:
        return None


def gpu_facts() -> tuple[str | None, str | None]:
    """(name, compute capability) of CUDA device 0 as torch sees it, or (None, None)."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None, None
        major, minor = torch.cuda.get_device_capability(0)
        return torch.cuda.get_device_name(0), f"{major}.{minor}"
    except Exception:  # a broken CUDA install reads as "no GPU"; doctor says more
        return None, None


def current_device() -> DeviceFacts:
    gpu, cc = gpu_facts()
    l4t = parse_l4t_release(read_text(NV_TEGRA_RELEASE))
    return DeviceFacts(gpu=gpu, compute_capability=cc, jetson_model=read_text(DEVICE_TREE_MODEL) if l4t else None,
                       l4t_release=l4t, jetpack=jetpack_for(l4t))
