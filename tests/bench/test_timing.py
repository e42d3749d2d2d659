"""Timing loops and statistics: percentiles, budgets, and ratios that survive a noisy machine."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgetl.bench.timing import Budget, interleaved, measure, paired_ratio, summarize, summarize_ms
from edgetl.errors import EdgetlError


def test_statistics_of_known_latencies():
    ns = np.arange(1, 101) * 1_000_000  # 1 ms .. 100 ms
    s = summarize(ns, batch=4)
    assert (s.p50_ms, s.p90_ms, s.p99_ms) == pytest.approx((50.5, 90.1, 99.01))
    assert s.mean_ms == pytest.approx(50.5)
    assert s.std_ms == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert s.throughput == pytest.approx(4 * 1000 / 50.5)
    assert s.count == 100 and s.min_ms == 1 and s.max_ms == 100


def test_a_slow_tail_shows_in_p99_not_in_p50():
    ns = np.array([10_000_000] * 98 + [200_000_000] * 2)
    s = summarize(ns)
    assert s.p50_ms == pytest.approx(10.0)
    assert s.p99_ms > 100
    assert s.mean_ms > s.p50_ms


def test_millisecond_summary_is_the_same_statistics_in_short_form():
    ms = [4.0, 1.0, 3.0, 2.0, 100.0]  # a camera stage: one slow frame
    short = summarize_ms(ms)
    full = summarize(np.asarray(ms) * 1e6)
    assert list(short) == ["p50", "p90", "p99", "mean", "min"]
    assert short == {"p50": 3.0, "p90": round(full.p90_ms, 3), "p99": round(full.p99_ms, 3), "mean": 22.0, "min": 1.0}
    assert summarize_ms([1 / 3])["mean"] == 0.333


def test_iteration_budget_times_exactly_that_many_calls():
    calls = []
    samples = measure(lambda: calls.append(1), Budget(iters=7), warmup=3)
    assert len(samples) == 7 and len(calls) == 10


def test_seconds_budget_runs_at_least_that_long_and_a_minimum_of_calls():
    t0 = time.perf_counter()
    samples = measure(lambda: time.sleep(0.002), Budget(seconds=0.05))
    assert time.perf_counter() - t0 >= 0.05
    assert len(samples) >= 5
    assert summarize(samples).p50_ms >= 2.0
    slow = measure(lambda: time.sleep(0.03), Budget(seconds=0.01))
    assert len(slow) == 5  # the minimum, although the budget was spent after one call


@pytest.mark.parametrize("kw", [{}, {"iters": 5, "seconds": 1.0}, {"iters": 0}, {"seconds": -1.0}])
def test_budget_refuses_unclear_requests(kw):
    with pytest.raises(EdgetlError):
        Budget(**kw)


def test_paired_ratio_cancels_noise_shared_by_both_models():
    rng = np.random.default_rng(0)
    machine = rng.uniform(1.0, 5.0, 200)  # the machine's slowdown, different every round
    reference = 10e6 * machine
    model = 20e6 * machine * rng.uniform(0.98, 1.02, 200)
    assert paired_ratio(model, reference) == pytest.approx(2.0, abs=0.02)
    # Comparing medians of the two runs taken at different times would not cancel it.
    later = 20e6 * rng.uniform(1.0, 5.0, 200)
    assert abs(np.median(later) / np.median(reference) - 2.0) > abs(paired_ratio(model, reference) - 2.0)


def test_interleaved_rounds_time_every_callable_once_per_round_after_varying_neighbours():
    order: list[int] = []
    calls = [lambda i=i: order.append(i) for i in range(3)]
    after_round: list[int] = []
    samples = interleaved(calls, Budget(iters=60), on_round=lambda: after_round.append(len(order)))
    rounds = [order[i:i + 3] for i in range(0, len(order), 3)]
    assert all(sorted(r) == [0, 1, 2] for r in rounds) and after_round == list(range(3, 181, 3))
    assert [s.shape for s in samples] == [(60,)] * 3 and all(s.dtype == np.int64 for s in samples)
    # within rounds, each callable runs right after each of the others, not always after the same one
    followers = {(a, b) for r in rounds for a, b in zip(r, r[1:])}
    assert followers == {(a, b) for a in range(3) for b in range(3) if a != b}
    order.clear()
    interleaved(calls, Budget(iters=60))
    assert [order[i:i + 3] for i in range(0, len(order), 3)] == rounds  # seeded: the same run repeats

