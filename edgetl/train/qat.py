"""Train an already-prepared model (fake quantizers in place) for a few epochs, the way finetune trains.

Quantization-aware training is fine-tuning with a different model: the run's data, decoding, augmentation,
loss, schedule and per-epoch loop are finetune's own (``Trainer``); only the model, the optimiser over all
of its parameters and the learning rate differ. Which quantizers the model holds is the caller's business
(``edgetl.export.qat``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch
from torch import nn

from edgetl.data.samples import SplitData
from edgetl.errors import DataError
from edgetl.spec import ModelInfo, Preprocess
from edgetl.train.finetune import Callbacks, FinetuneConfig, Dist, pick_device, Trainer
from edgetl.train.images import decode_checked

log = logging.getLogger(__name__)


@dataclass
class QatTraining:
    """Per-epoch records (loss, val top-1 of the fake-quantized model, seconds, images/s)."""

    history: list[dict]

    @property
    def seconds_per_epoch(self) -> float:
        return sum(r["seconds"] for r in self.history) / max(1, len(self.history))

    @property
    def images_per_s(self) -> float | None:
        rates = [r["images_per_s"] for r in self.history if r.get("images_per_s")]
        return sum(rates) / len(rates) if rates else None


class _AllStages:
    """Every parameter trains; stands in for finetune's ``FrozenStages`` (BatchNorm is folded already)."""

    k = 0

    def train(self, model: nn.Module, mode: bool = True) -> nn.Module:
        return model.train(mode)


def qat_recipe(config: dict, info: ModelInfo, data_root: str, epochs: int, lr: float) -> FinetuneConfig:
    """The recipe the run was fine-tuned with (``config``: what finetune recorded; missing keys take
    finetune's defaults) for ``epochs`` more at ``lr`` on ``info``'s model: no warm-up, one process."""
    recipe = FinetuneConfig.from_dict({**config, "data": str(data_root), "out": str(config.get("out", "."))})
    return dataclasses.replace(recipe, backbone=info.backbone, image_size=info.preprocess.size, epochs=epochs,
                               lr=lr, warmup_epochs=0.0, cache_features=False, unfreeze_at=None, patience=None)


def train_prepared(model: nn.Module, recipe: FinetuneConfig, data: SplitData, preprocess: Preprocess,
                   callbacks: Callbacks | None = None) -> QatTraining:
    """Train ``model`` for ``recipe.epochs`` on ``data``'s train split, judging each epoch on val.

    The model is trained in place and left on the CPU in eval mode; the last epoch is kept, so the split
    that later judges the model never chose it.
    """
    if not data.splits.get("train"):
        raise DataError(f"{data.root} has no train split: quantization-aware training fine-tunes on it")
    cb = callbacks or Callbacks()
    dist = Dist()
    tr = Trainer(recipe, dist, pick_device(recipe.device, dist), data)
    tr.pre = preprocess  # the model's own preprocessing, as recorded in model.pt
    tr.amp = False  # the fake quantizers simulate float32 arithmetic; AMP would round before they do
    splits = decode_checked(data, ("train", "val"), tr.pre, max(2, recipe.workers * 2), recipe.max_bad_fraction)
    tr.model, tr.frozen, tr.ddp = model.to(tr.device), _AllStages(), None
    tr.opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.lr,
                               weight_decay=recipe.weight_decay)
    tr.schedule(max(1, len(splits["train"]) // max(2, recipe.batch_size)))
    history: list[dict] = []
    for epoch in range(1, recipe.epochs + 1):
        rec = {"epoch": epoch, **tr.train_epoch(epoch, splits["train"], None, cb)}
        if "val" in splits:
            rec["val_top1"] = float((tr.predict(splits["val"]) == tr.eval_labels(splits["val"])).mean())
        history.append(rec)
        log.info("QAT epoch %d: loss %.4f, val top-1 %s, %.1fs", epoch, rec["train_loss"],
                 f"{rec['val_top1']:.4f}" if "val_top1" in rec else "-", rec["seconds"])
        cb.on_epoch_end({"val_top1": float("nan"), **rec, "best": False})
    model.to("cpu").eval()
    return QatTraining(history)
