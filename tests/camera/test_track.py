"""The IoU tracker and its events, on scripted detections."""

from __future__ import annotations

import numpy as np
import pytest

from edgetl.camera.track import Detection, Event, IouTracker, TrackConfig, predict_box
from edgetl.proposals import box_iou
from edgetl.errors import EdgetlError

FPS = 30.0


def approach(frames: int, x: float = 700, y: float = 300, size0: float = 20, size1: float = 240,
             side: int = 1) -> list[tuple[int, int, int, int]]:
    """Boxes of a sign driven past: it grows ever faster and slides outwards, as in the drive-by video."""
    out = []
    for f in range(frames):
        u = f / max(1, frames - 1)
        z = 1 + (size1 / size0 - 1) * (1 - u)
        d = size1 / z
        cx, cy = x + side * 2.0 * d, y - 0.7 * d
        out.append((int(cx - d / 2), int(cy - d / 2), int(cx + d / 2), int(cy + d / 2)))
    return out


def run(tracker: IouTracker, script: list[list[Detection]]) -> tuple[list[Event], list[Event], list]:
    """Feed every frame of ``script``, then finish; return announced events, final events, steps."""
    announced, steps = [], []
    for f, dets in enumerate(script):
        step = tracker.update(f, f / FPS, dets)
        announced += step.announced
        steps.append(step)
    tracker.finish()
    return announced, list(tracker.events), steps


def test_a_sign_moving_and_growing_is_one_track_and_one_event():
    boxes = approach(60)
    script = [[Detection(b, "stop", 0.9)] for b in boxes]
    announced, final, steps = run(IouTracker(TrackConfig(confirm_after=3)), script)
    assert len({s.track_ids[0] for s in steps}) == 1, "the fast growth at the end must not break the track"
    assert len(announced) == 1 and len(final) == 1
    a, e = announced[0], final[0]
    assert a.label == e.label == "stop" and not a.final and e.final
    assert a.announced_frame == 2 and a.announced_t == pytest.approx(2 / FPS), "confirmed after 3 frames"
    assert e.first_frame == 0 and e.last_frame == 59 and e.last_t == pytest.approx(59 / FPS)
    assert e.track_id == a.track_id and e.announced_frame == 2 and e.frames == 60
    assert e.best_box == boxes[-1], "equal confidence: the best view is the largest box"
    assert e.confidence == pytest.approx(0.9)


def test_best_view_is_the_most_confident_frame():
    boxes = approach(20)
    confs = [0.7] * 20
    confs[8] = 0.99
    script = [[Detection(b, "yield", c)] for b, c in zip(boxes, confs)]
    _, final, _ = run(IouTracker(), script)
    assert final[0].best_frame == 8 and final[0].best_box == boxes[8]


def test_two_signs_at_once_are_two_tracks_with_their_own_labels():
    left = approach(40, x=600, side=-1)
    right = approach(40, x=700, side=1)
    script = [[Detection(r, "speed_limit_50", 0.8), Detection(l, "no_entry", 0.85)] for l, r in zip(left, right)]
    announced, final, steps = run(IouTracker(), script)
    assert sorted(e.label for e in announced) == ["no_entry", "speed_limit_50"]
    assert sorted(e.label for e in final) == ["no_entry", "speed_limit_50"]
    assert len({e.track_id for e in final}) == 2
    ids = {s.track_ids for s in steps}
    assert len(ids) == 1 and len(set(next(iter(ids)))) == 2, "each sign keeps its own track id"


def test_a_one_frame_false_detection_never_becomes_an_event():
    script = [[] for _ in range(30)]
    script[10] = [Detection((100, 100, 140, 140), "stop", 0.99)]
    announced, final, steps = run(IouTracker(), script)
    assert announced == [] and final == []
    assert steps[10].track_ids[0] is not None and not steps[10].tracks[0].confirmed


def test_a_track_that_flickers_to_background_for_a_frame_stays_one_event():
    boxes = approach(30)
    script = [[Detection(b, "children", 0.9)] for b in boxes]
    script[4] = [Detection(boxes[4], "background", 0.8)]
    script[12] = []  # and a frame where the locator missed it
    announced, final, steps = run(IouTracker(), script)
    assert len(announced) == 1 and len(final) == 1 and final[0].label == "children"
    assert steps[4].track_ids == (None,) and steps[5].track_ids == steps[3].track_ids
    assert final[0].frames == 28


