"""edgetl doctor: each check with a fake machine (a Jetson Orin, a workstation), and the real command
on this machine, which has no GPU or TensorRT and must still exit 0."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from edgetl.cli.main import cli
from edgetl.doctor import Probe, gstreamer_support, run_checks

ORIN_RELEASE = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025"
CPU = "/sys/devices/system/cpu/cpu0/cpufreq/"
GPU = "/sys/class/devfreq/17000000.ga10b"


class FakeProbe(Probe):
    def __init__(self, machine="aarch64", files=None, commands=None, tools=(), modules=None, paths=()):
        self._machine, self.files, self.commands = machine, files or {}, commands or {}
        self.tools, self.modules, self.paths = set(tools), modules or {}, list(paths)

    def machine(self):
        return self._machine

    def read(self, path):
        return self.files.get(path)

    def glob(self, pattern):
        prefix = pattern.rstrip("*")
        return sorted(p for p in self.paths if p.startswith(prefix)) if pattern.endswith("*") else \
            [p for p in self.paths if p == pattern]

    def which(self, name):
        return f"/usr/bin/{name}" if name in self.tools else None

    def run(self, argv):
        return self.commands.get(" ".join(argv))

    def module(self, name):
        return self.modules.get(name)


def fake_torch(cuda="12.6", available=True, name="Orin", cc=(8, 7)):
    return SimpleNamespace(__version__="2.8.0", version=SimpleNamespace(cuda=cuda),
                           cuda=SimpleNamespace(is_available=lambda: available, get_device_name=lambda i: name,
                                                get_device_capability=lambda i: cc))


def fake_cv2(gst="YES (1.20.3)"):
    info = f"  Video I/O:\n    DC1394:                      NO\n    GStreamer:                   {gst}\n"
    return SimpleNamespace(__version__="4.8.0", getBuildInformation=lambda: info)


def fake_ort(*providers):
    return SimpleNamespace(__version__="1.20.0", get_available_providers=lambda: list(providers))


def orin(**over):
    kw = dict(
        files=orin_files(),
        commands={"nvpmodel -q": "NV Power Mode: MAXN_SUPER\n2\n"},
        tools={"tegrastats"}, paths=["/dev/video0", "/tmp/argus_socket", GPU],
        modules={"torch": fake_torch(), "tensorrt": SimpleNamespace(__version__="10.3.0"), "cv2": fake_cv2(),
                 "onnxruntime": fake_ort("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")},
    )
    kw.update(over)
    return {c.name: c for c in run_checks(FakeProbe(**kw))}


def test_healthy_orin():
    checks = orin()
    assert [c.status for c in checks.values()] == ["info"] + ["ok"] * 10
    assert checks["cuda"].detail == "Orin (compute 8.7), torch 2.8.0, CUDA 12.6"
    assert checks["tensorrt"].detail == "TensorRT 10.3.0"
    assert checks["jetson"].detail == "NVIDIA Jetson Orin Nano Developer Kit"
    assert checks["l4t"].detail == "L4T 36.4.3, JetPack 6.2"
    assert checks["power-mode"].detail == "MAXN_SUPER"
    assert checks["clocks"].detail == "CPU 1510/1510 MHz, GPU 1020/1020 MHz"
    assert checks["cameras"].detail == "/dev/video0, Argus socket present (CSI)"


def test_orin_in_a_bare_container():
    mods = {"torch": fake_torch(cuda=None), "cv2": fake_cv2("NO"), "onnxruntime": fake_ort("CPUExecutionProvider")}
    checks = orin(modules=mods, tools=(), paths=[], commands={"nvpmodel -q": "NV Power Mode: 15W\n1\n"})
    missing = {n for n, c in checks.items() if c.status == "missing"}
    assert missing == {"cuda", "tensorrt", "onnxruntime", "opencv", "cameras", "tegrastats"}
    assert "jetson-ai-lab.io/jp6/cu126 torch torchvision" in checks["cuda"].fix
    assert "python3-libnvinfer" in checks["tensorrt"].fix
    assert "onnxruntime-gpu" in checks["onnxruntime"].fix and "jetson-ai-lab" in checks["onnxruntime"].fix
    assert "pip uninstall -y opencv-python" in checks["opencv"].fix and "CSI" in checks["opencv"].detail
    assert "--device /dev/video0" in checks["cameras"].fix and "/tmp/argus_socket" in checks["cameras"].fix
    assert checks["power-mode"].status == "warn" and "sudo nvpmodel -m 0" in checks["power-mode"].fix


def test_low_clocks_suggest_jetson_clocks():
    files = {**orin_files(), CPU + "scaling_cur_freq": "729600", GPU + "/cur_freq": "306000000"}
    checks = orin(files=files)
    assert checks["clocks"].status == "warn" and "CPU 730/1510 MHz, GPU 306/1020 MHz" in checks["clocks"].detail
    assert "jetson_clocks" in checks["clocks"].fix


def orin_files():
    return {"/etc/nv_tegra_release": ORIN_RELEASE, "/proc/device-tree/model": "NVIDIA Jetson Orin Nano Developer Kit",
            CPU + "scaling_cur_freq": "1510400", CPU + "cpuinfo_max_freq": "1510400",
            GPU + "/cur_freq": "1020000000", GPU + "/max_freq": "1020000000"}


def test_workstation_skips_jetson_checks():
    checks = run_checks(FakeProbe(machine="x86_64", modules={"torch": fake_torch(available=False)}))
    names = [c.name for c in checks]
    assert "power-mode" not in names and "tegrastats" not in names
    jetson = next(c for c in checks if c.name == "jetson")
    assert jetson.status == "info" and "not a Jetson (x86_64)" in jetson.detail
    cuda = next(c for c in checks if c.name == "cuda")
    assert cuda.status == "missing" and "sees no GPU" in cuda.detail and "nvidia-smi" in cuda.fix
    assert next(c for c in checks if c.name == "tensorrt").fix.startswith("pip install tensorrt")


def test_every_problem_has_a_fix():
    for checks in (orin(modules={}, tools=(), paths=[], commands={}),
                   {c.name: c for c in run_checks(FakeProbe(machine="x86_64"))}):
        for c in checks.values():
            assert c.status in ("ok", "missing", "warn", "info")
            if c.status in ("missing", "warn"):
                assert c.fix, c


@pytest.mark.parametrize("info, value", [("    GStreamer:                   YES (1.16.3)\n", "YES (1.16.3)"),
                                         ("  GStreamer: NO\n", "NO"), ("Video I/O:\n  FFMPEG: YES\n", None)])
def test_gstreamer_support(info, value):
    assert gstreamer_support(info) == value


def test_doctor_command_here_exits_0():
    r = CliRunner().invoke(cli, ["doctor"])
    assert r.exit_code == 0, r.output
    for name in ("cuda", "tensorrt", "onnxruntime", "opencv", "cameras", "jetson"):
        assert f" {name} " in r.output
    assert "missing" in r.output.splitlines()[-1]
    r = CliRunner().invoke(cli, ["doctor", "--json"])
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert {d["name"] for d in data} >= {"edgetl", "cuda", "tensorrt", "onnxruntime", "opencv", "cameras"}
    assert all(set(d) == {"name", "status", "detail", "fix"} for d in data)
