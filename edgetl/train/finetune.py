"""``finetune``: train a new head (and the unfrozen stages) of a pretrained backbone on image folders.

Writes into the run folder: ``model.pt`` (best epoch, self-describing), ``checkpoint.pt`` (last epoch,
resumable), ``metrics.json``, ``confusion.png``, ``labels.txt``, ``config.json`` and ``train.log``.
Every file is written atomically, so Ctrl-C leaves the last complete epoch usable.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgetl import __version__, backbones, checkpoint, weights
from edgetl.data.layouts import load_dataset
from edgetl.data.samples import SplitData
from edgetl.errors import DataError, EdgetlError, OutputError
from edgetl.fileio import (check_output, check_space, describe_os_error, read_json, remove_stale_temps, write_json,
                           write_text, writing)
from edgetl.preprocess import standardize_tensor, unit_tensor
from edgetl.spec import ModelInfo, Preprocess
from edgetl.train import augment as aug
from edgetl.train import distill
from edgetl.train.images import (DecodedSplit, decode_checked, eval_batch, eval_batches, eval_labels, gather,
                                 to_layout)
from edgetl.train.metrics import plot_confusion, summarize

log = logging.getLogger(__name__)

RUN_FILES = ("model.pt", "checkpoint.pt", "metrics.json", "confusion.png", "labels.txt", "config.json")


@dataclass(frozen=True)
class FinetuneConfig:
    data: str
    out: str
    backbone: str = "mobilenet_v2"
    weights: str | None = None  # a path, "none", or None to find torchvision's ImageNet weights
    freeze: str = "auto"  # K, "auto" or "all"
    epochs: int = 10
    batch_size: int = 64
    image_size: int | None = None  # None: the backbone's own input size
    lr: float = 2e-3  # head learning rate
    backbone_lr_scale: float = 0.5  # unfrozen backbone stages learn at lr * this
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.5
    unfreeze_at: int | None = None  # epoch (1-based) from which every stage trains
    label_smoothing: float = 0.1
    patience: int | None = None  # stop after this many epochs without a better val top-1
    seed: int = 0
    device: str = "auto"
    workers: int = 2
    val_fraction: float = 0.15
    test_fraction: float = 0.0
    cache_features: bool = False
    hflip: bool = False
    channels_last: str = "auto"  # "auto", "on" or "off"
    max_bad_fraction: float = 0.05
    teacher: str | None = None  # an edgetl run (or its model.pt) whose logits guide the training
    distill_alpha: float = distill.DEFAULT_ALPHA  # weight of the teacher's soft targets
    distill_temperature: float = distill.DEFAULT_TEMPERATURE
    distill_baseline: str | None = None  # a run of this student trained alone, for the final table

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FinetuneConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class Callbacks:
    """Progress hooks; the CLI draws bars and tables with them, the library only logs."""

    def on_setup(self, summary: dict) -> None: ...
    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None: ...
    def on_batch(self, loss: float) -> None: ...
    def on_epoch_end(self, record: dict) -> None: ...


@dataclass
class FinetuneResult:
    run: Path
    metrics: dict
    parameters: list[dict]
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- setup

@dataclass
class Dist:
    """This process's place in a torchrun job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: str) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()) else "gloo"
        dist.init_process_group(backend=backend)
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def pick_device(name: str, d: Dist) -> torch.device:
    """``auto`` -> CUDA where there is one; under torchrun each rank takes its local GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise EdgetlError(f"--device {name}: CUDA is not available here (use --device cpu)")
        if d.world > 1:
            return torch.device("cuda", d.local_rank)
    return torch.device(name)


def _use_channels_last(cfg: FinetuneConfig, device: torch.device) -> bool:
    # Measured with benchmarks/training_throughput.py: channels_last speeds up CNN training on CUDA and,
    # with this torch build's oneDNN kernels, on the CPU too; "off" is there for odd builds.
    return cfg.channels_last == "on" or (cfg.channels_last == "auto")


def _prepare_run_dir(run: Path, resume: bool, overwrite: bool) -> None:
    if resume and not run.is_dir():
        raise EdgetlError(f"--resume {run}: no such run folder")
    check_output(run, kind="folder")
    for name in (*RUN_FILES, "train.log"):
        check_output(run / name)
    if not resume and (run / "model.pt").exists() and not overwrite:
        raise EdgetlError(f"{run} already holds a trained model: continue it with --resume {run}, "
                          f"choose another -o, or pass --overwrite")
    probe = run / ".write-test"  # what check_output cannot see (ACLs, a file system mounted oddly)
    try:
        run.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write to the output folder {run}: {describe_os_error(exc, probe)}") from exc


def _checkpoint_bytes(tr: "Trainer") -> int:
    """About what one epoch writes: model.pt, and checkpoint.pt with the optimizer's two moments."""
    weights = sum(t.numel() * t.element_size() for t in tr.model.state_dict().values())
    trainable = sum(p.numel() * p.element_size() for p in tr.model.parameters() if p.requires_grad)
    return 2 * weights + 2 * trainable


