"""Per-frame ground truth of a video: its file format, where it sits, and its one reader.

The ground truth sits beside the video as ``NAME.gt.json``. Format 2 lists every sign in view::

    {"video": "drive.mp4", "fps": 30, "width": 1280, "height": 720, "num_frames": N,
     "classes": [...], "synthetic": true, "format": 2,
     "frames": [{"frame": 0, "signs": [{"box": [x1, y1, x2, y2], "label": "stop", "track": 3,
                                        "recognisable": true}, ...]}, ...]}

``track`` numbers one physical sign across frames; ``recognisable`` says whether it is large and whole
enough in that frame to be recognised (a sign in view but not recognisable is neither a miss nor, when
found, a false alarm). Format 1 (one sign or none per frame: ``{"frame", "label", "box"}``) still
loads: each labelled frame is one recognisable sign, and a run of frames with the same label is one
track. Only ``frames`` is required; the other fields are checked against it when present. The synthetic
drive-by generator writes it (``ground_truth_record``), the camera loop scores against it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from edgetl.errors import DataError

Box = tuple[int, int, int, int]
SUFFIX = ".gt.json"
FORMAT = 2


@dataclass(frozen=True)
class SignTruth:
    """One sign in one frame: where, what, which physical sign, and whether it can be recognised there.

    ``box`` is None only in a format-1 file that labels a frame without a box: such a sign counts for
    the classifier-only score, not for detection."""

    box: Box | None
    label: str
    track: int
    recognisable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box) if self.box else None, "label": self.label, "track": self.track, "recognisable": self.recognisable}


@dataclass(frozen=True)
class GroundTruth:
    """Every sign in view in each frame of a video (``signs``), and the classifier-only view of it:
    per frame, the label and box of its largest recognisable sign, or None (``labels``, ``boxes``)."""

    path: Path
    classes: tuple[str, ...]
    signs: dict[int, tuple[SignTruth, ...]]
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    synthetic: bool = False
    format: int = FORMAT

    @property
    def num_frames(self) -> int:
        return len(self.signs)

    @property
    def labels(self) -> dict[int, str | None]:
        return {n: (s.label if s else None) for n, s in self._main().items()}

    @property
    def boxes(self) -> dict[int, Box | None]:
        return {n: (s.box if s else None) for n, s in self._main().items()}

    def _main(self) -> dict[int, SignTruth | None]:
        def area(s: SignTruth) -> int:
            return (s.box[2] - s.box[0]) * (s.box[3] - s.box[1]) if s.box else 0

        return {n: max((s for s in signs if s.recognisable), key=area, default=None) for n, signs in self.signs.items()}

    def tracks(self) -> dict[int, list[tuple[int, SignTruth]]]:
        """Each physical sign's (frame, truth) pairs in frame order."""
        out: dict[int, list[tuple[int, SignTruth]]] = {}
        for n in sorted(self.signs):
            for s in self.signs[n]:
                out.setdefault(s.track, []).append((n, s))
        return out


def ground_truth_path(video: str | os.PathLike) -> Path:
    """``drive.mp4`` -> ``drive.gt.json`` beside it."""
    p = Path(video)
    return p.with_name(p.stem + SUFFIX)


def ground_truth_record(video: str, fps: float, width: int, height: int, classes: Sequence[str],
                        frames: list[dict[str, Any]], synthetic: bool, **provenance: Any) -> dict[str, Any]:
    """The JSON object of a ``.gt.json``; ``provenance`` (seed, generator version...) goes before the frames."""
    fmt = {"format": FORMAT} if any("signs" in f for f in frames) else {}
    return {"video": video, "fps": fps, "width": width, "height": height, "num_frames": len(frames),
            "classes": list(classes), **provenance, "synthetic": synthetic, **fmt, "frames": frames}


def load_ground_truth(path: str | os.PathLike) -> GroundTruth:
    """Read and check a ``.gt.json`` (or the one beside a video); raise DataError naming the first problem."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        path = ground_truth_path(path)
    raw = _read(path)
    signs: dict[int, tuple[SignTruth, ...]] = {}
    run: list[Any] = [None, -1, 0]  # format 1: the last label, the last frame and the track being counted
    for i, entry in enumerate(raw["frames"]):
        try:
            n = int(entry["frame"])
            signs[n] = _signs(entry, n, run)
        except (KeyError, TypeError, ValueError) as exc:
            what = "{frame, signs: [{box, label, track, recognisable}]}" if "signs" in entry else "{frame, label, box}"
            raise DataError(f"{path}: frames[{i}] is not {what} ({exc!r})") from None
    seen = sorted({s.label for ss in signs.values() for s in ss})
    classes = tuple(str(c) for c in raw.get("classes") or seen)
    _check_consistent(path, raw, signs, classes)
    return GroundTruth(path, classes, signs, _opt_int(raw.get("width")), _opt_int(raw.get("height")),
                       raw.get("fps"), bool(raw.get("synthetic", False)), int(raw.get("format", 1)))


def _signs(entry: dict[str, Any], n: int, run: list[Any]) -> tuple[SignTruth, ...]:
    """The signs of one frame entry, of either format."""
    if "signs" in entry:
        return tuple(SignTruth(_box(s["box"]), str(s["label"]), int(s["track"]), bool(s.get("recognisable", True)))
                     for s in entry["signs"])
    label, box = entry.get("label"), entry.get("box")
    if label is None:
        run[0] = None
        return ()
    if label != run[0] or n != run[1] + 1:
        run[2] += 1
    run[0], run[1] = label, n
    return (SignTruth(None if box is None else _box(box), str(label), run[2]),)


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such ground-truth file (expected NAME{SUFFIX} beside NAME.mp4)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not readable JSON ground truth ({exc})") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("frames"), list):
        raise DataError(f"{path}: expected an object with a 'frames' list of {{frame, label, box}}")
    return raw


def _check_consistent(path: Path, raw: dict[str, Any], signs: dict[int, tuple[SignTruth, ...]],
                      classes: tuple[str, ...]) -> None:
    """A declared frame count and class list must agree with the frames (a truncated or hand-edited file)."""
    declared = raw.get("num_frames")
    if declared is not None and declared != len(raw["frames"]):
        raise DataError(f"{path}: num_frames is {declared} but {len(raw['frames'])} frames are listed")
    for n, ss in signs.items():
        for s in ss:
            if s.label not in classes:
                raise DataError(f"{path}: frame {n} has label {s.label!r}, not one of its classes")


def _box(value: Sequence[Any]) -> Box:
    x1, y1, x2, y2 = (int(round(float(v))) for v in value)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"box {list(value)} is empty")
    return x1, y1, x2, y2


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
