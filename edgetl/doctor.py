"""What this machine has for edgetl and what is missing, each with the line that fixes it.

The backend checks (CUDA for torch, onnxruntime's providers, TensorRT) come from the backend registry:
every registered backend brings its own. The rest (OpenCV's GStreamer, cameras, the Jetson's model,
L4T, power mode, clocks and tegrastats) are the machine's.

Every fact comes through a ``Probe`` (files, commands, imports), so the checks are tested on any
machine with a fake one: a Jetson's ``/etc/nv_tegra_release``, ``nvpmodel -q`` output and so on.
"""

from __future__ import annotations

import glob
import importlib
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from types import ModuleType

from edgetl import __version__
from edgetl.runtime.backends import BACKENDS
from edgetl.trt.device import DEVICE_TREE_MODEL, NV_TEGRA_RELEASE, jetpack_for, parse_l4t_release, read_text


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "missing", "warn" or "info"
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class Probe:
    """The machine as the checks see it; tests replace it."""

    def machine(self) -> str:
        return platform.machine()

    def read(self, path: str) -> str | None:
        return read_text(path)

    def glob(self, pattern: str) -> list[str]:
        return sorted(glob.glob(pattern))

    def which(self, name: str) -> str | None:
        return shutil.which(name)

    def run(self, argv: list[str]) -> str | None:
        """stdout of a short command, or None if it is missing or fails."""
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    def module(self, name: str) -> ModuleType | None:
        try:
            return importlib.import_module(name)
        except Exception:  # a broken install (missing .so) is "not usable" just like a missing one
            return None


def run_checks(probe: Probe | None = None) -> list[Check]:
    """Every check, in the order shown; the Jetson ones only on a Jetson."""
    probe = probe or Probe()
    l4t = parse_l4t_release(probe.read(NV_TEGRA_RELEASE))
    jetson = l4t is not None
    checks: list[Check] = [
        Check("edgetl", "info", f"edgetl {__version__}, Python {sys.version.split()[0]}, {platform.system()} "
                                f"{probe.machine()}"),
    ]
    checks += backend_checks(probe, jetson)
    checks += [check_opencv_gstreamer(probe, jetson), check_cameras(probe, jetson)]
    if jetson:
        checks += jetson_checks(probe, l4t)
    else:
        checks.append(Check("jetson", "info", f"not a Jetson ({probe.machine()}): model, L4T and power checks skipped"))
    return checks


def backend_checks(probe: Probe, jetson: bool) -> list[Check]:
    """One check per registered backend, each from its entry's own availability check."""
    out = []
    for entry in BACKENDS.values():
        found = entry.check(probe, jetson)
        out.append(Check(entry.check_name or entry.name, found.status, found.detail, found.fix))
    return out


def gstreamer_support(build_info: str) -> str | None:
    """The 'GStreamer:' value of cv2.getBuildInformation(), e.g. 'YES (1.20.3)' or 'NO'."""
    m = re.search(r"^\s*GStreamer:\s*(.+?)\s*$", build_info, re.MULTILINE)
    return m.group(1) if m else None


def check_opencv_gstreamer(probe: Probe, jetson: bool) -> Check:
    cv2 = probe.module("cv2")
    if cv2 is None:
        return Check("opencv", "missing", "cv2 is not importable", "pip install opencv-python-headless")
    gst = gstreamer_support(cv2.getBuildInformation()) or "not listed"
    detail = f"OpenCV {cv2.__version__}, GStreamer: {gst}"
    if gst.upper().startswith("YES"):
        return Check("opencv", "ok", detail)
    fix = ("pip uninstall -y opencv-python opencv-python-headless, then use JetPack's OpenCV (sudo apt install "
           "nvidia-opencv) or Dockerfile.jetson" if jetson else
           "PyPI's OpenCV wheels lack GStreamer: use your distribution's OpenCV (apt install python3-opencv) "
           "if you need GStreamer pipelines")
    return Check("opencv", "missing", detail + " (CSI cameras and GStreamer pipelines cannot open)", fix)


