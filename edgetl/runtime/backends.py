"""The backend registry: one entry per runtime backend, and ``open_runner``, which picks one by file suffix.

An entry carries everything about its backend: its name, the file suffixes it runs, its runner class
(named "module:Class" and imported only when a model is opened, so ``--help`` needs only the core
dependencies), its options as data (the backend flags of ``edgetl run`` and ``edgetl bench`` derive from
them), an availability check that ``edgetl doctor`` shows, and an optional ``prepare`` step run before
the runner opens (TensorRT checks, and on request rebuilds, a stale engine there: runners never build).
A new backend is one ``BACKENDS.register(name, Backend(...))``; nothing else names backends.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

from edgetl.errors import EdgetlError, ModelError
from edgetl.registry import DuplicateEntryError, Registry

if TYPE_CHECKING:
    from edgetl.runtime.base import Runner

JETSON_INDEX = "https://pypi.jetson-ai-lab.io/jp6/cu126"
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@dataclass(frozen=True)
class BackendOption:
    """One option a backend takes: the keyword it is passed as, its CLI flag, and how to read its value."""

    name: str  # keyword of the runner (or of ``prepare``), e.g. "providers"
    flag: str  # the CLI spelling, e.g. "--provider"
    type: type = str  # str, int, float, or bool for a flag
    help: str = ""
    multiple: bool = False  # repeatable, and every value may also be a comma list
    minimum: float | None = None  # for int and float options
    aliases: tuple[str, ...] = ()  # older spellings, still accepted, not shown in --help
    for_prepare: bool = False  # passed to the entry's ``prepare`` step instead of the runner

    @property
    def spelling(self) -> str:
        """The flag and its aliases as a user may have typed them: ``--provider/--providers``."""
        return "/".join((self.flag, *self.aliases))

    def value(self, raw: Any) -> Any:
        """``raw`` as the backend takes it (a list for a multiple option), None when not given."""
        if not _given(raw):
            return None
        if self.multiple:
            items = [raw] if isinstance(raw, str) else list(raw)
            return [part.strip() for item in items for part in str(item).split(",") if part.strip()] or None
        if self.type is bool:
            return True
        if self.type in (int, float):
            try:
                value = self.type(raw)
            except (TypeError, ValueError):
                raise EdgetlError(f"{self.flag} {raw!r}: use a {'whole ' if self.type is int else ''}number") from None
            if self.minimum is not None and value < self.minimum:
                raise EdgetlError(f"{self.flag} {value}: use {self.minimum} or more")
            return value
        return str(raw)


@dataclass(frozen=True)
class Availability:
    """What a backend's availability check found, and the line that fixes what is missing."""

    status: str  # "ok", "missing", "warn" or "info"
    detail: str
    fix: str | None = None


class ModuleProbe(Protocol):
    """What an availability check may ask of the machine (``edgetl.doctor.Probe`` and its test fakes)."""

    def module(self, name: str) -> ModuleType | None: ...