def test_one_wrong_confident_frame_does_not_win_the_vote():
    boxes = approach(40)
    labels = ["stop"] * 40
    confs = [0.6] * 40
    labels[5], confs[5] = "yield", 0.99
    script = [[Detection(b, lab, c)] for b, lab, c in zip(boxes, labels, confs)]
    announced, final, _ = run(IouTracker(TrackConfig(min_confidence=0.5)), script)
    assert [e.label for e in announced] == ["stop"] and [e.label for e in final] == ["stop"]
    assert final[0].confidence == pytest.approx(0.6 * 39 / 40)


def test_the_announcement_waits_until_one_label_has_enough_frames():
    boxes = approach(10)
    labels = ["stop", "yield", "stop", "yield", "stop", "stop"]
    script = [[Detection(b, lab, 0.9)] for b, lab in zip(boxes, labels)]
    announced, _, _ = run(IouTracker(TrackConfig(confirm_after=3)), script)
    assert len(announced) == 1 and announced[0].label == "stop" and announced[0].announced_frame == 4


def test_background_alone_never_starts_a_track_nor_an_event():
    script = [[Detection((100, 100, 150, 150), "background", 0.99)] for _ in range(20)]
    announced, final, steps = run(IouTracker(), script)
    assert announced == [] and final == [] and all(s.track_ids == (None,) for s in steps)


def test_a_track_does_not_drift_onto_background_where_its_sign_was():
    """A sign passes; a red thing that is not a sign sits where it was. The track must end and the
    next sign there must be a new track, not a continuation that never ends."""
    sign = [[Detection((100, 100, 150, 150), "stop", 0.9)] for _ in range(10)]
    wall = [[Detection((105, 100, 160, 150), "background", 0.95)] for _ in range(40)]
    again = [[Detection((100, 100, 150, 150), "yield", 0.9)] for _ in range(10)]
    announced, final, _ = run(IouTracker(TrackConfig(drop_after=15)), sign + wall + again)
    assert [e.label for e in final] == ["stop", "yield"] and final[0].last_frame == 9


def test_labels_under_the_confidence_threshold_count_as_background():
    script = [[Detection((100, 100, 150, 150), "stop", 0.3)] for _ in range(20)]
    announced, _, _ = run(IouTracker(TrackConfig(min_confidence=0.5)), script)
    assert announced == []
    announced, _, _ = run(IouTracker(TrackConfig(min_confidence=0.2)), script)
    assert len(announced) == 1


@pytest.mark.parametrize("gap,tracks", [(5, 1), (20, 2)])
def test_a_track_ends_after_drop_after_frames_without_it(gap, tracks):
    box = (100, 100, 160, 160)
    script = [[Detection(box, "stop", 0.9)] for _ in range(5)] + [[] for _ in range(gap)]
    script += [[Detection(box, "stop", 0.9)] for _ in range(5)]
    announced, final, _ = run(IouTracker(TrackConfig(drop_after=15)), script)
    assert len(announced) == len(final) == tracks


def test_the_final_event_comes_when_the_track_is_dropped():
    box = (100, 100, 160, 160)
    script = [[Detection(box, "stop", 0.9)] for _ in range(5)] + [[] for _ in range(20)]
    _, _, steps = run(IouTracker(TrackConfig(drop_after=15)), script)
    ended_at = [f for f, s in enumerate(steps) if s.ended]
    assert ended_at == [4 + 15] and steps[19].ended[0].last_frame == 4


def test_a_second_box_on_the_same_sign_does_not_start_a_second_track():
    boxes = approach(20)
    script = [[Detection(b, "stop", 0.9), Detection((b[0] + 2, b[1] + 1, b[2], b[3] + 2), "stop", 0.8)] for b in boxes]
    announced, final, steps = run(IouTracker(), script)
    assert len(announced) == 1 and len(final) == 1
    assert all(len(set(s.track_ids)) == 1 for s in steps)


