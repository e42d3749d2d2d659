"""Ground truth has one reader: strict about what it cannot use, lenient about fields it can do without."""

from __future__ import annotations

import json

import pytest

from edgetl.data.groundtruth import ground_truth_path, ground_truth_record, load_ground_truth
from edgetl.errors import DataError


def test_path_sits_beside_the_video(tmp_path):
    assert ground_truth_path(tmp_path / "drive.mp4") == tmp_path / "drive.gt.json"


def test_a_written_record_reads_back_and_is_found_from_its_video(tmp_path):
    frames = [{"frame": 0, "label": None, "box": None}, {"frame": 1, "label": "stop", "box": [2.4, 3, 40, 41.6]}]
    record = ground_truth_record("drive.mp4", 30, 320, 240, ("stop", "yield"), frames, synthetic=True, seed=7)
    assert list(record) == ["video", "fps", "width", "height", "num_frames", "classes", "seed", "synthetic", "frames"]
    ground_truth_path(tmp_path / "drive.mp4").write_text(json.dumps(record))
    truth = load_ground_truth(tmp_path / "drive.mp4")  # a video path: the truth beside it
    assert truth.path == tmp_path / "drive.gt.json" and truth.num_frames == 2 and truth.synthetic
    assert truth.labels == {0: None, 1: "stop"} and truth.boxes == {0: None, 1: (2, 3, 40, 42)}
    assert (truth.width, truth.height, truth.fps, truth.classes) == (320, 240, 30, ("stop", "yield"))


def test_a_file_with_only_frames_still_loads(tmp_path):
    p = tmp_path / "hand.gt.json"
    p.write_text(json.dumps({"frames": [{"frame": 3, "label": "yield", "box": None}, {"frame": 4, "label": None}]}))
    truth = load_ground_truth(p)
    assert truth.classes == ("yield",) and truth.labels == {3: "yield", 4: None} and truth.width is None


@pytest.mark.parametrize("content, words", [
    ("not json", "not readable JSON"),
    ('{"frames": [{"label": "stop"}]}', r"frames\[0\]"),
    ('{"frames": [{"frame": 0, "label": "stop", "box": [5, 5, 1, 1]}]}', "empty"),
    ('[1, 2]', "'frames' list"),
    ('{"num_frames": 2, "frames": [{"frame": 0, "label": null, "box": null}]}', "num_frames is 2 but 1"),
    ('{"classes": ["stop"], "frames": [{"frame": 0, "label": "yield", "box": [0, 0, 4, 4]}]}',
     "frame 0 has label 'yield', not one of its classes"),
])
def test_malformed_ground_truth_is_refused_in_one_line(tmp_path, content, words):
    p = tmp_path / "bad.gt.json"
    p.write_text(content)
    with pytest.raises(DataError, match=words) as err:
        load_ground_truth(p)
    assert "\n" not in str(err.value)


def test_a_missing_file_names_where_it_was_looked_for(tmp_path):
    with pytest.raises(DataError, match="none.gt.json: no such ground-truth file"):
        load_ground_truth(tmp_path / "none.gt.json")
    with pytest.raises(DataError, match=r"drive.gt.json: no such ground-truth file \(expected NAME.gt.json"):
        load_ground_truth(tmp_path / "drive.mp4")


def test_format_2_lists_every_sign_in_view_with_its_track_and_whether_it_is_recognisable(tmp_path):
    frames = [{"frame": 0, "signs": []},
              {"frame": 1, "signs": [{"box": [10, 10, 30, 30], "label": "stop", "track": 1, "recognisable": False}]},
              {"frame": 2, "signs": [{"box": [10, 10, 40, 40], "label": "stop", "track": 1, "recognisable": True},
                                     {"box": [100, 10, 150, 60], "label": "yield", "track": 2, "recognisable": True}]}]
    p = tmp_path / "drive.gt.json"
    p.write_text(json.dumps(ground_truth_record("drive.mp4", 30, 320, 240, ("stop", "yield"), frames, synthetic=True)))
    truth = load_ground_truth(p)
    assert truth.format == 2 and truth.num_frames == 3 and len(truth.signs[2]) == 2
    assert [(n, s.recognisable) for n, s in truth.tracks()[1]] == [(1, False), (2, True)]
    # the classifier-only view: the largest recognisable sign of each frame, none where none is recognisable
    assert truth.labels == {0: None, 1: None, 2: "yield"} and truth.boxes[2] == (100, 10, 150, 60)


def test_format_1_runs_of_one_label_become_one_track_each(tmp_path):
    frames = [{"frame": 0, "label": "stop", "box": [1, 1, 9, 9]}, {"frame": 1, "label": "stop", "box": [1, 1, 9, 9]},
              {"frame": 2, "label": None, "box": None}, {"frame": 3, "label": "stop", "box": [1, 1, 9, 9]},
              {"frame": 4, "label": "yield", "box": [1, 1, 9, 9]}]
    p = tmp_path / "old.gt.json"
    p.write_text(json.dumps({"frames": frames}))
    truth = load_ground_truth(p)
    assert truth.format == 1
    assert {t: [n for n, _ in v] for t, v in truth.tracks().items()} == {1: [0, 1], 2: [3], 3: [4]}


def test_a_format_2_sign_without_a_track_is_one_line_error(tmp_path):
    p = tmp_path / "bad.gt.json"
    p.write_text(json.dumps({"frames": [{"frame": 0, "signs": [{"box": [1, 1, 9, 9], "label": "stop"}]}]}))
    with pytest.raises(DataError, match=r"frames\[0\] is not \{frame, signs"):
        load_ground_truth(p)
