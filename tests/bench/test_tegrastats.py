"""tegrastats parsing on real lines of Nano, TX2, Xavier and Orin boards, and the sampler's power figures."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from edgetl.bench.tegrastats import TegrastatsError, TegrastatsSampler, parse_line

FIXTURES = Path(__file__).parent / "fixtures"


def board_lines() -> dict[str, str]:
    out = {}
    for raw in (FIXTURES / "tegrastats_lines.txt").read_text().splitlines():
        if raw.strip() and not raw.startswith("#"):
            name, _, line = raw.partition(" | ")
            out[name] = line
    return out


LINES = board_lines()

# board: (board power in mW the line shows, where it comes from, GPU load %)
EXPECTED = {
    "nano_jp4": (1022, "POM_5V_IN", 0),
    "tx2": (2003, "VDD_IN", 0),
    "xavier_agx_jp4": (0 + 311 + 932 + 0 + 621 + 1482, "GPU+CPU+SOC+CV+VDDRQ+SYS5V", 0),
    "xavier_agx_loaded": (18401 + 2301 + 4602 + 0 + 2914 + 4632, "GPU+CPU+SOC+CV+VDDRQ+SYS5V", 95),
    "xavier_nx": (4067, "VDD_IN", 62),
    "orin_nx_jp5": (5299, "VDD_IN", 0),
    "orin_agx_jp5": (4940 + 988 + 4442, "VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0", 0),
    "orin_agx_dla": (3150 + 14312 + 4968 + 1091, "VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0+VDDQ_VDD2_1V8AO", 14),
    "orin_agx_jp6": (3205 + 4405 + 4767, "VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0", 0),
    "orin_nano_jp6": (2957, "VDD_IN", 0),
    "orin_nano_jp62": (4093, "VDD_IN", 12),
}


def test_every_fixture_board_has_an_expectation():
    assert set(LINES) == set(EXPECTED)


@pytest.mark.parametrize("board", sorted(EXPECTED))
def test_board_power_and_load(board):
    s = parse_line(LINES[board])
    mw, source, gpu = EXPECTED[board]
    assert s is not None
    assert s.total_mw == mw
    assert s.power_source == source
    assert s.gpu_load_pct == gpu
    assert "RAM" not in s.rails and "SWAP" not in s.rails


def test_memory_cores_and_temperatures_of_a_nano_line():
    s = parse_line(LINES["nano_jp4"])
    assert (s.ram_used_mb, s.ram_total_mb) == (534, 3964)
    assert s.cpu_load_pct == (16, 9, 0, 0)
    assert s.temperatures_c["GPU"] == 36.0 and s.temperatures_c["thermal"] == 36.25
    assert s.rails["POM_5V_CPU"].current_mw == 204


def test_cores_that_are_off_have_no_load():
    s = parse_line(LINES["tx2"])
    assert s.cpu_load_pct == (2, None, None, None, None, None)
    assert s.rails["VDD_IN"].average_mw == 2658


def test_jetpack_62_three_value_rails_use_current_and_average():
    s = parse_line(LINES["orin_nano_jp62"])
    assert s.rails["VDD_IN"].current_mw == 4093 and s.rails["VDD_IN"].average_mw == 4463
    assert s.temperatures_c["tj"] == 48.0


@pytest.mark.parametrize("text", ["", "tegrastats: warning: some rails need root", "NVDEC off VIC off"])
def test_lines_that_are_not_tegrastats_lines(text):
    assert parse_line(text) is None


def fake_tegrastats(tmp_path: Path, lines: list[str]) -> Path:
    """An executable that prints ``lines`` in turn every --interval ms, as tegrastats does, until killed."""
    script = tmp_path / "tegrastats"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, time\n"
        "ms = int(sys.argv[sys.argv.index('--interval') + 1])\n"
        f"lines = {lines!r}\n"
        "i = 0\n"
        "while True:\n"
        "    print(lines[i % len(lines)], flush=True)\n"
        "    i += 1\n"
        "    time.sleep(ms / 1000)\n")
    script.chmod(0o755)
    return script


def test_sampler_averages_board_power_and_gives_joules_per_image(tmp_path):
    low = LINES["orin_nano_jp6"]  # VDD_IN 2957 mW
    high = low.replace("VDD_IN 2957mW/2957mW", "VDD_IN 6957mW/4957mW")
    exe = fake_tegrastats(tmp_path, [low, high])
    with TegrastatsSampler(interval_ms=20, command=str(exe)) as sampler:
        sampler.wait_for_first()
        t0 = time.perf_counter_ns()
        time.sleep(0.6)
        t1 = time.perf_counter_ns()
        summary = sampler.summary(t0, t1, images=30)
    assert summary.samples >= 6
    assert summary.source == "VDD_IN"
    assert 2.957 <= summary.average_w <= 6.957
    assert summary.average_w == pytest.approx((2.957 + 6.957) / 2, abs=0.9)
    assert summary.joules_per_image == pytest.approx(summary.average_w * (t1 - t0) / 1e9 / 30)


def test_sampler_says_when_tegrastats_is_missing(tmp_path):
    with pytest.raises(TegrastatsError, match="not found"):
        with TegrastatsSampler(command=str(tmp_path / "no-tegrastats")):
            pass


def test_sampler_says_when_a_board_shows_no_rails(tmp_path):
    no_rails = "RAM 1803/7486MB (lfb 8x4MB) CPU [64%@729,0%@729] GR3D_FREQ 12%@[306] cpu@47.562C"
    exe = fake_tegrastats(tmp_path, [no_rails])
    with TegrastatsSampler(interval_ms=20, command=str(exe)) as sampler:
        sampler.wait_for_first()
        t0 = time.perf_counter_ns()
        time.sleep(0.1)
        with pytest.raises(TegrastatsError, match="no power rails"):
            sampler.summary(t0, time.perf_counter_ns(), images=1)
