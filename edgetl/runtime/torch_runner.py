"""Run ``model.pt`` in PyTorch (eval mode, no autograd)."""

from __future__ import annotations

import numpy as np
import torch

from edgetl.checkpoint import load_model
from edgetl.runtime.base import Runner


class TorchRunner(Runner):
    backend = "torch"

    def __init__(self, path, device: str = "cpu", channels_last: bool | None = None, threads: int | None = None):
        model, info = load_model(path)
        super().__init__(path, info)
        self.device = torch.device(device)
        # channels_last is much faster for CNN inference on this torch build, on CPU and GPU alike.
        self.channels_last = True if channels_last is None else channels_last
        self.threads = threads
        self.model = model

    def _activate(self) -> None:
        if self.threads:
            torch.set_num_threads(self.threads)
        self.model.to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self.model(x).float().cpu().numpy()
