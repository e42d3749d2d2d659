"""Knowledge distillation: a fine-tuned edgetl run (the teacher) guides the training of a smaller student.

The student learns from ``(1 - alpha) * CE(student, labels) + alpha * T^2 * KL(softmax(teacher / T) ||
softmax(student / T))`` (Hinton et al., 2015). The teacher is any edgetl run on the same labels, of any
backbone and input size: every training batch reaches it at its own input size and preprocessing. Its
images are decoded a second time at its resolution and get the student's random augmentation (the
same draws: the warp is in normalised coordinates, so both views show the same crop). With ``--freeze
all --cache-features`` the teacher's logits on the eval view are computed once, beside the features.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgetl import checkpoint
from edgetl.data.samples import Sample
from edgetl.errors import EdgetlError, ModelError
from edgetl.fileio import read_json, sha256_file
from edgetl.preprocess import standardize_tensor, unit_tensor
from edgetl.spec import ModelInfo
from edgetl.train import augment as aug
from edgetl.train.images import DecodedSplit, decode_split, eval_batch, eval_batches, gather, to_layout

log = logging.getLogger(__name__)

# Chosen by measurement (benchmarks/distillation.py; README, Measured): MobileNetV2 at 64 px with a
# MobileNetV2 teacher at 128 px on Fashion-MNIST, 5 epochs, seed 0, gained +1.8 points of test top-1 at
# alpha 0.5 / T 1 and +1.1 at 0.9 / 1, against -0.3 at 0.5 / 2, +0.2 at 0.5 / 4 and +0.6 at 0.9 / 4. A second
# seed put the spread between seeds at about 1.5 points, so this is also torchdistill's default, not a
# setting shown better than its neighbours.
DEFAULT_ALPHA = 0.5
DEFAULT_TEMPERATURE = 1.0


@dataclass(frozen=True)
class TeacherRecord:
    """Which teacher a run learned from; written into model.pt, metrics.json and config.json."""

    path: str  # the teacher's model.pt, absolute
    sha256: str  # of that file
    backbone: str
    input_size: int
    test_top1: float | None  # as the teacher's own run measured it (its metrics.json), if it did

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def teacher_file(arg: str | Path) -> Path:
    """``--teacher`` names a run folder or its model.pt."""
    path = Path(arg)
    if path.is_dir():
        if not (path / "model.pt").is_file():
            raise ModelError(f"--teacher {arg}: no model.pt there; a teacher is an edgetl run folder (or its model.pt)")
        return (path / "model.pt").resolve()
    if not path.is_file():
        raise ModelError(f"--teacher {arg}: no such run folder or file")
    return path.resolve()


def _recorded_top1(metrics_path: Path) -> float | None:
    """The test (or val) top-1 the teacher's own run wrote, when it has a metrics.json."""
    try:
        m = read_json(metrics_path)
    except (OSError, ValueError):
        return None
    split = m.get("evaluated_on") if isinstance(m, dict) else None
    value = m.get(f"{split}_top1") if split == "test" else None
    return float(value) if isinstance(value, (int, float)) else None


def check_labels(info: ModelInfo, classes: Sequence[str], what: str) -> None:
    """One-line error unless ``info`` has exactly ``classes``, in that order."""
    mine, theirs = list(classes), list(info.labels)
    if mine == theirs:
        return
    if sorted(mine) == sorted(theirs):
        first = next(i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b)
        raise EdgetlError(f"{what} has the same {len(mine)} labels in another order (label {first} is "
                          f"{theirs[first]!r} there, {mine[first]!r} here): train it on labels.txt's order")
    extra, missing = sorted(set(theirs) - set(mine)), sorted(set(mine) - set(theirs))
    raise EdgetlError(f"{what} was trained on other labels ({len(theirs)} vs {len(mine)} here; only there: "
                      f"{extra[:3]}, only here: {missing[:3]}): it must know exactly this data's classes")


