"""The locate stage: where in a frame to look, between capture and classification.

A locator takes a BGR frame and returns ``edgetl.proposals.Located``: candidate boxes in full-resolution
frame pixels, each with a score, the cue that found it, and the square region (``crops``) the classifier
is given. Locators are entries of ``LOCATORS``, each with its options as data (the CLI derives its flags):

- ``frame``: the whole frame, or a fixed ROI: one box, cropped exactly as the loop always has;
- ``signs``: sign proposals from colour and shape (``edgetl.proposals.SignProposer``);
- ``windows``: multi-scale sliding windows, for objects that have no colour cue.

``choose_locator`` is the rule that picks one when the user names none (see its docstring).
``crop_batch`` turns the crops of one frame into one model batch with the deployment preprocessing;
``infer_batch`` runs a batch through a Runner in chunks its batch range accepts (the classify stage,
``edgetl.camera.classify``, does both for a frame, chunk by chunk when the crops are many).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from edgetl.errors import EdgetlError
from edgetl.preprocess import crop_roi, preprocess_frames
from edgetl.proposals import (SIGN_COLOURS, SIGN_FILL, Box, FrameLocator, Located, SignConfig, SignProposer,
                              WindowConfig, WindowLocator, window_grid)
from edgetl.registry import Registry
from edgetl.runtime import Runner
from edgetl.spec import Preprocess

log = logging.getLogger(__name__)


class Locator(Protocol):
    """A frame in, candidate boxes out."""

    name: str

    def locate(self, frame_bgr: np.ndarray) -> Located: ...


def parse_xywh(text: str) -> Box:
    """``"x,y,w,h"`` -> (x1, y1, x2, y2); raise EdgetlError on anything else."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise EdgetlError(f"--roi {text!r}: expected x,y,w,h in pixels, e.g. 640,0,640,360") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise EdgetlError(f"--roi {text!r}: x and y must be >= 0, width and height > 0")
    return x, y, x + w, y + h


# --- the registry ---------------------------------------------------------------------------------------

def parse_floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise EdgetlError(f"{text!r}: expected numbers separated by commas, e.g. 0.1,0.2,0.4") from None


def parse_names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in str(text).split(",") if v.strip())


def _number(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise EdgetlError(f"{text!r}: expected {'an integer' if kind is int else 'a number'}") from None
    return parse


@dataclass(frozen=True)
class LocatorOption:
    """One setting of a locator, as data: the CLI derives its flag and help from it."""

    name: str  # the constructor's keyword
    flag: str
    default: Any
    parse: Callable[[str], Any]  # command-line text -> value
    help: str
    metavar: str = ""


def _one_box(locator: Locator, size: tuple[int, int] | None) -> int:
    return 1


@dataclass(frozen=True)
class LocatorEntry:
    """A locator kind: its name, one line saying what it does, its options, its constructor, and the
    most boxes one of its locators returns for a frame of a size (None: unknown until a frame comes),
    which the loop checks against the model's batch profile."""

    name: str
    description: str
    factory: Callable[..., Locator]
    options: tuple[LocatorOption, ...] = field(default_factory=tuple)
    max_boxes: Callable[[Locator, tuple[int, int] | None], int | None] = _one_box

    def defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self.options}

    def create(self, **values: Any) -> Locator:
        """A locator with ``values`` (typed, or command-line text) over the defaults; None = default."""
        by_name = {o.name: o for o in self.options}
        unknown = sorted(set(values) - set(by_name))
        if unknown:
            flags = ", ".join(_flag_of(k) for k in unknown)
            raise EdgetlError(f"locator {self.name!r} takes no option {', '.join(unknown)} ({flags}); "
                              f"it takes {', '.join(o.flag for o in self.options) or 'none'}")
        kw = self.defaults()
        for k, v in values.items():
            if v is not None:
                kw[k] = by_name[k].parse(v) if isinstance(v, str) else v
        return self.factory(**kw)


LOCATORS: Registry[LocatorEntry] = Registry("locator")
DEFAULT_LOCATOR = "signs"

MAX_BOXES = LocatorOption("max_boxes", "--max-boxes", SignConfig.max_boxes, _number(int),
                          "most candidate boxes a frame sends to the classifier; the best are kept", "N")
FILL = LocatorOption("fill", "--sign-fill", SIGN_FILL, _number(float),
                     "the object's share of the side of the crop the classifier sees (the training framing)", "F")


def register(entry: LocatorEntry) -> LocatorEntry:
    return LOCATORS.register(entry.name, entry)


def _flag_of(name: str) -> str:
    """``max_boxes`` -> "--max-boxes, an option of signs" (for error messages)."""
    owners = [e.name for e in LOCATORS.values() for o in e.options if o.name == name]
    flag = next((o.flag for e in LOCATORS.values() for o in e.options if o.name == name), name)
    return f"{flag}, an option of {' and '.join(owners)}" if owners else flag


register(LocatorEntry(
    "frame", "the whole frame, or the fixed --roi: one crop per frame, no padding",
    lambda roi: FrameLocator(roi),
    (LocatorOption("roi", "--roi", None, parse_xywh, "crop every frame to this region (x,y,w,h pixels)",
                   "X,Y,W,H"),)))
