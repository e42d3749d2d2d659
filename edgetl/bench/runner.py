"""Benchmark models through the Runner interface: interleaved rounds, so machine noise hits all alike.

Every model is opened, activated and checked against every batch size before the first timed call, so
a bad model, provider or batch fails in a second with one line instead of after minutes of timing.
Within a batch size, each round times one call of every model back to back (the order rotates by one
each round); latency ratios to the first model are taken per round, where the machine's state is shared.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from edgetl._optional import is_jetson
from edgetl.bench import environment
from edgetl.bench.report import BenchReport, BenchResult
from edgetl.bench.tegrastats import TegrastatsError, TegrastatsSampler, find_tegrastats
from edgetl.bench.timing import Budget, interleaved, paired_ratio, summarize, warm_up
from edgetl.errors import EdgetlError, RuntimeBackendError
from edgetl.runtime import backend_for, open_runner
from edgetl.runtime.backends import declared_options, given_options, suffixes_of

# Runner is only an annotation here; loading it imports OpenCV, and 'edgetl export --help' reaches this module
# (export.quantize -> bench.environment -> bench/__init__)
if TYPE_CHECKING:
    from edgetl.runtime import Runner

log = logging.getLogger(__name__)

FRAME_SIZE = (1280, 720)  # width, height of the decoded camera frame that --end-to-end starts from
STAGES = ("preprocess", "infer", "postprocess")


@dataclass(frozen=True)
class BenchConfig:
    """What to measure. ``power`` is "auto" (on a Jetson with tegrastats), "on" or "off".

    ``options`` are backend options by the names the backend registry declares (``threads``,
    ``providers``, ``device``, ``rebuild_stale``...); each model gets the ones its backend takes.
    """

    batches: tuple[int, ...] = (1,)
    warmup: int = 10
    iters: int | None = None
    seconds: float | None = None
    options: Mapping[str, Any] | None = None
    end_to_end: bool = False
    power: str = "auto"
    power_interval_ms: int = 100
    tegrastats: str = "tegrastats"
    seed: int = 0

    @property
    def threads(self) -> int | None:
        return (self.options or {}).get("threads")

    def budget(self) -> Budget:
        if self.iters is None and self.seconds is None:
            return Budget(seconds=3.0)
        return Budget(iters=self.iters, seconds=self.seconds)

    def validate(self) -> None:
        self.budget()
        if not self.batches or any(b < 1 for b in self.batches):
            raise EdgetlError(f"--batch {','.join(map(str, self.batches))}: batch sizes must be 1 or more")
        if self.warmup < 0:
            raise EdgetlError(f"--warmup {self.warmup}: use 0 or more")
        given_options(self.options or {})
        if self.power not in ("auto", "on", "off"):
            raise EdgetlError(f"power {self.power!r}: use auto, on or off")


@dataclass
class _Case:
    """One model at one batch size: the call to time and the samples gathered."""

    runner: Runner
    call: Callable[[], None]
    stage_ns: dict[str, list[int]] = field(default_factory=dict)
    total_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def options_per_model(paths: Sequence[str | os.PathLike], options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The backend options for each model; an option that no model's backend takes is a one-line error."""
    backends = [backend_for(p) for p in paths]
    given = given_options(options)
    for name in given:
        if not any(b.option(name) is not None for b in backends):
            opt, takers = declared_options()[name]
            got = "; ".join(f"{b.name} ({suffixes_of([b])}) takes "
                            f"{', '.join(o.flag for o in b.options) or 'no options'}" for b in dict.fromkeys(backends))
            raise EdgetlError(f"{opt.spelling} applies to {suffixes_of(takers)} models, and none was given ({got})")
    return [b.select(given) for b in backends]


def check_batches(runners: Sequence[Runner], batches: Sequence[int]) -> None:
    """Refuse a batch size a model cannot take (an engine's profile), before anything is timed."""
    for r in runners:
        lo, hi = r.batch_range
        bad = [b for b in batches if b < lo or (hi is not None and b > hi)]
        if bad:
            span = f"{lo}..{hi}" if hi is not None else f"{lo} or more"
            raise RuntimeBackendError(f"{r.path}: batch {bad[0]} is outside what this {r.backend} model accepts "
                                      f"({span}); use --batch within {span} or rebuild it for that batch")


def synthetic_frame(seed: int = 0) -> np.ndarray:
    """A decoded 1280x720 BGR frame with structure (gradients and noise), the same for every model."""
    rng = np.random.default_rng(seed)
    w, h = FRAME_SIZE
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (w + h)], axis=-1)
    return np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)


