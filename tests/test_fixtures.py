"""The shared tiny model really learned its classes, so tests built on it can assert on predictions."""

from edgetl.runtime import open_runner


def test_tiny_model_recognises_val_images(tiny_model, tiny_data):
    with open_runner(tiny_model) as r:
        paths, truth = [], []
        for i, name in enumerate(r.info.labels):
            for p in sorted((tiny_data / "val" / name).iterdir()):
                paths.append(p)
                truth.append(i)
        preds = r.predict(paths)
    acc = sum(p.index == t for p, t in zip(preds, truth)) / len(truth)
    assert acc >= 0.8, acc