def test_the_event_record_is_json_ready():
    script = [[Detection((10, 10, 50, 50), "stop", 0.87654321)] for _ in range(TrackConfig().confirm_after)]
    _, final, _ = run(IouTracker(), script)
    d = final[0].to_dict()
    assert d["best_box"] == [10, 10, 50, 50] and d["confidence"] == 0.8765 and d["final"] is True
    assert {"track_id", "label", "first_frame", "last_frame", "first_t", "last_t", "announced_frame"} <= set(d)


def test_the_step_reports_the_tracks_seen_for_the_overlay():
    script = [[Detection((10, 10, 50, 50), "stop", 0.9)] for _ in range(3)]
    _, _, steps = run(IouTracker(TrackConfig(confirm_after=3)), script)
    view = steps[-1].tracks[0]
    assert view.label == "stop" and view.confirmed and view.box == (10, 10, 50, 50)
    assert not steps[0].tracks[0].confirmed


@pytest.mark.parametrize("kw", [{"confirm_after": 0}, {"drop_after": 0}, {"iou_min": 0.0}, {"min_confidence": 2}])
def test_bad_tracker_settings_are_user_errors(kw):
    with pytest.raises(EdgetlError):
        TrackConfig(**kw)


def test_a_sign_that_suddenly_grows_more_than_predicted_stays_one_track():
    script = [[Detection((100, 100, 150, 150), "stop", 0.9)] for _ in range(5)]
    script += [[Detection((110, 90, 190, 170), "stop", 0.9)] for _ in range(3)]  # IoU 0.29 with the last box
    announced, final, steps = run(IouTracker(TrackConfig(iou_min=0.3)), script)
    assert len({s.track_ids for s in steps}) == 1 and len(final) == 1


def expansion(frames: range, focus=(640.0, 300.0), offset=(3.0, -1.5), distance=60.0) -> list[tuple[int, ...]]:
    """Boxes of a sign approached at a steady speed: its side is 1000 / (distance - frame), and its
    centre sits ``offset`` sides from the focus of expansion."""
    out = []
    for f in frames:
        s = 1000.0 / (distance - f)
        cx, cy = focus[0] + offset[0] * s, focus[1] + offset[1] * s
        out.append((int(round(cx - s / 2)), int(round(cy - s / 2)), int(round(cx + s / 2)), int(round(cy + s / 2))))
    return out


def test_the_prediction_follows_a_sign_the_car_approaches():
    seen = range(10, 18)
    boxes = expansion(range(0, 60))
    for ahead, overlap in ((1, 0.8), (10, 0.7), (25, 0.5)):
        pred = predict_box(list(seen), [boxes[f] for f in seen], 17 + ahead)
        truth = np.asarray(boxes[17 + ahead], float)
        assert box_iou(pred[None], truth[None])[0, 0] > overlap, (ahead, pred, truth)
    still = predict_box([0, 1, 2], [(100, 100, 140, 140)] * 3, 30)
    assert np.allclose(still, (100, 100, 140, 140)), "a box that does not move stays"


def test_a_sign_the_locator_misses_for_most_of_a_second_stays_one_track():
    boxes = expansion(range(0, 50))
    script = [[Detection(b, "no_entry", 0.9)] if not 12 <= f < 37 else [] for f, b in enumerate(boxes)]
    announced, final, steps = run(IouTracker(TrackConfig(drop_after=30)), script)
    assert len(announced) == 1 and len(final) == 1 and final[0].frames == 25
    assert steps[37].track_ids == steps[11].track_ids, "taken up again where the sign has got to"


def test_a_lost_track_is_taken_up_again_only_by_its_own_label():
    boxes = expansion(range(0, 50))
    script = [[Detection(b, "no_entry", 0.9)] if f < 12 else [] for f, b in enumerate(boxes[:20])]
    script += [[Detection(b, "keep_left", 0.9)] for b in boxes[20:30]]  # another sign where it would be
    announced, final, steps = run(IouTracker(TrackConfig(drop_after=30)), script)
    assert [e.label for e in final] == ["no_entry", "keep_left"] and steps[20].track_ids != steps[11].track_ids