class _LogFile(logging.FileHandler):
    """train.log; a record that cannot be written (disk full) is dropped rather than printed with a
    traceback: the write that matters fails on its own with one line."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


@contextmanager
def _log_to_file(path: Path, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    with writing(path):
        handler = _LogFile(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("edgetl")
    old = root.level
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
        handler.close()


# ------------------------------------------------------------------------------------------ training

class Trainer:
    """One fine-tuning: the model, its frozen stages, optimiser and schedule, and the train/eval steps that
    ``finetune`` and quantization-aware training (``edgetl.train.qat``) both run."""

    def __init__(self, cfg: FinetuneConfig, dist: Dist, device: torch.device, data: SplitData):
        self.cfg, self.dist, self.device, self.data = cfg, dist, device, data
        self.spec = backbones.get_spec(cfg.backbone)
        self.pre: Preprocess = self.spec.default_preprocess(cfg.image_size)
        self.k = backbones.resolve_freeze(self.spec, cfg.freeze)
        if cfg.cache_features and self.k < self.spec.num_stages:
            raise EdgetlError(f"--cache-features needs every backbone stage frozen: add --freeze all "
                              f"(now {self.k} of {self.spec.num_stages})")
        if cfg.cache_features and (cfg.unfreeze_at or dist.world > 1):
            raise EdgetlError("--cache-features trains only the head in one process: drop --unfreeze-at / torchrun")
        self.channels_last = _use_channels_last(cfg, device)
        self.amp = device.type == "cuda"
        self.aug_cfg = aug.AugmentConfig(hflip=cfg.hflip)
        self.distiller: distill.Distiller | None = None

    # --- model
    def build(self, state: dict | None) -> None:
        cfg, spec = self.cfg, self.spec
        self.model = backbones.build_model(spec, len(self.data.classes), self.pre.size)
        if state is None:
            sd, self.weights_info = weights.resolve(spec, cfg.weights)
            if sd is not None:
                weights.load_into(self.model, sd, spec, self.weights_info.path or "the weights")
        else:
            self.model.load_state_dict(state["model"])
            self.weights_info = weights.ResolvedWeights(**state["weights"])
        self.frozen = backbones.FrozenStages(self.model, spec, self.k)
        if backbones.speed_up_batchnorm(self.model, self.frozen):
            log.info("BatchNorm momentum of trainable layers raised to %s for fine-tuning", backbones.FINETUNE_BN_MOMENTUM)
        self.model.to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        groups = backbones.stage_param_groups(self.model, spec, cfg.lr, cfg.lr * cfg.backbone_lr_scale)
        self.opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        self.ddp = None

    def wrap(self) -> nn.Module:
        if self.dist.world <= 1:
            return self.model
        if self.ddp is None:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        return self.ddp

    def schedule(self, steps_per_epoch: int) -> None:
        total = max(1, self.cfg.epochs * steps_per_epoch)
        warm = int(self.cfg.warmup_epochs * steps_per_epoch)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            t = (step - warm) / max(1, total - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, factor)

    # --- tensors: decoded uint8 (N, R, R, 3) -> model input, by edgetl.preprocess's functions
    def eval_input(self, x_uint8_nhwc: torch.Tensor) -> torch.Tensor:
        """Centre crop and normalisation exactly as every runtime computes them."""
        return to_layout(eval_batch(x_uint8_nhwc, self.pre, self.device), self.channels_last)

    def train_input(self, x_uint8_nhwc: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Augmented crop, normalised with the model's mean and std."""
        x01 = unit_tensor(x_uint8_nhwc.to(self.device, non_blocking=True))
        return to_layout(standardize_tensor(aug.augment(x01, self.pre.size, self.aug_cfg, g), self.pre),
                         self.channels_last)

    @torch.no_grad()
    def predict(self, split, features: torch.Tensor | None = None, batch: int = 256) -> np.ndarray:
        self.model.eval()
        outs = []
        with self._autocast():
            if features is not None:
                head = self.model.get_submodule(self.spec.head)
                for i in range(0, len(features), batch):
                    outs.append(head(features[i : i + batch].to(self.device)).argmax(1).cpu())
            else:
                for imgs, _ in eval_batches(split, batch, self.cfg.workers):
                    outs.append(self.model(self.eval_input(imgs)).argmax(1).cpu())
        return torch.cat(outs).numpy() if outs else np.zeros(0, np.int64)

    def eval_labels(self, split) -> np.ndarray:
        """The labels of what ``predict`` predicts (a streaming split drops its unreadable images)."""
        return eval_labels(split, self.cfg.workers)

    @torch.no_grad()
    def features(self, split: DecodedSplit) -> torch.Tensor:
        self.model.eval()
        fn, _ = backbones.features_and_head(self.model, self.spec)
        feats = []
        for imgs, _ in eval_batches(split, 256, self.cfg.workers):
            with self._autocast():
                feats.append(fn(self.eval_input(imgs)).float().cpu())
        return torch.cat(feats)

    def _autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
        return torch.autocast("cpu", enabled=False)

    # --- one epoch
    def train_epoch(self, epoch: int, train, feats: torch.Tensor | None, cb: Callbacks) -> dict:
        cfg, d = self.cfg, self.dist
        g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout
        n = len(train) if feats is None else len(feats)
        perm = torch.randperm(n, generator=g)
        per_rank = n // d.world
        perm = perm[d.rank * per_rank : (d.rank + 1) * per_rank] if d.world > 1 else perm
        bs = max(2, cfg.batch_size // d.world)
        nb = max(1, len(perm) // bs)  # drop the ragged last batch: BatchNorm needs full batches
        labels = train.labels
        net = self.wrap() if feats is None else self.model.get_submodule(self.spec.head)
        if feats is None:
            self.frozen.train(net)
        else:
            net.train()
        cb.on_epoch_start(epoch, cfg.epochs, nb)
        t0, seen, loss_sum = time.perf_counter(), 0, 0.0
        for b in range(nb):
            idx = perm[b * bs : (b + 1) * bs]
            if feats is None:
                # A streaming split drops its unreadable images: labels and the teacher follow the kept idx.
                imgs, idx = gather(train, idx)
                if len(idx) < 2:  # BatchNorm needs two images
                    log.warning("epoch %d: skipped batch %d, fewer than two of its images could be read", epoch, b + 1)
                    continue
            y = labels[idx].to(self.device)
            draws = g.get_state()  # the teacher's view repeats the student's augmentation
            with self._autocast():
                if feats is None:
                    logits = net(self.train_input(imgs, g))
                else:
                    logits = net(feats[idx].to(self.device))
                loss = self.loss(logits.float(), y, idx, draws)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            seen += len(idx)
            lv = loss.item()
            loss_sum += lv * len(idx)
            cb.on_batch(lv)
        secs = time.perf_counter() - t0
        rec = {"train_loss": loss_sum / max(1, seen), "seconds": round(secs, 3),
               "images_per_s": round(seen * d.world / secs, 1) if secs > 0 else None}
        if self.distiller is not None:
            rec["teacher_seconds"] = self.distiller.take_seconds()
        return rec

    def loss(self, logits: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """Cross-entropy on the labels, or with a teacher the distillation loss."""
        if self.distiller is None:
            return F.cross_entropy(logits, y, label_smoothing=self.cfg.label_smoothing)
        teacher = self.distiller.train_logits(idx, draws, self.aug_cfg)
        return self.distiller.loss(logits, y, teacher, self.cfg.label_smoothing)


def _train_state(tr: Trainer, epoch: int, best: float, bad_epochs: int, history: list) -> dict:
    return {"model": {k: v.detach().cpu() for k, v in tr.model.state_dict().items()},
            "optimizer": tr.opt.state_dict(), "scheduler": tr.sched.state_dict(), "epoch": epoch,
            "best_val_top1": best, "bad_epochs": bad_epochs, "history": history,
            "weights": dataclasses.asdict(tr.weights_info), "config": tr.cfg.to_dict(),
            "frozen_stages": tr.frozen.k, "distillation": _distillation(tr)}


def _distillation(tr: Trainer) -> dict | None:
    """The teacher record (path, sha256, its own test top-1) with alpha and T, or None without one."""
    return tr.distiller.record_dict() if tr.distiller is not None else None


def _teacher_entry(tr: Trainer) -> dict:
    """``{"distillation": record}`` to add to a file written for a distilled run, else nothing."""
    return {"distillation": tr.distiller.record_dict()} if tr.distiller is not None else {}


def _model_info(tr: Trainer) -> ModelInfo:
    w = tr.weights_info
    return ModelInfo(backbone=tr.spec.name, labels=tuple(tr.data.classes), preprocess=tr.pre,
                     extra={"weights_source": w.source, "weights_sha256": w.sha256})


def finetune(cfg: FinetuneConfig, callbacks: Callbacks | None = None, resume: bool = False,
             overwrite: bool = False) -> FinetuneResult:
    """Fine-tune ``cfg.backbone`` on ``cfg.data`` into ``cfg.out``; see the module docstring."""
    cb = callbacks or Callbacks()
    run = Path(cfg.out)
    dist = _init_distributed(cfg.device)
    if dist.main:
        _prepare_run_dir(run, resume, overwrite)
    elif resume and not run.is_dir():
        raise EdgetlError(f"--resume {run}: no such run folder")
    state = None
    if resume:
        if not (run / "checkpoint.pt").is_file():
            raise EdgetlError(f"--resume {run}: no checkpoint.pt there to continue from")
        state = checkpoint.load_train_state(run / "checkpoint.pt")
        saved = FinetuneConfig.from_dict(state["config"])
        # --epochs on resume sets the new total (the cosine schedule then ends there); 0 keeps the saved one.
        cfg = dataclasses.replace(saved, epochs=cfg.epochs or saved.epochs, out=str(run))
    with _log_to_file(run / "train.log", dist.main):
        if dist.main:
            remove_stale_temps(run, RUN_FILES)
        return _finetune(cfg, cb, dist, state)


def _finetune(cfg: FinetuneConfig, cb: Callbacks, dist: Dist, state: dict | None) -> FinetuneResult:
    run = Path(cfg.out)
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device, dist)
    data = load_dataset(cfg.data, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction, seed=cfg.seed)
    for note in data.notes:
        log.info("%s", note)
    if state is not None and list(state.get("classes", data.classes)) != list(data.classes):
        raise DataError(f"{cfg.data}: classes differ from the run being resumed ({len(data.classes)} vs "
                        f"{len(state['classes'])}); resume with the same data")
    tr = Trainer(cfg, dist, device, data)
    tr.distiller = distill.from_config(cfg, data.classes, device, tr.channels_last, tr._autocast, state)
    splits = decode_checked(data, ("train", "val", "test"), tr.pre, max(2, cfg.workers * 2), cfg.max_bad_fraction)
    if tr.distiller is not None:
        tr.distiller.decode_train(data.splits["train"], splits["train"], threads=max(2, cfg.workers * 2))
    tr.build(state)
    if dist.main:
        check_space(run, _checkpoint_bytes(tr), f"{run}/model.pt and checkpoint.pt")
    feats = None
    if cfg.cache_features:
        if not isinstance(splits["train"], DecodedSplit):
            raise EdgetlError("--cache-features needs the train split to fit in memory")
        t0 = time.perf_counter()
        feats = {name: tr.features(s) for name, s in splits.items()}
        log.info("cached %s features for %s images in %.1fs", tuple(feats["train"].shape[1:]),
                 sum(len(f) for f in feats.values()), time.perf_counter() - t0)
        if tr.distiller is not None:
            tr.distiller.cache_train_logits()
    n_train = len(splits["train"])
    bs = max(2, cfg.batch_size // dist.world)
    tr.schedule(max(1, (n_train // dist.world) // bs))
    table = backbones.parameter_table(tr.model, tr.spec)
    start, best, bad_epochs, history = 1, -1.0, 0, []
    if state is not None:
        tr.opt.load_state_dict(state["optimizer"])
        tr.sched.load_state_dict(state["scheduler"])
        start, best = state["epoch"] + 1, state["best_val_top1"]
        bad_epochs, history = state["bad_epochs"], list(state["history"])
        log.info("resuming %s after epoch %d (best val top-1 %.4f)", run, state["epoch"], best)
    cb.on_setup({"classes": data.classes, "layout": data.layout, "device": str(device), "world": dist.world,
                 "counts": {k: len(v) for k, v in splits.items()}, "frozen_stages": tr.k,
                 "num_stages": tr.spec.num_stages, "parameters": table, "weights": tr.weights_info.source,
                 "channels_last": tr.channels_last, "amp": tr.amp, "start_epoch": start,
                 "distillation": _distillation(tr)})
    stopped_early = False
    if dist.main:
        write_json(run / "config.json", {**cfg.to_dict(), "edgetl_version": __version__,
                                         **_teacher_entry(tr)})
        write_text(run / "labels.txt", "\n".join(data.classes) + "\n")
    try:
        for epoch in range(start, cfg.epochs + 1):
            if cfg.unfreeze_at and epoch >= cfg.unfreeze_at and tr.frozen.k:
                tr.frozen.unfreeze_all(tr.model)
                tr.ddp = None
                log.info("epoch %d: every stage now trains (--unfreeze-at %d)", epoch, cfg.unfreeze_at)
            rec = tr.train_epoch(epoch, splits["train"], None if feats is None else feats["train"], cb)
            val_pred = tr.predict(splits["val"], None if feats is None else feats["val"])
            rec = {"epoch": epoch, **rec, "val_top1": float((val_pred == tr.eval_labels(splits["val"])).mean())}
            history.append(rec)
            improved = rec["val_top1"] > best
            if improved:
                best, bad_epochs = rec["val_top1"], 0
            else:
                bad_epochs += 1
            if dist.main:
                if improved:
                    checkpoint.save_model(run / "model.pt", tr.model, _model_info(tr),
                                          metrics={"val_top1": best, "epoch": epoch}, config=cfg.to_dict(),
                                          **_teacher_entry(tr))
                checkpoint.save_train_state(run / "checkpoint.pt", classes=list(data.classes),
                                            **_train_state(tr, epoch, best, bad_epochs, history))
                write_json(run / "metrics.json", {"epochs": history, "best_val_top1": best, "complete": False,
                                                  **_teacher_entry(tr)})
            log.info("epoch %d: loss %.4f, val top-1 %.4f%s", epoch, rec["train_loss"], rec["val_top1"],
                     " (best)" if improved else "")
            cb.on_epoch_end({**rec, "best": improved})
            if cfg.patience and bad_epochs >= cfg.patience:
                log.info("early stop: val top-1 has not improved for %d epochs", cfg.patience)
                stopped_early = True
                break
    except KeyboardInterrupt:
        log.warning("interrupted: %s holds the last complete epoch; continue with 'edgetl finetune --resume %s'", run, run)
        raise
    except OutputError as exc:
        if (run / "checkpoint.pt").is_file():
            raise OutputError(f"{exc}; {run} keeps the last complete epoch: make room and continue with "
                              f"'edgetl finetune --resume {run}'") from exc
        raise
    metrics = {"epochs": history, "best_val_top1": best, "complete": True, "stopped_early": stopped_early}
    if dist.main:
        metrics.update(_final_report(tr, run, splits, feats))
        write_json(run / "metrics.json", metrics)
    if dist.world > 1:
        torch.distributed.barrier()
    return FinetuneResult(run, metrics, table, stopped_early, data.notes)


def _final_report(tr: Trainer, run: Path, splits: dict, feats: dict | None) -> dict:
    """Reload the best epoch and evaluate it on test (or val): top-1, per-class, confusion.png."""
    best = checkpoint.read_model_file(run / "model.pt")
    tr.model.load_state_dict(best["state_dict"])
    name = "test" if "test" in splits else "val"
    if feats is not None:
        pred = tr.predict(splits[name], feats[name])
    else:
        pred = tr.predict(splits[name])
    s = summarize(pred, tr.eval_labels(splits[name]), tr.data.classes)
    plot_confusion(s["confusion"], tr.data.classes, run / "confusion.png",
                   f"{tr.spec.name} on {name}: top-1 {s['top1']:.2%}")
    out = {"best_epoch": best["metrics"]["epoch"], "evaluated_on": name, "per_class": s["per_class"],
           "confusion": s["confusion"]}
    out[f"{name}_top1"] = s["top1"]
    if tr.distiller is not None:
        out["distillation"] = _distillation_table(tr, name, s["top1"])
    return out


def _distillation_table(tr: Trainer, split: str, student_top1: float) -> dict:
    """Teacher, student with the teacher and (given --distill-baseline) without, all on ``split``."""
    samples, threads = tr.data.splits[split], max(2, tr.cfg.workers * 2)
    table = {**_distillation(tr), "split": split, "teacher_top1": tr.distiller.top1(samples, threads),
             "student": {"backbone": tr.spec.name, "input_size": tr.pre.size}, "student_top1": student_top1}
    if tr.cfg.distill_baseline:
        table["baseline"] = distill.baseline_top1(tr.cfg.distill_baseline, tr.data.classes, samples, threads, tr.device)
    return table


def load_config(run: str | os.PathLike) -> dict:
    """The config a run was trained with (its data root among it)."""
    path = Path(run) / "config.json"
    if not path.is_file():
        raise EdgetlError(f"{run}: no config.json (not an edgetl run folder)")
    return read_json(path)
