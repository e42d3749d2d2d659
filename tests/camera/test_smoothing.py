"""Smoothing turns noisy per-frame probabilities into a steady label, 'unknown' under the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from edgetl.camera.smoothing import UNKNOWN, LabelSmoother, ShownRuns, SmoothingConfig
from edgetl.camera.track import Detection
from edgetl.errors import EdgetlError

LABELS = ("stop", "yield", "speed_50")


def one_hot(i: int, p: float = 0.9) -> np.ndarray:
    v = np.full(3, (1 - p) / 2, np.float32)
    v[i] = p
    return v


def shown(smoother: LabelSmoother, frames) -> list[str]:
    return [smoother.update(f).label for f in frames]


def switches(labels: list[str]) -> int:
    return sum(a != b for a, b in zip(labels, labels[1:]))


def test_mean_with_hysteresis_stops_flicker_that_per_frame_answers_show():
    rng = np.random.default_rng(0)
    # "stop" in view, but every third frame the network glitches to "yield"
    frames = [one_hot(1 if i % 3 == 2 else 0, float(rng.uniform(0.7, 0.95))) for i in range(30)]
    raw = shown(LabelSmoother(LABELS, SmoothingConfig("none", hold=1)), frames)
    steady = shown(LabelSmoother(LABELS, SmoothingConfig("mean", window=5, hold=2)), frames)
    assert switches(raw) >= 15
    assert switches(steady) == 1 and steady[-1] == "stop"  # unknown -> stop, once


def test_vote_follows_the_majority_of_the_window():
    frames = [one_hot(0)] * 4 + [one_hot(2)] * 2 + [one_hot(0)] + [one_hot(2)] * 6
    labels = shown(LabelSmoother(LABELS, SmoothingConfig("vote", window=5, hold=1)), frames)
    assert labels[:6] == ["stop"] * 6  # two "speed_50" votes of five do not win
    assert labels[-1] == "speed_50" and switches(labels) == 1


def test_below_threshold_is_unknown_and_confidence_is_the_best_score():
    s = LabelSmoother(LABELS, SmoothingConfig("none", hold=1, threshold=0.6))
    d = s.update(np.array([0.5, 0.3, 0.2], np.float32))
    assert (d.label, d.index, d.confidence) == (UNKNOWN, None, pytest.approx(0.5))
    d = s.update(np.array([0.1, 0.7, 0.2], np.float32))
    assert (d.label, d.index, d.confidence) == ("yield", 1, pytest.approx(0.7))


def test_a_new_answer_needs_hold_frames_in_a_row():
    s = LabelSmoother(LABELS, SmoothingConfig("none", hold=3))
    assert shown(s, [one_hot(0)] * 3) == [UNKNOWN, UNKNOWN, "stop"]
    assert shown(s, [one_hot(1), one_hot(1), one_hot(0), one_hot(1), one_hot(1), one_hot(1)]) == \
        ["stop"] * 5 + ["yield"]
    s.reset()
    assert s.update(one_hot(1)).label == UNKNOWN


def test_a_sign_leaving_view_falls_back_to_unknown():
    s = LabelSmoother(LABELS, SmoothingConfig("mean", window=3, hold=2, threshold=0.5))
    flat = np.full(3, 1 / 3, np.float32)
    labels = shown(s, [one_hot(2)] * 4 + [flat] * 6)
    assert labels[3] == "speed_50" and labels[-1] == UNKNOWN


@pytest.mark.parametrize("kw, words", [({"method": "median"}, "not one of"), ({"window": 0}, "at least 1"),
                                       ({"threshold": 1.5}, "between 0 and 1")])
def test_bad_settings_are_refused(kw, words):
    with pytest.raises(EdgetlError, match=words):
        SmoothingConfig(**kw)


def test_runs_of_a_shown_label_are_the_frame_locators_tracks_and_events():
    runs = ShownRuns(background="background")
    shown = ["unknown", "stop", "stop", "stop", "background", "yield", "yield", "stop", "unknown"]
    confs = [0.3, 0.6, 0.9, 0.7, 0.8, 0.8, 0.8, 0.7, 0.2]
    steps = [runs.update(f, f / 10, [Detection((0, 0, 64, 64), lab, c)]) for f, (lab, c) in enumerate(zip(shown, confs))]
    runs.finish()
    assert [[e.label for e in s.announced] for s in steps] == [[], ["stop"], [], [], [], ["yield"], [], ["stop"], []]
    assert [s.track_ids[0] for s in steps] == [None, 1, 1, 1, None, 2, 2, 3, None]
    first = runs.events[0]
    assert (first.first_frame, first.last_frame, first.announced_frame, first.frames, first.final) == (1, 3, 1, 3, True)
    assert first.best_frame == 2 and first.confidence == pytest.approx((0.6 + 0.9 + 0.7) / 3)
    assert [e.label for e in runs.events] == ["stop", "yield", "stop"], "each ended run once, in order"
    assert runs.update(9, 0.9, []).track_ids == ()