def check_cameras(probe: Probe, jetson: bool) -> Check:
    devices = probe.glob("/dev/video*")
    argus = bool(probe.glob("/tmp/argus_socket"))
    extra = ", Argus socket present (CSI)" if argus else ""
    if devices:
        return Check("cameras", "ok", ", ".join(devices) + extra)
    fix = "connect a USB or CSI camera; in Docker pass --device /dev/video0"
    if jetson:
        fix += " and -v /tmp/argus_socket:/tmp/argus_socket for CSI cameras"
    return Check("cameras", "missing", "no /dev/video* devices" + extra, fix)


def jetson_checks(probe: Probe, l4t: str) -> list[Check]:
    model = probe.read(DEVICE_TREE_MODEL) or "unknown model"
    jp = jetpack_for(l4t)
    checks = [Check("jetson", "ok", model),
              Check("l4t", "ok" if jp else "warn", f"L4T {l4t}, JetPack {jp or 'unknown'}",
                    None if jp else "edgetl is tested on JetPack 5.1 and 6 (L4T 35.x, 36.x)")]
    checks += [check_power_mode(probe), check_clocks(probe), check_tegrastats(probe)]
    return checks


def check_power_mode(probe: Probe) -> Check:
    out = probe.run(["nvpmodel", "-q"])
    if out is None:
        return Check("power-mode", "missing", "nvpmodel did not answer",
                     "nvpmodel comes with L4T (nvidia-l4t-tools); in Docker check the mode on the host")
    m = re.search(r"NV Power Mode:\s*(\S+)", out)
    mode = m.group(1) if m else out.strip().splitlines()[0] if out.strip() else "unknown"
    if "MAXN" in mode.upper():
        return Check("power-mode", "ok", mode)
    return Check("power-mode", "warn", f"{mode} (not the maximum mode: lower clocks, slower inference)",
                 "sudo nvpmodel -m 0 selects MAXN on most boards (sudo nvpmodel -q --verbose lists the modes)")


def _mhz(probe: Probe, path: str, scale: float) -> float | None:
    text = probe.read(path)
    try:
        return float(text) / scale if text else None
    except ValueError:
        return None


def check_clocks(probe: Probe) -> Check:
    cpu = "/sys/devices/system/cpu/cpu0/cpufreq/"
    cur, top = _mhz(probe, cpu + "scaling_cur_freq", 1e3), _mhz(probe, cpu + "cpuinfo_max_freq", 1e3)
    parts, low = [], False
    if cur and top:
        parts.append(f"CPU {cur:.0f}/{top:.0f} MHz")
        low = cur < 0.95 * top
    for dev in probe.glob("/sys/class/devfreq/*"):
        if re.search(r"gpu|\.g[a-z0-9]+b$", dev):
            g, gmax = _mhz(probe, dev + "/cur_freq", 1e6), _mhz(probe, dev + "/max_freq", 1e6)
            if g and gmax:
                parts.append(f"GPU {g:.0f}/{gmax:.0f} MHz")
                low = low or g < 0.95 * gmax
    if not parts:
        return Check("clocks", "info", "clock frequencies are not readable here")
    if low:
        return Check("clocks", "warn", ", ".join(parts) + " (below maximum)",
                     "sudo jetson_clocks pins CPU, GPU and EMC clocks at their maximum for steady latency")
    return Check("clocks", "ok", ", ".join(parts))


def check_tegrastats(probe: Probe) -> Check:
    path = probe.which("tegrastats")
    if path:
        return Check("tegrastats", "ok", path)
    return Check("tegrastats", "missing", "tegrastats not found: 'edgetl bench' cannot report power",
                 "it comes with L4T; in Docker mount it: -v /usr/bin/tegrastats:/usr/bin/tegrastats:ro")