def load_teacher(arg: str | Path, classes: Sequence[str], expected_sha256: str | None = None
                 ) -> tuple[nn.Module, ModelInfo, TeacherRecord]:
    """Load and check a teacher before any training: a readable edgetl model, the same labels in the same
    order, and (on --resume) the very file the run started with."""
    path = teacher_file(arg)
    digest = sha256_file(path)
    if expected_sha256 is not None and digest != expected_sha256:
        raise ModelError(f"teacher {path} changed since this run started (sha256 {digest[:12]}..., recorded "
                         f"{expected_sha256[:12]}...): put the original back or start a new run")
    model, info = checkpoint.load_model(path)
    check_labels(info, classes, f"--teacher {arg}")
    record = TeacherRecord(str(path), digest, info.backbone, info.preprocess.size,
                           _recorded_top1(path.parent / "metrics.json"))
    return model, info, record


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, alpha: float,
                      temperature: float, label_smoothing: float = 0.0) -> torch.Tensor:
    """(1 - alpha) x cross-entropy on the labels + alpha x T^2 x KL(teacher/T || student/T), batch mean.

    T^2 keeps the soft term's gradients on the scale of the hard term's as T changes (Hinton et al.)."""
    ce = F.cross_entropy(student, labels, label_smoothing=label_smoothing)
    t = float(temperature)
    kl = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher.float() / t, dim=1),
                  reduction="batchmean", log_target=True)
    return (1 - alpha) * ce + alpha * t * t * kl


