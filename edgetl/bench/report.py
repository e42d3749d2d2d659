"""Benchmark results as JSON (for machines and the README's tables) and Markdown (for people)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetl.bench.tegrastats import PowerSummary
from edgetl.bench.timing import LatencyStats
from edgetl.fileio import write_json, write_text

SCHEMA = "edgetl.bench/1"


@dataclass(frozen=True)
class BenchResult:
    """One model at one batch size."""

    model: str
    backend: str
    precision: str
    batch: int
    stats: LatencyStats
    ratio_to_first: float
    end_to_end: bool = False
    stages: dict[str, LatencyStats] | None = None
    power: PowerSummary | None = None
    input_size: int | None = None
    threads: int | None = None
    providers: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        s = self.stats.to_dict()
        d: dict[str, Any] = {
            "model": self.model, "backend": self.backend, "precision": self.precision, "batch": self.batch,
            "p50_ms": s["p50_ms"], "p90_ms": s["p90_ms"], "p99_ms": s["p99_ms"], "mean_ms": s["mean_ms"],
            "std_ms": s["std_ms"], "throughput": round(self.stats.throughput, 2),
            "ratio_to_first": round(self.ratio_to_first, 4),
            "min_ms": s["min_ms"], "max_ms": s["max_ms"], "iterations": s["count"],
            "end_to_end": self.end_to_end, "input_size": self.input_size, "threads": self.threads,
            "providers": self.providers,
        }
        if self.stages is not None:
            d["stages"] = {k: v.to_dict() for k, v in self.stages.items()}
        if self.power is not None:
            d["power"] = self.power.to_dict()
        return d


@dataclass
class BenchReport:
    environment: dict[str, Any]
    results: list[BenchResult]
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "environment": self.environment, "config": self.config,
                "results": [r.to_dict() for r in self.results]}

    def write_json(self, path: str | os.PathLike) -> Path:
        return write_json(path, self.to_dict())

    def write_markdown(self, path: str | os.PathLike) -> Path:
        return write_text(path, to_markdown(self.to_dict()))


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def environment_lines(env: dict[str, Any]) -> list[str]:
    """A few lines saying where the numbers came from."""
    cpu, v = env.get("cpu", {}), env.get("versions", {})
    th = env.get("threads", {})
    lines = [
        f"- CPU: {cpu.get('model')} ({cpu.get('physical_cores') or '?'} cores, {cpu.get('logical_cpus')} logical, "
        f"{cpu.get('usable_cpus')} usable); INT8-relevant: {', '.join(cpu.get('flags') or []) or 'none'} "
        f"(best: {cpu.get('int8_isa')})",
        f"- Threads: requested {th.get('requested') or 'default'}, torch {th.get('torch_intra_op')}",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
        f"- onnxruntime providers: {', '.join(env.get('onnxruntime_providers') or []) or 'none'}",
    ]
    j = env.get("jetson")
    if j:
        pm = j.get("power_mode") or {}
        lines.append(f"- Jetson: {j.get('model')} (L4T {j.get('l4t')}), power mode {pm.get('name')} ({pm.get('id')}), "
                     f"jetson_clocks {j.get('jetson_clocks')}")
    lines.append(f"- Collected: {env.get('collected_at')} on {env.get('platform')}")
    return lines


def to_markdown(report: dict[str, Any]) -> str:
    """Markdown tables from a report dictionary (as written to JSON), so old JSON files render too."""
    results = report["results"]
    power = any("power" in r for r in results)
    header = ["model", "backend", "precision", "batch", "p50 ms", "p90 ms", "p99 ms", "mean ms", "std ms",
              "images/s", "ratio to first"] + (["W", "J/image"] if power else [])
    rows = []
    for r in results:
        row = [f"`{r['model']}`", r["backend"], r["precision"], str(r["batch"]), f"{r['p50_ms']:.2f}",
               f"{r['p90_ms']:.2f}", f"{r['p99_ms']:.2f}", f"{r['mean_ms']:.2f}", f"{r['std_ms']:.2f}",
               f"{r['throughput']:.1f}", f"{r['ratio_to_first']:.3g}"]
        if power:
            p = r.get("power") or {}
            row += [f"{p['average_w']:.2f}" if p else "-",
                    f"{p['joules_per_image']:.4f}" if p.get("joules_per_image") is not None else "-"]
        rows.append(row)
    out = ["Latency per call (p50/p90/p99 percentiles); ratio to first = median per-round latency ratio to the "
           "first model, timed in interleaved rounds.", "", *_table(header, rows)]
    staged = [r for r in results if r.get("stages")]
    if staged:
        out += ["", "End to end from a decoded frame, per stage (p50 ms / p99 ms):", ""]
        stage_names = list(staged[0]["stages"])
        out += _table(["model", "batch", *stage_names, "total"],
                      [[f"`{r['model']}`", str(r["batch"]),
                        *(f"{r['stages'][s]['p50_ms']:.2f} / {r['stages'][s]['p99_ms']:.2f}" for s in stage_names),
                        f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}"] for r in staged])
    out += ["", "Environment:", "", *environment_lines(report.get("environment", {}))]
    return "\n".join(out) + "\n"