register(LocatorEntry(
    "signs", "road-sign proposals from the colour and shape of sign designs, on a reduced copy of the frame",
    lambda scale, colours, min_side, max_boxes, fill: SignProposer(
        SignConfig(scale=scale, colours=colours, min_side=min_side, max_boxes=max_boxes, fill=fill)),
    (LocatorOption("scale", "--locate-scale", SignConfig.scale, _number(float),
                   "size of the reduced copy the colour masks are computed on, as a fraction of the frame", "F"),
     LocatorOption("colours", "--sign-colours", SignConfig.colours, parse_names,
                   f"sign paint colours to look for, of {','.join(SIGN_COLOURS)}", "LIST"),
     LocatorOption("min_side", "--min-box", SignConfig.min_side, _number(int),
                   "smallest sign to propose, in frame pixels", "PX"),
     MAX_BOXES, FILL),
    max_boxes=lambda loc, size: loc.config.max_boxes))
register(LocatorEntry(
    "windows", "multi-scale sliding windows over the whole frame, for objects without a colour cue",
    lambda scales, stride, fill: WindowLocator(WindowConfig(scales=scales, stride=stride, fill=fill)),
    (LocatorOption("scales", "--window-scales", WindowConfig.scales, parse_floats,
                   "window sides as fractions of the frame height", "LIST"),
     LocatorOption("stride", "--window-stride", WindowConfig.stride, _number(float),
                   "step between windows as a fraction of the window side", "F"),
     FILL),
    max_boxes=lambda loc, size: len(window_grid(*size, loc.config)[0]) if size else None))


def make_locator(name: str = DEFAULT_LOCATOR, **values: Any) -> Locator:
    """The locator ``name`` of ``LOCATORS`` with ``values`` over its defaults."""
    return LOCATORS.get(name).create(**values)


def choose_locator(requested: str | None, labels: Sequence[str], background: str,
                   options: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """The locator a run uses, and why, by a rule a user can predict:

    1. the one named with ``--locate``;
    2. ``frame`` when a frame option is given (``--roi``): a fixed region is the frame locator's;
    3. ``signs`` when the model's labels include the background class: it can tell a sign from
       whatever else the proposer finds;
    4. otherwise ``frame``, as runs always did: a model without a background class would call every
       red or blue thing a sign.
    """
    if requested is not None:
        LOCATORS.get(requested)
        return requested, "asked for with --locate"
    frame_options = {o.name for o in LOCATORS.get("frame").options}
    given = {k for k, v in (options or {}).items() if v is not None}
    if given & frame_options:
        return "frame", "--roi is the frame locator's region"
    if background in labels:
        return "signs", f"the default: the model has the {background!r} class, so it can reject what is not a sign"
    return "frame", (f"the default for a model without a {background!r} class (it cannot reject what is not a "
                     f"sign): the whole frame is classified; pass --locate signs to find signs anyway")


def max_boxes(name: str, locator: Locator, size: tuple[int, int] | None) -> int | None:
    """The most boxes ``locator`` (of kind ``name``) returns for a frame of ``size`` (None: unknown)."""
    return LOCATORS.get(name).max_boxes(locator, size)


def locator_options() -> list[LocatorOption]:
    """Every option of every locator once (options shared by several locators are one object)."""
    seen: dict[str, LocatorOption] = {}
    for entry in LOCATORS.values():
        for o in entry.options:
            if seen.setdefault(o.flag, o) is not o:
                raise ValueError(f"locators define {o.flag} twice: share one LocatorOption")
    return list(seen.values())


# --- crops to one batch, a batch through a Runner ------------------------------------------------------

def crop_batch(frame_bgr: np.ndarray, crops: np.ndarray, p: Preprocess) -> np.ndarray:
    """The crops of one frame as one model batch (N, 3, size, size) float32, each crop prepared exactly
    as ``Runner.preprocess`` prepares a frame (``preprocess.preprocess_frames``)."""
    return preprocess_frames((crop_roi(frame_bgr, c) for c in crops), p)


def batch_chunks(n: int, batch_range: tuple[int, int | None]) -> list[tuple[int, int]]:
    """[start, stop) chunks of ``n`` items, none larger than the range's maximum (None: no maximum)."""
    hi = batch_range[1] or max(n, 1)
    return [(i, min(i + hi, n)) for i in range(0, n, hi)]


def infer_batch(runner: Runner, batch: np.ndarray) -> np.ndarray:
    """Logits for a batch of any size: split into chunks the runner's ``batch_range`` accepts, a chunk
    under its minimum padded with zeros (their outputs are dropped)."""
    n = len(batch)
    if n == 0:
        return np.zeros((0, runner.info.num_classes), np.float32)
    lo = max(1, runner.batch_range[0])
    out = []
    for a, b in batch_chunks(n, runner.batch_range):
        part = batch[a:b]
        if len(part) < lo:
            part = np.concatenate([part, np.zeros((lo - len(part), *part.shape[1:]), part.dtype)])
        out.append(runner.infer(part)[: b - a])
    return np.concatenate(out)
