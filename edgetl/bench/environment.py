"""What machine a number came from: CPU and its INT8 instructions, threads, library versions, Jetson state.

A latency without its environment cannot be compared with anything, so every result carries this.
Readers take a ``root`` (``/`` by default) so tests can point them at a fake ``/proc`` and ``/sys``.
"""

from __future__ import annotations

import datetime as _dt
import glob
import importlib.metadata
import importlib.util
import logging
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any, Callable

from edgetl import __version__
from edgetl.trt.device import parse_l4t_release

log = logging.getLogger(__name__)

# CPU features that decide how fast INT8 (and FP32) convolutions can be on the CPU, best first.
INT8_ISA_ORDER = ("amx_int8", "avx512_vnni", "avx_vnni", "avx512bw", "avx2", "i8mm", "asimddp", "asimd")
REPORTED_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
                  "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "asimdhp", "i8mm", "sve")
# (implementer, part) of the Arm cores Jetsons use, for /proc/cpuinfo files that have no "model name".
ARM_PARTS = {("0x41", "0xd42"): "Arm Cortex-A78AE", ("0x4e", "0x004"): "NVIDIA Carmel",
             ("0x41", "0xd07"): "Arm Cortex-A57", ("0x4e", "0x003"): "NVIDIA Denver 2"}
GPU_DEVFREQ_NAMES = ("gpu", "ga10b", "gv11b", "gp10b", "gb10b")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text.strip()) if text else None
    except ValueError:
        return None


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """Model, INT8-relevant flags and core counts from the text of ``/proc/cpuinfo``."""
    blocks = [b for b in text.strip().split("\n\n") if b.strip()]
    fields: list[dict[str, str]] = []
    for block in blocks:
        d = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                d[key.strip().lower()] = value.strip()
        fields.append(d)
    procs = [d for d in fields if "processor" in d and d["processor"].isdigit()] or fields
    first = procs[0] if procs else {}
    flags = set((first.get("flags") or first.get("features") or "").split())
    model = first.get("model name")
    if not model:
        key = (first.get("cpu implementer", "").lower(), first.get("cpu part", "").lower())
        model = ARM_PARTS.get(key) or (f"Arm implementer {key[0]} part {key[1]}" if key[0] else None)
    cores = {(d.get("physical id", "0"), d["core id"]) for d in procs if "core id" in d}
    return {
        "model": model or platform.processor() or "unknown",
        "flags": [f for f in REPORTED_FLAGS if f in flags],
        "int8_isa": next((f for f in INT8_ISA_ORDER if f in flags), "none"),
        "logical_cpus": len(procs) or None,
        "physical_cores": len(cores) or None,
    }


