"""What a CUDA machine without TensorRT can check: training on the GPU, the torch runner on the GPU,
and onnxruntime's CUDA provider where it is installed. Skipped with the reason everywhere else."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.cuda


def test_finetune_on_cuda_with_amp_and_channels_last_loads_on_the_cpu(tiny_data, tmp_path):
    import torch

    from edgetl import checkpoint
    from edgetl.train.finetune import FinetuneConfig, finetune

    cfg = FinetuneConfig(data=str(tiny_data), out=str(tmp_path / "run"), backbone="mobilenet_v3_small",
                         weights="none", image_size=32, epochs=2, batch_size=12, workers=0, device="cuda",
                         channels_last="on")
    result = finetune(cfg)
    metrics = json.loads((result.run / "metrics.json").read_text())
    assert metrics["complete"] and len(metrics["epochs"]) == 2
    assert all(np.isfinite(e["train_loss"]) for e in metrics["epochs"])
    model, info = checkpoint.load_model(result.run / "model.pt")  # saved from the GPU, loaded on the CPU
    assert next(model.parameters()).device == torch.device("cpu") and info.num_classes == 3


def test_torch_runner_on_cuda_agrees_with_the_cpu(tiny_model, tiny_data):
    from edgetl.runtime import open_runner

    paths = sorted((tiny_data / "test").rglob("*.png"))
    with open_runner(tiny_model, device="cpu") as cpu, open_runner(tiny_model, device="cuda") as gpu:
        batch = cpu.preprocess([__import__("cv2").imread(str(p)) for p in paths])
        a, b = cpu.infer(batch), gpu.infer(batch)
    assert np.abs(a - b).max() < 1e-3 * max(1.0, float(np.abs(a).max()))
    assert (a.argmax(1) == b.argmax(1)).all()


def test_onnxruntime_cuda_provider_agrees_with_the_cpu(tiny_model, tiny_data, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime here has no CUDA provider (install onnxruntime-gpu)")
    import shutil

    from edgetl.export import ExportConfig, export_run
    from edgetl.runtime import open_runner

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_model, run / "model.pt")
    export_run(ExportConfig(run=run, verify=False, data=tiny_data, latency_iters=3))
    paths = sorted((tiny_data / "test").rglob("*.png"))
    with open_runner(run / "model.onnx") as cpu, open_runner(run / "model.onnx", providers=["cuda"]) as gpu:
        batch = cpu.preprocess([__import__("cv2").imread(str(p)) for p in paths])
        a, b = cpu.infer(batch), gpu.infer(batch)
    assert (a.argmax(1) == b.argmax(1)).all() and np.abs(a - b).max() < 1e-2
