"""Per-frame ground truth of a video: its file format, where it sits, and its one reader.

The ground truth sits beside the video as ``NAME.gt.json``::

    {"video": "drive.mp4", "fps": 30, "width": 1280, "height": 720, "num_frames": N,
     "classes": [...], "synthetic": true,
     "frames": [{"frame": 0, "label": "stop" or null, "box": [x1, y1, x2, y2] or null}, ...]}

Only ``frames`` is required; the other fields are checked against it when present. The synthetic
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


@dataclass(frozen=True)
class GroundTruth:
    """Which label (or none) and box each frame of a video has."""

    path: Path
    classes: tuple[str, ...]
    labels: dict[int, str | None]
    boxes: dict[int, Box | None]
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    synthetic: bool = False

    @property
    def num_frames(self) -> int:
        return len(self.labels)


def ground_truth_path(video: str | os.PathLike) -> Path:
    """``drive.mp4`` -> ``drive.gt.json`` beside it."""
    p = Path(video)
    return p.with_name(p.stem + SUFFIX)


def ground_truth_record(video: str, fps: float, width: int, height: int, classes: Sequence[str],
                        frames: list[dict[str, Any]], synthetic: bool, **provenance: Any) -> dict[str, Any]:
    """The JSON object of a ``.gt.json``; ``provenance`` (seed, generator version...) goes before the frames."""
    return {"video": video, "fps": fps, "width": width, "height": height, "num_frames": len(frames),
            "classes": list(classes), **provenance, "synthetic": synthetic, "frames": frames}


def load_ground_truth(path: str | os.PathLike) -> GroundTruth:
    """Read and check a ``.gt.json`` (or the one beside a video); raise DataError naming the first problem."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        path = ground_truth_path(path)
    raw = _read(path)
    labels: dict[int, str | None] = {}
    boxes: dict[int, Box | None] = {}
    for i, entry in enumerate(raw["frames"]):
        try:
            n = int(entry["frame"])
            label = entry.get("label")
            box = entry.get("box")
            labels[n] = None if label is None else str(label)
            boxes[n] = None if box is None else _box(box)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path}: frames[{i}] is not {{frame, label, box}} ({exc!r})") from None
    classes = tuple(str(c) for c in raw.get("classes") or sorted({v for v in labels.values() if v}))
    _check_consistent(path, raw, labels, classes)
    return GroundTruth(path, classes, labels, boxes, _opt_int(raw.get("width")), _opt_int(raw.get("height")),
                       raw.get("fps"), bool(raw.get("synthetic", False)))


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


def _check_consistent(path: Path, raw: dict[str, Any], labels: dict[int, str | None],
                      classes: tuple[str, ...]) -> None:
    """A declared frame count and class list must agree with the frames (a truncated or hand-edited file)."""
    declared = raw.get("num_frames")
    if declared is not None and declared != len(raw["frames"]):
        raise DataError(f"{path}: num_frames is {declared} but {len(raw['frames'])} frames are listed")
    for n, label in labels.items():
        if label is not None and label not in classes:
            raise DataError(f"{path}: frame {n} has label {label!r}, not one of its classes")


def _box(value: Sequence[Any]) -> Box:
    x1, y1, x2, y2 = (int(round(float(v))) for v in value)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"box {list(value)} is empty")
    return x1, y1, x2, y2


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
