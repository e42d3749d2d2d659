"""Board power on a Jetson, from ``tegrastats``: a line parser and a sampler that runs beside a benchmark.

tegrastats prints one line per interval. Power rails appear as ``NAME current/average`` in milliwatts,
with an ``mW`` suffix from JetPack 5 on and without one before it; JetPack 6.2 adds a third value (the
peak). The rails differ per board:

- Nano (JetPack 4): ``POM_5V_IN 1022/1022 POM_5V_GPU 0/0 POM_5V_CPU 204/204``; the input rail is the total.
- Xavier NX, TX2, Orin Nano/NX: ``VDD_IN`` is the module's input, the total.
- AGX Xavier: ``GPU CPU SOC CV VDDRQ SYS5V`` and AGX Orin: ``VDD_GPU_SOC VDD_CPU_CV VIN_SYS_5V0
  VDDQ_VDD2_1V8AO``; no input rail, so the total is the sum of the rails.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field

from edgetl.errors import EdgetlError

log = logging.getLogger(__name__)

INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
UNCONNECTED = ("NC",)
# NAME current/average[/peak], each in mW with or without the unit; "RAM 2448/62840MB" does not match.
_RAIL = re.compile(r"(?<![\w@])([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?:/(\d+)(?:mW)?)?(?=\s|$)")
_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_GPU = re.compile(r"\bGR3D_FREQ (\d+)%")
_CPU = re.compile(r"\bCPU \[([^\]]*)\]")
_TEMP = re.compile(r"(?<![\w@])([A-Za-z][\w]*)@(-?[\d.]+)C\b")


class TegrastatsError(EdgetlError):
    """tegrastats is missing or printed nothing a power figure can be made from."""


@dataclass(frozen=True)
class Rail:
    name: str
    current_mw: int
    average_mw: int


@dataclass(frozen=True)
class TegraSample:
    """One tegrastats line: memory, loads, temperatures and power rails."""

    ram_used_mb: int | None
    ram_total_mb: int | None
    cpu_load_pct: tuple[int | None, ...]  # None for a core that is off
    gpu_load_pct: int | None
    temperatures_c: dict[str, float] = field(default_factory=dict)
    rails: dict[str, Rail] = field(default_factory=dict)

    @property
    def power_source(self) -> str | None:
        """Which rail(s) the board total comes from."""
        for name in INPUT_RAILS:
            if name in self.rails:
                return name
        used = [n for n in self.rails if n not in UNCONNECTED]
        return "+".join(used) if used else None

    @property
    def total_mw(self) -> int | None:
        """Instantaneous board power: the input rail if the board has one, else the sum of its rails."""
        for name in INPUT_RAILS:
            if name in self.rails:
                return self.rails[name].current_mw
        used = [r.current_mw for n, r in self.rails.items() if n not in UNCONNECTED]
        return sum(used) if used else None


def parse_line(line: str) -> TegraSample | None:
    """Parse one tegrastats line; None for a line that is not one (blank, a warning)."""
    ram = _RAM.search(line)
    if ram is None:
        return None
    cpu = _CPU.search(line)
    loads: list[int | None] = []
    if cpu:
        for core in cpu.group(1).split(","):
            m = re.match(r"\s*(\d+)%", core)
            loads.append(int(m.group(1)) if m else None)
    gpu = _GPU.search(line)
    rails = {m.group(1): Rail(m.group(1), int(m.group(2)), int(m.group(3))) for m in _RAIL.finditer(line)
             if m.group(1) not in ("RAM", "SWAP", "IRAM")}
    temps = {m.group(1): float(m.group(2)) for m in _TEMP.finditer(line)}
    return TegraSample(int(ram.group(1)), int(ram.group(2)), tuple(loads), int(gpu.group(1)) if gpu else None,
                       temps, rails)


@dataclass(frozen=True)
class PowerSummary:
    """Average board power over a window, and the energy one image cost in it."""

    average_w: float
    joules_per_image: float | None
    samples: int
    source: str | None

    def to_dict(self) -> dict:
        return {"average_w": round(self.average_w, 3),
                "joules_per_image": None if self.joules_per_image is None else round(self.joules_per_image, 6),
                "samples": self.samples, "source": self.source}


def find_tegrastats(command: str = "tegrastats") -> str | None:
    return shutil.which(command)


class TegrastatsSampler:
    """Run ``tegrastats --interval N`` in a subprocess and keep each parsed line with its arrival time.

    Use as a context manager; ``summary(t0_ns, t1_ns, images)`` averages the lines that arrived in a
    window of ``time.perf_counter_ns`` and turns it into joules per image.
    """

    def __init__(self, interval_ms: int = 100, command: str = "tegrastats"):
        self.interval_ms = int(interval_ms)
        self.command = command
        self.samples: list[tuple[int, TegraSample]] = []
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "TegrastatsSampler":
        exe = find_tegrastats(self.command)
        if exe is None:
            raise TegrastatsError(f"{self.command!r} not found: power is measured with tegrastats on a Jetson "
                                  "(it comes with JetPack); use --no-power elsewhere")
        self._proc = subprocess.Popen([exe, "--interval", str(self.interval_ms)], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self._thread = threading.Thread(target=self._read, name="tegrastats", daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            sample = parse_line(line)
            if sample is not None:
                with self._lock:
                    self.samples.append((time.perf_counter_ns(), sample))

    def wait_for_first(self, timeout_s: float = 5.0) -> None:
        """Block until tegrastats has printed a line, so a window never starts before it is running."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.samples:
                    return
            if self._proc is not None and self._proc.poll() is not None:
                break
            time.sleep(0.01)
        raise TegrastatsError(f"tegrastats printed no line within {timeout_s:.0f} s; check that "
                              "'tegrastats --interval 100' works in a shell")

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def summary(self, t0_ns: int, t1_ns: int, images: int) -> PowerSummary:
        """Average power of the lines that arrived between ``t0_ns`` and ``t1_ns``; joules per image."""
        with self._lock:
            window = [s for t, s in self.samples if t0_ns <= t <= t1_ns]
        watts = [s.total_mw / 1000.0 for s in window if s.total_mw is not None]
        if not watts:
            if window:
                raise TegrastatsError("tegrastats shows no power rails on this board (some need root: "
                                      "run with sudo, or use --no-power)")
            raise TegrastatsError(f"no tegrastats line arrived during a {(t1_ns - t0_ns) / 1e9:.2f} s run: "
                                  f"run longer (--seconds) or sample faster (--power-interval)")
        avg = sum(watts) / len(watts)
        seconds = (t1_ns - t0_ns) / 1e9
        return PowerSummary(avg, avg * seconds / images if images else None, len(watts), window[0].power_source)