def _make_case(r: Runner, batch: int, frame: np.ndarray, end_to_end: bool) -> _Case:
    frames = [frame] * batch
    if not end_to_end:
        x = r.preprocess(frames)
        case = _Case(r, lambda: None)
        case.call = lambda: r.infer(x)
        return case
    case = _Case(r, lambda: None, {s: [] for s in STAGES})

    def call() -> None:
        t0 = time.perf_counter_ns()
        x = r.preprocess(frames)
        t1 = time.perf_counter_ns()
        logits = r.infer(x)
        t2 = time.perf_counter_ns()
        r.postprocess(logits)
        t3 = time.perf_counter_ns()
        for name, dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2)):
            case.stage_ns[name].append(dt)

    case.call = call
    return case


def _power_phase(cases: list[_Case], sampler: TegrastatsSampler, batch: int, seconds: float) -> list:
    """Each model alone for ``seconds`` while tegrastats samples: power cannot be split between models."""
    out = []
    for case in cases:
        n, t0 = 0, time.perf_counter_ns()
        while time.perf_counter_ns() - t0 < seconds * 1e9:
            case.call()
            n += 1
        out.append(sampler.summary(t0, time.perf_counter_ns(), n * batch))
    return out


def _use_power(config: BenchConfig) -> bool:
    if config.power == "off":
        return False
    found = find_tegrastats(config.tegrastats) is not None
    if config.power == "on" and not found:
        raise TegrastatsError(f"--power: {config.tegrastats!r} not found; it comes with JetPack on a Jetson")
    return found and (config.power == "on" or is_jetson())


def bench_models(paths: Sequence[str | os.PathLike], config: BenchConfig,
                 on_round: Callable[[int], None] | None = None) -> BenchReport:
    """Benchmark ``paths`` at every batch size in ``config``; ``on_round(batch)`` after every round."""
    if not paths:
        raise EdgetlError("give at least one model to benchmark")
    config.validate()
    runners = [open_runner(p, **opts) for p, opts in zip(paths, options_per_model(paths, config.options or {}))]
    use_power = _use_power(config)
    frame = synthetic_frame(config.seed)
    results: list[BenchResult] = []
    with contextlib.ExitStack() as stack:
        for r in runners:
            stack.enter_context(r)
        check_batches(runners, config.batches)
        sampler = None
        if use_power:
            sampler = stack.enter_context(TegrastatsSampler(config.power_interval_ms, config.tegrastats))
            sampler.wait_for_first()
        env = environment.collect(config.threads)
        for batch in config.batches:
            cases = [_make_case(r, batch, frame, config.end_to_end) for r in runners]
            for case in cases:
                warm_up(case.call, config.warmup)
                for v in case.stage_ns.values():
                    v.clear()
            tick = (lambda b=batch: on_round(b)) if on_round else None
            for case, ns in zip(cases, interleaved([c.call for c in cases], config.budget(), tick)):
                case.total_ns = ns
            powers = _power_phase(cases, sampler, batch, max(config.seconds or 0, 2.0)) if sampler else [None] * len(cases)
            results += _results_for(cases, paths, batch, config, powers)
    return BenchReport(env, results, _config_dict(config))


def _results_for(cases: list[_Case], paths: Sequence, batch: int, config: BenchConfig, powers: list) -> list[BenchResult]:
    ref = np.asarray(cases[0].total_ns)
    out = []
    for case, path, power in zip(cases, paths, powers):
        r = case.runner
        samples = np.asarray(case.total_ns)
        stages = {k: summarize(v, batch) for k, v in case.stage_ns.items()} if config.end_to_end else None
        out.append(BenchResult(
            model=str(path), backend=r.backend, precision=r.precision, batch=batch,
            stats=summarize(samples, batch), ratio_to_first=paired_ratio(samples, ref),
            end_to_end=config.end_to_end, stages=stages, power=power,
            input_size=r.info.preprocess.size, threads=config.threads,
            providers=list(getattr(r, "providers", []) or []) or None))
    return out


def _config_dict(config: BenchConfig) -> dict:
    b = config.budget()
    return {"batches": list(config.batches), "warmup": config.warmup, "iters": b.iters, "seconds": b.seconds,
            "threads": config.threads, "end_to_end": config.end_to_end, "interleaved": True,
            "frame": f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]} BGR uint8" if config.end_to_end else None}


def model_label(path: str | os.PathLike) -> str:
    """A short name for tables: parent folder and file name."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name