class Distiller:
    """The teacher on the trainer's device, its view of the training images, and the loss."""

    def __init__(self, model: nn.Module, info: ModelInfo, record: TeacherRecord, alpha: float,
                 temperature: float, device: torch.device, channels_last: bool, autocast: Callable[[], Any]):
        self.info, self.record, self.alpha, self.temperature = info, record, alpha, temperature
        self.pre = info.preprocess
        self.device, self.channels_last, self._autocast = device, channels_last, autocast
        self.model = model.to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.train_images: DecodedSplit | Any = None
        self.cached: torch.Tensor | None = None
        self.seconds = 0.0

    # --- the teacher's copy of the training images
    def decode_train(self, samples: Sequence[Sample], student_split, threads: int) -> None:
        """Decode the train split at the teacher's resolution, image for image as the student's."""
        t0 = time.perf_counter()
        self.train_images = decode_split(samples, self.pre, threads=threads)
        if list(self.train_images.paths) != list(student_split.paths):
            raise EdgetlError("the teacher's and the student's decodes of train/ disagree on which images are "
                              "readable; remove the unreadable images and start again")
        log.info("teacher: decoded %d training images at %dx%d in %.1fs", len(self.train_images.paths),
                 self.pre.resize, self.pre.resize, time.perf_counter() - t0)

    @torch.no_grad()
    def train_logits(self, idx: torch.Tensor, gen_state: torch.Tensor, aug_cfg: aug.AugmentConfig) -> torch.Tensor:
        """The teacher's logits for training images ``idx`` (those the student's batch could read), augmented
        with the draws the student's batch used (``gen_state``: the generator's state before its augmentation)."""
        t0 = time.perf_counter()
        if self.cached is not None:
            out = self.cached[idx].to(self.device)
        else:
            g = torch.Generator().set_state(gen_state)
            imgs, kept = gather(self.train_images, idx)
            if len(kept) != len(idx):  # streamed: the student read an image the teacher cannot
                missing = sorted(set(idx.tolist()) - set(kept.tolist()))[0]
                raise EdgetlError(f"the teacher cannot read training image {self.train_images.paths[missing]} that "
                                  "the student could; remove it and start again")
            x01 = unit_tensor(imgs.to(self.device, non_blocking=True))
            x = to_layout(standardize_tensor(aug.augment(x01, self.pre.size, aug_cfg, g), self.pre), self.channels_last)
            with self._autocast():
                out = self.model(x).float()
        self.seconds += time.perf_counter() - t0
        return out

    @torch.no_grad()
    def eval_logits(self, split, batch: int = 256) -> torch.Tensor:
        """Logits on the eval view (the teacher's centre crop and normalisation) of a decoded split."""
        return self._evaluate(split, batch)[0]

    @torch.no_grad()
    def _evaluate(self, split, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits on the eval view and the labels of the same images: a streaming split drops its unreadable
        images from the batches, so its labels come from them and not from the split."""
        outs, labels = [], []
        for imgs, lab in eval_batches(split, batch):
            with self._autocast():
                x = to_layout(eval_batch(imgs, self.pre, self.device), self.channels_last)
                outs.append(self.model(x).float().cpu())
            labels.append(lab)
        if not outs:
            return torch.zeros(0, len(self.info.labels)), torch.zeros(0, dtype=torch.long)
        return torch.cat(outs), torch.cat(labels)

    def cache_train_logits(self) -> None:
        """For --cache-features: the teacher's logits on the eval view of every training image, once."""
        if not isinstance(self.train_images, DecodedSplit):
            raise EdgetlError("--cache-features with --teacher needs the train split in memory at the teacher's size")
        t0 = time.perf_counter()
        self.cached = self.eval_logits(self.train_images)
        log.info("teacher: cached logits of %d training images in %.1fs", len(self.cached), time.perf_counter() - t0)

    def loss(self, student: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor,
             label_smoothing: float) -> torch.Tensor:
        return distillation_loss(student, teacher, labels, self.alpha, self.temperature, label_smoothing)

    def take_seconds(self) -> float:
        """Seconds spent in the teacher since the last call (its cost per epoch)."""
        s, self.seconds = self.seconds, 0.0
        return round(s, 3)

    def top1(self, samples: Sequence[Sample], threads: int) -> float:
        """The teacher's top-1 on a split's samples, decoded at its own preprocessing."""
        logits, labels = self._evaluate(decode_split(samples, self.pre, threads=threads))
        pred, truth = logits.argmax(1).numpy(), labels.numpy()
        return float((pred == truth).mean()) if len(truth) else float("nan")

    def record_dict(self) -> dict[str, Any]:
        return {"teacher": self.record.to_dict(), "alpha": self.alpha, "temperature": self.temperature}


def _no_autocast():
    return torch.autocast("cpu", enabled=False)


def from_config(cfg, classes: Sequence[str], device: torch.device, channels_last: bool,
                autocast: Callable[[], Any], state: dict | None) -> Distiller | None:
    """The Distiller a FinetuneConfig asks for (None without --teacher), checked before any training.

    On --resume the teacher is reloaded from the path the run recorded and must hash the same."""
    if not cfg.teacher:
        if cfg.distill_baseline:
            raise EdgetlError("--distill-baseline compares a distilled student with one trained alone: add --teacher")
        return None
    for option, arg in (("--teacher", cfg.teacher), ("--distill-baseline", cfg.distill_baseline)):
        if arg and teacher_file(arg).parent == Path(cfg.out).resolve():
            raise EdgetlError(f"{option} {arg} is the run being written (-o {cfg.out}): choose another -o")
    if not 0 < cfg.distill_alpha <= 1 or cfg.distill_temperature <= 0:
        raise EdgetlError(f"distillation needs 0 < alpha <= 1 and temperature > 0 (got {cfg.distill_alpha}, "
                          f"{cfg.distill_temperature})")
    if cfg.distill_baseline:
        check_labels(checkpoint.load_model(teacher_file(cfg.distill_baseline))[1], classes,
                     f"--distill-baseline {cfg.distill_baseline}")
    recorded = ((state or {}).get("distillation") or {}).get("teacher") or {}
    model, info, record = load_teacher(recorded.get("path", cfg.teacher), classes, recorded.get("sha256"))
    log.info("teacher: %s (%s at %dx%d, sha256 %s...), alpha %g, temperature %g", record.path, record.backbone,
             record.input_size, record.input_size, record.sha256[:12], cfg.distill_alpha, cfg.distill_temperature)
    return Distiller(model, info, record, cfg.distill_alpha, cfg.distill_temperature, device, channels_last, autocast)


def baseline_top1(arg: str | Path, classes: Sequence[str], samples: Sequence[Sample], threads: int,
                  device: torch.device) -> dict[str, Any]:
    """Top-1 of another run (the student trained without the teacher) on this run's eval samples, at its
    own preprocessing, for the final table."""
    model, info, record = load_teacher(arg, classes)
    other = Distiller(model, info, record, 0.0, 1.0, device, False, _no_autocast)
    return {"run": record.to_dict(), "top1": other.top1(samples, threads)}