def cpu_info(root: str | os.PathLike = "/") -> dict[str, Any]:
    """The CPU as ``/proc/cpuinfo`` and cpufreq describe it, plus the cores this process may use."""
    root = Path(root)
    info = parse_cpuinfo(_read(root / "proc/cpuinfo") or "")
    info["logical_cpus"] = info["logical_cpus"] or os.cpu_count()
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        info["usable_cpus"] = os.cpu_count()
    gov = _read(root / "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    info["governor"] = gov.strip() if gov else None
    info["machine"] = platform.machine()
    return info


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _module_version(module: str) -> str | None:
    """``module.__version__`` if the module is importable; for TensorRT installed by JetPack's apt packages."""
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return str(getattr(__import__(module), "__version__", "unknown"))
    except Exception as exc:  # a broken install is worth reporting, not worth failing a benchmark for
        return f"unimportable ({type(exc).__name__})"


def versions() -> dict[str, str | None]:
    """Versions of everything that changes a latency: Python, numpy, torch, onnxruntime, TensorRT, OpenCV."""
    ort = _dist_version("onnxruntime") or _dist_version("onnxruntime-gpu")
    return {
        "edgetl": __version__,
        "python": platform.python_version(),
        "numpy": _dist_version("numpy"),
        "torch": _dist_version("torch"),
        "torchvision": _dist_version("torchvision"),
        "onnx": _dist_version("onnx"),
        "onnxruntime": ort,
        "tensorrt": _dist_version("tensorrt") or _module_version("tensorrt"),
        "opencv": _module_version("cv2"),
    }


def onnxruntime_providers() -> list[str]:
    if importlib.util.find_spec("onnxruntime") is None:
        return []
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def threads_info(requested: int | None) -> dict[str, Any]:
    """Threads asked for, and what torch uses (onnxruntime uses one per physical core by default)."""
    import torch

    return {"requested": requested, "torch_intra_op": torch.get_num_threads(),
            "onnxruntime_intra_op": requested or "default (one per physical core)"}


# --- Jetson -------------------------------------------------------------------------------------------

def parse_nvpmodel(text: str) -> dict[str, Any]:
    """``nvpmodel -q`` prints ``NV Power Mode: MAXN`` and then the mode's number on its own line."""
    m = re.search(r"NV Power Mode:\s*(\S.*)", text)
    num = re.search(r"^\s*(\d+)\s*$", text, re.M)
    return {"name": m.group(1).strip() if m else None, "id": int(num.group(1)) if num else None}


def _cpu_clocks(root: Path) -> list[dict[str, Any]]:
    out = []
    for d in sorted(glob.glob(str(root / "sys/devices/system/cpu/cpu[0-9]*/cpufreq")),
                    key=lambda p: int(re.search(r"cpu(\d+)/cpufreq", p).group(1))):
        p = Path(d)
        out.append({"cpu": p.parent.name, "cur_khz": _read_int(p / "scaling_cur_freq"),
                    "min_khz": _read_int(p / "scaling_min_freq"), "max_khz": _read_int(p / "cpuinfo_max_freq")})
    return out


def _gpu_clock(root: Path) -> dict[str, Any] | None:
    for d in sorted(glob.glob(str(root / "sys/class/devfreq/*"))):
        p = Path(d)
        name = (_read(p / "device/of_node/name") or "").strip("\x00\n ") or p.name
        if any(g in p.name.lower() or g in name.lower() for g in GPU_DEVFREQ_NAMES):
            return {"devfreq": p.name, "cur_hz": _read_int(p / "cur_freq"), "min_hz": _read_int(p / "min_freq"),
                    "max_hz": _read_int(p / "max_freq")}
    return None


def jetson_clocks_state(cpus: list[dict[str, Any]], gpu: dict[str, Any] | None) -> str:
    """'on' when CPU and GPU minimum clocks are pinned to their maximum (what jetson_clocks does).

    Reading ``jetson_clocks --show`` needs root; the pinned minimums are readable by anyone.
    'unknown' when the clocks cannot be read.
    """
    pairs = [(c["min_khz"], c["max_khz"]) for c in cpus]
    if gpu:
        pairs.append((gpu["min_hz"], gpu["max_hz"]))
    if not pairs or any(a is None or b is None for a, b in pairs):
        return "unknown"
    return "on" if all(a == b for a, b in pairs) else "off"


def jetson_info(root: str | os.PathLike = "/", run: Callable[..., Any] = subprocess.run) -> dict[str, Any] | None:
    """Board model, L4T release, nvpmodel power mode, clocks and jetson_clocks state; None off a Jetson."""
    root = Path(root)
    release = _read(root / "etc/nv_tegra_release")
    model = _read(root / "proc/device-tree/model")
    if release is None and not (model and ("jetson" in model.lower() or "nvidia" in model.lower())):
        return None
    cpus, gpu = _cpu_clocks(root), _gpu_clock(root)
    return {
        "model": model.strip("\x00\n ") if model else None,
        "l4t": parse_l4t_release(release),
        "power_mode": _nvpmodel(run),
        "cpu_clocks_khz": _summarize_cpu_clocks(cpus),
        "gpu_clock": gpu,
        "jetson_clocks": jetson_clocks_state(cpus, gpu),
    }


def _nvpmodel(run: Callable[..., Any]) -> dict[str, Any]:
    try:
        res = run(["nvpmodel", "-q"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("nvpmodel -q failed: %s", exc)
        return {"name": None, "id": None}
    return parse_nvpmodel((res.stdout or "") + "\n" + (res.stderr or ""))


def _summarize_cpu_clocks(cpus: list[dict[str, Any]]) -> dict[str, Any]:
    cur = [c["cur_khz"] for c in cpus if c["cur_khz"]]
    return {"cpus": len(cpus), "cur_min": min(cur, default=None), "cur_max": max(cur, default=None),
            "max": max((c["max_khz"] or 0 for c in cpus), default=None) or None}


def collect(threads: int | None = None, root: str | os.PathLike = "/") -> dict[str, Any]:
    """The whole environment record that goes with every benchmark result."""
    return {
        "collected_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu": cpu_info(root),
        "threads": threads_info(threads),
        "versions": versions(),
        "onnxruntime_providers": onnxruntime_providers(),
        "jetson": jetson_info(root),
    }
