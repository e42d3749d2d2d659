"""Latency a user can trust: percentiles, interleaved runs, the environment, and power on a Jetson."""

from edgetl.bench.report import BenchReport, BenchResult, to_markdown
from edgetl.bench.runner import BenchConfig, bench_models

__all__ = ["BenchConfig", "BenchReport", "BenchResult", "bench_models", "to_markdown"]
