"""The environment record: CPU INT8 features, versions, and a Jetson's power mode and clocks."""

from __future__ import annotations

import subprocess
from pathlib import Path



from edgetl.bench import environment as env

XEON_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse sse2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse sse2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16
"""

ORIN_CPUINFO = """processor\t: 0
BogoMIPS\t: 62.50
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp uscat ilrcpc flagm paca pacg
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd42
CPU revision\t: 1

processor\t: 1
BogoMIPS\t: 62.50
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp uscat ilrcpc flagm paca pacg
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd42
CPU revision\t: 1
"""


def test_x86_cpu_with_vnni_and_hyperthreads():
    info = env.parse_cpuinfo(XEON_CPUINFO)
    assert info["model"].startswith("Intel(R) Xeon(R) Gold 6338")
    assert {"avx2", "avx512f", "avx512_vnni"} <= set(info["flags"])
    assert "sse2" not in info["flags"]
    assert info["int8_isa"] == "avx512_vnni"
    assert (info["logical_cpus"], info["physical_cores"]) == (2, 1)


def test_avx2_only_cpu_reports_no_vnni():
    info = env.parse_cpuinfo(XEON_CPUINFO.replace(" avx512f avx512bw avx512vl avx512_vnni avx512_bf16", ""))
    assert info["int8_isa"] == "avx2"
    assert not any("vnni" in f for f in info["flags"])


def test_orin_cpu_named_from_its_part_number():
    info = env.parse_cpuinfo(ORIN_CPUINFO)
    assert info["model"] == "Arm Cortex-A78AE"
    assert info["int8_isa"] == "asimddp"
    assert info["logical_cpus"] == 2


def write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def fake_orin(root: Path, pinned: bool) -> Path:
    write(root, "etc/nv_tegra_release", "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64\n")
    write(root, "proc/device-tree/model", "NVIDIA Jetson AGX Orin Developer Kit\x00")
    for cpu in range(2):
        d = f"sys/devices/system/cpu/cpu{cpu}/cpufreq/"
        write(root, d + "scaling_cur_freq", "2201600\n")
        write(root, d + "scaling_min_freq", "2201600\n" if pinned else "115200\n")
        write(root, d + "cpuinfo_max_freq", "2201600\n")
    g = "sys/class/devfreq/17000000.ga10b/"
    write(root, g + "cur_freq", "1300500000\n")
    write(root, g + "min_freq", "1300500000\n")
    write(root, g + "max_freq", "1300500000\n")
    return root


def nvpmodel(args, **kw):
    assert args == ["nvpmodel", "-q"]
    return subprocess.CompletedProcess(args, 0, stdout="NV Fan Mode:quiet\nNV Power Mode: MAXN\n0\n", stderr="")


def test_jetson_model_release_power_mode_and_pinned_clocks(tmp_path):
    info = env.jetson_info(fake_orin(tmp_path, pinned=True), run=nvpmodel)
    assert info["model"] == "NVIDIA Jetson AGX Orin Developer Kit"
    assert info["l4t"] == "35.4.1"
    assert info["power_mode"] == {"name": "MAXN", "id": 0}
    assert info["jetson_clocks"] == "on"
    assert info["gpu_clock"]["cur_hz"] == 1300500000
    assert info["cpu_clocks_khz"]["max"] == 2201600


def test_jetson_clocks_off_when_cpu_minimum_is_not_pinned(tmp_path):
    info = env.jetson_info(fake_orin(tmp_path, pinned=False), run=nvpmodel)
    assert info["jetson_clocks"] == "off"


def test_power_mode_unknown_when_nvpmodel_is_missing(tmp_path):
    def missing(args, **kw):
        raise FileNotFoundError(args[0])

    info = env.jetson_info(fake_orin(tmp_path, pinned=True), run=missing)
    assert info["power_mode"] == {"name": None, "id": None}


def test_not_a_jetson(tmp_path):
    write(tmp_path, "proc/device-tree/model", "Raspberry Pi 4 Model B Rev 1.4\x00")
    assert env.jetson_info(tmp_path) is None


def test_collect_describes_this_machine():
    import cv2
    import torch

    record = env.collect(threads=1)
    assert record["versions"]["torch"] in torch.__version__
    assert record["versions"]["opencv"] == cv2.__version__
    assert record["threads"]["requested"] == 1
    assert record["cpu"]["logical_cpus"] >= 1 and record["cpu"]["model"]
    assert "CPUExecutionProvider" in record["onnxruntime_providers"]
