"""edgetl finetune --teacher: the student learns from another run's logits, records its teacher, resumes
with it, and refuses a teacher it cannot use in one line before training."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from edgetl import checkpoint
from edgetl.cli.main import cli
from edgetl.errors import EdgetlError
from edgetl.data.layouts import load_dataset
from edgetl.data.samples import Sample
from edgetl.train import images
from edgetl.train.distill import baseline_top1, distillation_loss
from edgetl.train.finetune import Callbacks, FinetuneConfig, finetune
from helpers import make_image_tree

FAST = dict(backbone="mobilenet_v3_small", weights="none", image_size=32, batch_size=12, lr=3e-3, workers=0)
CLASSES = ["circle_red", "square_green", "triangle_blue"]


def _cfg(data, out, **kw):
    return FinetuneConfig(data=str(data), out=str(out), **{**FAST, **kw})


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tiny_data):
    """A small run at another input size (48 px) than the students below (32 px)."""
    run = tmp_path_factory.mktemp("teacher") / "run"
    finetune(_cfg(tiny_data, run, image_size=48, epochs=2))
    return run


def test_loss_is_cross_entropy_at_alpha_0_and_zero_soft_term_for_a_matching_teacher():
    torch.manual_seed(0)
    s, y = torch.randn(8, 5), torch.randint(0, 5, (8,))
    ce = torch.nn.functional.cross_entropy(s, y)
    assert torch.allclose(distillation_loss(s, torch.randn(8, 5), y, 0.0, 4.0), ce)
    assert distillation_loss(s, s.clone(), y, 1.0, 4.0).abs() < 1e-6
    far = distillation_loss(s, -s, y, 1.0, 4.0)
    assert far > 0.1 and torch.allclose(distillation_loss(s, -s, y, 0.5, 4.0), 0.5 * ce + 0.5 * far)


def test_distilled_run_records_its_teacher_everywhere_and_reports_all_three(teacher, tiny_data, tmp_path):
    alone = tmp_path / "alone"
    finetune(_cfg(tiny_data, alone, epochs=1))
    run = tmp_path / "student"
    fast = ["--backbone", "mobilenet_v3_small", "--weights", "none", "--image-size", "32", "--batch-size", "12",
            "--workers", "0"]
    res = CliRunner().invoke(cli, ["finetune", str(tiny_data), "-o", str(run), "--epochs", "2", *fast,
                                   "--teacher", str(teacher), "--distill-alpha", "0.7", "--distill-temperature", "3",
                                   "--distill-baseline", str(alone)])
    assert res.exit_code == 0, res.output
    digest = checkpoint.sha256_file(teacher / "model.pt")
    own_top1 = json.loads((teacher / "metrics.json").read_text())["test_top1"]
    want = {"path": str((teacher / "model.pt").resolve()), "sha256": digest, "backbone": "mobilenet_v3_small",
            "input_size": 48, "test_top1": own_top1}
    assert checkpoint.read_model_file(run / "model.pt")["distillation"]["teacher"] == want
    config = json.loads((run / "config.json").read_text())
    assert config["teacher"] == str(teacher) and config["distill_alpha"] == 0.7
    assert config["distillation"]["teacher"] == want and config["distillation"]["temperature"] == 3.0
    m = json.loads((run / "metrics.json").read_text())
    d = m["distillation"]
    assert d["teacher"] == want and d["split"] == "test" and d["student_top1"] == m["test_top1"]
    assert 0 <= d["teacher_top1"] <= 1 and d["baseline"]["run"]["path"] == str((alone / "model.pt").resolve())
    assert all(e["teacher_seconds"] > 0 for e in m["epochs"])
    lines = res.output.splitlines()
    assert any(ln.startswith("teacher: ") and "at 48 px" in ln for ln in lines)
    table = lines[next(i for i, ln in enumerate(lines) if ln.startswith("distillation on test")):][:4]
    assert [ln.split()[0] for ln in table[1:]] == ["teacher", "student", "student"], table
    assert "with the teacher" in table[2] and "alone" in table[3]


def test_top1_on_a_streaming_split_counts_only_the_images_it_could_read(tiny_model, tiny_data, tmp_path, monkeypatch):
    """A split too big for memory is decoded on the fly and drops an unreadable image from its batches: the
    top-1 is then over the images read (as in memory without that image), not a shape mismatch."""
    data = load_dataset(tiny_data)
    samples = data.splits["test"]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    with_bad = [samples[0], Sample(broken, samples[1].label), *samples[1:]]
    cpu = torch.device("cpu")
    in_memory = baseline_top1(tiny_model, data.classes, samples, 1, cpu)["top1"]
    monkeypatch.setattr(images, "MEMORY_BUDGET", 0)
    assert isinstance(images.decode_split(with_bad[:2], checkpoint.load_model(tiny_model)[1].preprocess),
                      images.StreamingSplit)
    assert baseline_top1(tiny_model, data.classes, with_bad, 1, cpu)["top1"] == in_memory


def test_a_distilled_run_on_a_streamed_train_split_skips_an_unreadable_image(teacher, tiny_data, tmp_path,
                                                                             monkeypatch):
    """Streamed at both sizes, an unreadable training image leaves the student's batch and the teacher's
    logits alike, so the loss compares the same images."""
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    (root / "train" / "triangle_blue" / "0003.png").write_bytes(b"not an image at all")
    monkeypatch.setattr(images, "MEMORY_BUDGET", 0)
    finetune(_cfg(root, tmp_path / "run", epochs=1, teacher=str(teacher), max_bad_fraction=0.1))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["complete"]


def _permuted_tree(root, seed):
    """The tiny classes with their pictures shifted by one: circles filed as square_green, and so on."""
    tree = make_image_tree(root / "shuffled", CLASSES, 12, seed=seed)
    for i, name in enumerate(CLASSES):
        (tree / name).rename(tree / f"tmp_{CLASSES[(i + 1) % 3]}")
    for name in CLASSES:
        (tree / f"tmp_{name}").rename(tree / name)
    return tree


@pytest.mark.slow
def test_the_student_follows_the_teacher_not_only_the_labels(tiny_data, tmp_path):
    """A teacher that learnt a shifted labelling passes it on at alpha 1: the student then names test
    pictures the way the teacher does, against the labels it was given."""
    data = tmp_path / "wrong"
    for split, seed in (("train", 1), ("val", 2), ("test", 3)):
        shutil.move(str(_permuted_tree(tmp_path / split, seed)), data / split)
    pretrained = dict(backbone="mobilenet_v2", weights=None, batch_size=6, epochs=6)
    finetune(_cfg(data, tmp_path / "teacher", **{**pretrained, "epochs": 8}))
    student = tmp_path / "student"
    finetune(_cfg(tiny_data, student, **pretrained, teacher=str(tmp_path / "teacher"), distill_alpha=1.0))
    from edgetl.preprocess import preprocess_paths

    paths = sorted((tiny_data / "test").rglob("*.png"))
    truth = np.array([CLASSES.index(p.parent.name) for p in paths])

    def answers(run, last_epoch=False):
        model, info = checkpoint.load_model(run / "model.pt")
        if last_epoch:  # model.pt is the best epoch by the labels, which this student learns to contradict
            model.load_state_dict(checkpoint.load_train_state(run / "checkpoint.pt")["model"])
        with torch.no_grad():
            return model(torch.from_numpy(preprocess_paths(paths, info.preprocess))).argmax(1).numpy()

    taught, learnt = answers(tmp_path / "teacher"), answers(student, last_epoch=True)
    assert (taught == (truth + 1) % 3).mean() >= 0.5  # the teacher names them shifted
    assert (learnt == taught).mean() >= 0.5 and (learnt == truth).mean() <= 0.3  # alone it learns truth


class _InterruptAfter(Callbacks):
    def on_epoch_end(self, record: dict) -> None:
        if record["epoch"] == 1:
            raise KeyboardInterrupt


def test_resumed_distillation_matches_an_uninterrupted_one_and_checks_the_teacher(teacher, tiny_data, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    finetune(_cfg(tiny_data, full, epochs=2, seed=2, teacher=str(teacher)))
    with pytest.raises(KeyboardInterrupt):
        finetune(_cfg(tiny_data, part, epochs=2, seed=2, teacher=str(teacher)), _InterruptAfter())
    finetune(FinetuneConfig(data=str(tiny_data), out=str(part), epochs=0), resume=True)
    a = checkpoint.load_train_state(full / "checkpoint.pt")["model"]
    b = checkpoint.load_train_state(part / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a teacher that changed under a run is refused on --resume
    moved = tmp_path / "teacher_copy"
    shutil.copytree(teacher, moved)
    with pytest.raises(KeyboardInterrupt):
        finetune(_cfg(tiny_data, tmp_path / "p2", epochs=2, teacher=str(moved)), _InterruptAfter())
    finetune(_cfg(tiny_data, moved, epochs=1, image_size=40), overwrite=True)
    with pytest.raises(EdgetlError, match="changed since this run started"):
        finetune(FinetuneConfig(data=str(tiny_data), out=str(tmp_path / "p2"), epochs=0), resume=True)


def test_cached_features_also_cache_the_teachers_logits(teacher, tiny_data, tmp_path):
    run = tmp_path / "cached"
    finetune(_cfg(tiny_data, run, backbone="mobilenet_v2", weights=None, freeze="all", cache_features=True,
                  epochs=2, lr=1e-2, teacher=str(teacher)))
    m = json.loads((run / "metrics.json").read_text())
    assert m["complete"] and "teacher_top1" in m["distillation"]
    assert all(e["teacher_seconds"] < 0.5 for e in m["epochs"])  # a lookup, no teacher forward pass


def _error(args, tmp_path) -> str:
    res = CliRunner().invoke(cli, ["finetune", *map(str, args)])
    assert res.exit_code in (1, 2), res.output
    assert "Traceback" not in res.output and not (tmp_path / "never" / "model.pt").exists()
    return res.output.strip().splitlines()[-1]


def test_teachers_it_cannot_use_are_refused_in_one_line_before_training(teacher, tiny_data, tmp_path):
    base = [tiny_data, "-o", tmp_path / "never", "--weights", "none", "--backbone", "mobilenet_v3_small",
            "--image-size", "32", "--workers", "0", "--epochs", "1"]
    reordered = tmp_path / "reordered"
    shutil.copytree(teacher, reordered)
    raw = checkpoint.read_model_file(reordered / "model.pt")
    raw["info"]["labels"] = list(reversed(raw["info"]["labels"]))
    torch.save(raw, reordered / "model.pt")
    other = tmp_path / "other"
    shutil.copytree(teacher, other)
    raw["info"]["labels"] = ["a", "b", "c"]
    torch.save(raw, other / "model.pt")
    truncated = tmp_path / "truncated"
    shutil.copytree(teacher, truncated)
    data = (teacher / "model.pt").read_bytes()
    (truncated / "model.pt").write_bytes(data[: len(data) // 2])
    not_a_run = tmp_path / "not_a_run"
    not_a_run.mkdir()
    (tmp_path / "state.pt").write_bytes((teacher / "checkpoint.pt").read_bytes())
    cases = [
        (["--teacher", reordered], "same 3 labels in another order"),
        (["--teacher", other], "trained on other labels"),
        (["--teacher", truncated], "corrupt or not a PyTorch file"),
        (["--teacher", not_a_run], "no model.pt there"),
        (["--teacher", tmp_path / "state.pt"], "is not an edgetl model file"),
        (["--teacher", tmp_path / "nowhere"], "no such run folder or file"),
        (["--distill-alpha", "0.3"], "--distill-alpha is for distillation: add --teacher"),
        (["--teacher", teacher, "--distill-alpha", "0"], "--distill-alpha"),
        (["--teacher", teacher, "--distill-baseline", other], "--distill-baseline"),
    ]
    for extra, message in cases:
        assert message in _error([*base, *extra], tmp_path), extra
    assert "the run being written" in _error([tiny_data, "-o", teacher, "--overwrite", "--teacher", teacher], tmp_path)
    assert "drop --teacher" in _error(["--resume", teacher, "--teacher", teacher], tmp_path)


def test_torchrun_two_processes_distil_with_one_teacher_each(teacher, tiny_data, tmp_path):
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29547",
           "-m", "edgetl", "finetune", str(tiny_data), "-o", str(run), "--epochs", "1", "--device", "cpu",
           "--backbone", "mobilenet_v3_small", "--weights", "none", "--image-size", "32", "--batch-size", "12",
           "--workers", "0", "--teacher", str(teacher)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EDGETL_OFFLINE": "1"}
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    m = json.loads((run / "metrics.json").read_text())
    assert m["complete"] and m["distillation"]["teacher"]["input_size"] == 48
    assert res.stdout.count("distillation on test") == 1  # rank 0 alone reports