@dataclass(frozen=True)
class Backend:
    """Everything about one runtime backend."""

    name: str
    suffixes: tuple[str, ...]  # lower case, with the dot
    runner: str  # "module:Class" of its Runner subclass, imported when a model is opened
    check: Callable[[ModuleProbe, bool], Availability]  # (probe, on a Jetson) -> what doctor shows
    options: tuple[BackendOption, ...] = ()
    prepare: str | None = None  # "module:function", called as prepare(path, **options) before the runner opens
    check_name: str | None = None  # doctor's name for the check [default: the backend's name]

    def option(self, name: str) -> BackendOption | None:
        return next((o for o in self.options if o.name == name), None)

    def select(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The subset of ``options`` this backend takes."""
        return {k: v for k, v in options.items() if self.option(k) is not None}

    def runner_class(self) -> type[Runner]:
        return _load(self.runner)


BACKENDS: Registry[Backend] = Registry("backend")


def _load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def _given(value: Any) -> bool:
    """None, False (an unset flag) and an empty sequence mean "not given"."""
    return value is not None and value is not False and not (isinstance(value, (tuple, list)) and not value)


def suffix_map() -> dict[str, Backend]:
    """Every suffix a registered backend runs; two backends claiming one suffix is a programming error."""
    out: dict[str, Backend] = {}
    for entry in BACKENDS.values():
        for suffix in entry.suffixes:
            if suffix in out:
                raise DuplicateEntryError(f"suffix {suffix} is claimed by backends {out[suffix].name!r} and "
                                          f"{entry.name!r}")
            out[suffix] = entry
    return out


def backend_for(path: str | os.PathLike) -> Backend:
    """The backend that runs ``path``, by its suffix."""
    suffixes = suffix_map()
    entry = suffixes.get(Path(path).suffix.lower())
    if entry is None:
        raise ModelError(f"{path}: not a model edgetl can run (expected one of {', '.join(suffixes)})")
    return entry


def declared_options(backends: Sequence[Backend] | None = None) -> dict[str, tuple[BackendOption, tuple[Backend, ...]]]:
    """Every option name, with its declaration and the backends that take it (``--threads``: torch and
    onnxruntime), in registration order. Backends that share a name must declare it alike."""
    out: dict[str, tuple[BackendOption, tuple[Backend, ...]]] = {}
    for entry in BACKENDS.values() if backends is None else backends:
        for opt in entry.options:
            if opt.name in out:
                first, takers = out[opt.name]
                if opt != first:
                    raise ValueError(f"backend {entry.name!r} declares option {opt.name!r} unlike {takers[0].name!r}")
                out[opt.name] = (first, (*takers, entry))
            else:
                out[opt.name] = (opt, (entry,))
    return out


def suffixes_of(backends: Sequence[Backend]) -> str:
    return ", ".join(s for b in backends for s in b.suffixes)


def given_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that were given, read as their declarations say (comma lists split, ints checked)."""
    declared = declared_options()
    out = {}
    for name, raw in options.items():
        if not _given(raw):
            continue
        if name not in declared:
            raise EdgetlError(f"no backend takes an option {name!r} (options: {', '.join(declared)})")
        value = declared[name][0].value(raw)
        if value is not None:
            out[name] = value
    return out


def not_taken(name: str) -> str:
    """Which models an option is for, e.g. '--rebuild-stale is for .engine, .plan models'."""
    opt, takers = declared_options()[name]
    return f"{opt.spelling} is for {suffixes_of(takers)} models"


def open_runner(path: str | os.PathLike, **options: Any) -> Runner:
    """A Runner for ``path`` (not yet active: use it in a ``with`` block).

    ``options`` are the ones the backends declare (``device``, ``providers``, ``threads``,
    ``rebuild_stale``...); an option given that this model's backend does not take is a one-line error,
    while None, False and empty values count as not given. The entry's ``prepare`` runs first.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{path}: no such model file")
    entry = backend_for(p)
    given = given_options(options)
    refused = [k for k in given if entry.option(k) is None]
    if refused:
        raise ModelError(f"{path}: {entry.name} runner does not take option(s) {', '.join(refused)} "
                         f"({'; '.join(not_taken(k) for k in refused)})")
    if entry.prepare:
        _load(entry.prepare)(p, **{k: v for k, v in given.items() if entry.option(k).for_prepare})
    return entry.runner_class()(p, **{k: v for k, v in given.items() if not entry.option(k).for_prepare})


# --- the backends -----------------------------------------------------------------------------------

THREADS = BackendOption("threads", "--threads", int, "Inference threads [default: the backend's].", minimum=1)


def _torch_fix(jetson: bool) -> str:
    if jetson:
        return (f"install NVIDIA's Jetson build of torch: pip install --index-url {JETSON_INDEX} torch torchvision "
                "(or use Dockerfile.jetson)")
    return ("install an NVIDIA driver and a CUDA build of torch: pip install torch torchvision "
            "--index-url https://download.pytorch.org/whl/cu126")


def check_torch(probe: ModuleProbe, jetson: bool) -> Availability:
    """torch is a core dependency; what a device needs beyond it is a CUDA build that sees the GPU."""
    torch = probe.module("torch")
    if torch is None:
        return Availability("missing", "torch is not importable", _torch_fix(jetson))
    cuda = getattr(torch.version, "cuda", None)
    if not cuda:
        return Availability("missing", f"torch {torch.__version__} is a CPU-only build", _torch_fix(jetson))
    if not torch.cuda.is_available():
        return Availability("missing", f"torch {torch.__version__} (CUDA {cuda}) sees no GPU",
                            "check the driver with nvidia-smi (on a Jetson: the container needs --runtime nvidia)")
    major, minor = torch.cuda.get_device_capability(0)
    return Availability("ok", f"{torch.cuda.get_device_name(0)} (compute {major}.{minor}), torch "
                              f"{torch.__version__}, CUDA {cuda}")


BACKENDS.register("torch", Backend(
    name="torch", suffixes=(".pt",), runner="edgetl.runtime.torch_runner:TorchRunner",
    check=check_torch, check_name="cuda",
    options=(BackendOption("device", "--device", str, "torch device: cpu, cuda or cuda:N."), THREADS),
))


def check_onnxruntime(probe: ModuleProbe, jetson: bool) -> Availability:
    ort = probe.module("onnxruntime")
    if ort is None:
        return Availability("missing", "onnxruntime is not importable", "pip install onnxruntime")
    providers = list(ort.get_available_providers())
    detail = f"onnxruntime {ort.__version__}: {', '.join(p.removesuffix('ExecutionProvider') for p in providers)}"
    if any(p in providers for p in GPU_PROVIDERS):
        return Availability("ok", detail)
    fix = (f"pip uninstall onnxruntime && pip install --index-url {JETSON_INDEX} onnxruntime-gpu" if jetson
           else "pip uninstall onnxruntime && pip install onnxruntime-gpu")
    return Availability("missing", detail + " (no CUDA or TensorRT provider: .onnx runs on the CPU)", fix)


BACKENDS.register("onnxruntime", Backend(
    name="onnxruntime", suffixes=(".onnx",), runner="edgetl.runtime.onnxruntime_runner:OnnxRuntimeRunner",
    check=check_onnxruntime,
    options=(BackendOption("providers", "--provider", str, "onnxruntime provider: cpu, cuda, tensorrt or a full "
                           "name; repeatable or comma-separated, in order of preference.", multiple=True,
                           aliases=("--providers",)), THREADS),
))


def check_tensorrt(probe: ModuleProbe, jetson: bool) -> Availability:
    trt = probe.module("tensorrt")
    if trt is not None:
        return Availability("ok", f"TensorRT {trt.__version__}")
    fix = ("TensorRT comes with JetPack: sudo apt install python3-libnvinfer (in Docker: use Dockerfile.jetson's "
           "l4t-jetpack base)" if jetson else "pip install tensorrt (TensorRT 10 wheels, needs an NVIDIA driver)")
    return Availability("missing", "the tensorrt Python module is not importable: 'edgetl build' and .engine "
                                   "models need it", fix)


BACKENDS.register("tensorrt", Backend(
    name="tensorrt", suffixes=(".engine", ".plan"), runner="edgetl.runtime.tensorrt_runner:TensorRTRunner",
    check=check_tensorrt, prepare="edgetl.trt.build:prepare_engine",
    options=(BackendOption("rebuild_stale", "--rebuild-stale", bool, "Rebuild an engine from its ONNX when it "
                           "no longer fits this TensorRT or GPU.", for_prepare=True),),
))
