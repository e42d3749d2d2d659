"""Timing loops and latency statistics.

Latency is what one call costs, measured with ``time.perf_counter_ns`` around the call and nothing
else; a run stops after a number of iterations or after a time budget, whichever the user chose.
Several callables are compared in interleaved rounds (``interleaved``), so a change in the machine's
load hits all of them alike. Percentiles (not only the mean) are reported, because a camera loop feels
the slow calls.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from edgetl.errors import EdgetlError

MIN_ITERS = 5  # a time budget still times at least this many calls, so percentiles mean something


@dataclass(frozen=True)
class Budget:
    """When a timed run stops: after ``iters`` calls, or once ``seconds`` have passed."""

    iters: int | None = None
    seconds: float | None = None
    min_iters: int = MIN_ITERS

    def __post_init__(self) -> None:
        if (self.iters is None) == (self.seconds is None):
            raise EdgetlError("give either a number of iterations or a number of seconds, not both or neither")
        if self.iters is not None and self.iters < 1:
            raise EdgetlError(f"--iters {self.iters}: use 1 or more")
        if self.seconds is not None and self.seconds <= 0:
            raise EdgetlError(f"--seconds {self.seconds}: use a positive duration")

    def done(self, count: int, elapsed_ns: int) -> bool:
        if self.iters is not None:
            return count >= self.iters
        return count >= self.min_iters and elapsed_ns >= self.seconds * 1e9


def time_call(fn: Callable[[], object]) -> int:
    """Nanoseconds one call of ``fn`` takes."""
    t0 = time.perf_counter_ns()
    fn()
    return time.perf_counter_ns() - t0


def warm_up(fn: Callable[[], object], n: int) -> None:
    """Call ``fn`` ``n`` times untimed: first calls pay for allocation, JIT and cache misses."""
    for _ in range(max(0, n)):
        fn()


def measure(fn: Callable[[], object], budget: Budget, warmup: int = 0) -> np.ndarray:
    """Warm up, then time calls of ``fn`` until ``budget`` is spent; per-call nanoseconds (int64)."""
    warm_up(fn, warmup)
    samples: list[int] = []
    start = time.perf_counter_ns()
    while not budget.done(len(samples), time.perf_counter_ns() - start):
        samples.append(time_call(fn))
    return np.asarray(samples, dtype=np.int64)


def interleaved(calls: Sequence[Callable[[], object]], budget: Budget,
                on_round: Callable[[], None] | None = None) -> list[np.ndarray]:
    """Time one call of every callable per round until ``budget`` (counted in rounds) is spent.

    The order is shuffled every round (seeded, so runs repeat): each callable follows each other one about
    equally often. A fixed rotation would not do: in A B C, B C A, C A B, A always runs right after C, and
    a model timed after a large one finds its caches emptied every time. Returns per-call nanoseconds
    (int64) for each callable, aligned by round: ``paired_ratio`` of two of them compares calls made at
    the same moment. ``on_round`` is called after every round.
    """
    samples: list[list[int]] = [[] for _ in calls]
    rng = np.random.default_rng(0)
    start = time.perf_counter_ns()
    rounds = 0
    while calls and not budget.done(rounds, time.perf_counter_ns() - start):
        for i in rng.permutation(len(calls)):
            samples[i].append(time_call(calls[i]))
        rounds += 1
        if on_round:
            on_round()
    return [np.asarray(s, dtype=np.int64) for s in samples]


@dataclass(frozen=True)
class LatencyStats:
    """Latency of one call in milliseconds, and images per second at that batch size."""

    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    throughput: float  # images/s = batch / mean latency

    def to_dict(self, digits: int = 4) -> dict:
        return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def summarize(samples_ns: Sequence[int] | np.ndarray, batch: int = 1) -> LatencyStats:
    """Percentiles (numpy's linear interpolation), mean, sample std and images/s of per-call times."""
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    if ms.size == 0:
        raise ValueError("no timing samples to summarize")
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    return LatencyStats(count=int(ms.size), p50_ms=float(p50), p90_ms=float(p90), p99_ms=float(p99),
                        mean_ms=mean, std_ms=std, min_ms=float(ms.min()), max_ms=float(ms.max()),
                        throughput=batch * 1000.0 / mean if mean > 0 else float("inf"))


def summarize_ms(samples_ms: Sequence[float] | np.ndarray, digits: int = 3) -> dict[str, float]:
    """``summarize`` of millisecond samples in short form, {p50, p90, p99, mean, min}, rounded.

    The per-stage row of the camera loop's summary (and its benchmark): same statistics as a bench report.
    """
    s = summarize(np.asarray(samples_ms, dtype=np.float64) * 1e6)
    return {"p50": round(s.p50_ms, digits), "p90": round(s.p90_ms, digits), "p99": round(s.p99_ms, digits),
            "mean": round(s.mean_ms, digits), "min": round(s.min_ms, digits)}


def paired_ratio(samples_ns: np.ndarray, reference_ns: np.ndarray) -> float:
    """Median of per-round latency ratios against a reference timed in the same rounds.

    Calls of two models timed back to back share the machine's state at that moment (clock, load of
    other processes), so the ratio of each pair cancels most of that noise; the median drops outliers.
    """
    n = min(len(samples_ns), len(reference_ns))
    if n == 0:
        raise ValueError("no paired samples")
    a = np.asarray(samples_ns[:n], dtype=np.float64)
    b = np.asarray(reference_ns[:n], dtype=np.float64)
    return float(np.median(a / np.maximum(b, 1.0)))
