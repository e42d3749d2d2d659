"""What ``--qat`` asks for (``QatConfig``), its modes and its defaults.

Kept apart from ``edgetl.export.qat``, which imports torch, so ``edgetl export --help`` shows the
choices and defaults without loading torch. ``edgetl.export.qat`` imports these names from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgetl.errors import ExportError

QAT_MODES = ("off", "auto", "on")
DEFAULT_EPOCHS = 2
DEFAULT_LR = 1e-4
DEFAULT_MAX_SPEED_COST = 0.25  # share of the all-INT8 speed-up that float fallbacks may cost (auto)


@dataclass(frozen=True)
class QatConfig:
    """What ``--qat`` asked for: when QAT runs (off, auto, on), for how long and how fast."""

    mode: str = "off"
    epochs: int = DEFAULT_EPOCHS
    lr: float = DEFAULT_LR
    max_speed_cost: float = DEFAULT_MAX_SPEED_COST

    def __post_init__(self) -> None:
        if self.mode not in QAT_MODES:
            raise ExportError(f"--qat {self.mode!r}: use one of {', '.join(QAT_MODES)}")
        if self.mode != "off" and self.epochs < 1:
            raise ExportError(f"--qat-epochs {self.epochs}: quantization-aware training needs at least 1 epoch")
        if not self.lr > 0:
            raise ExportError(f"--qat-lr {self.lr}: the learning rate must be above 0")
        if not 0 <= self.max_speed_cost <= 1:
            raise ExportError(f"--qat-max-cost {self.max_speed_cost}: a share of the speed-up, 0..1")

    @property
    def enabled(self) -> bool:
        return self.mode != "off"
