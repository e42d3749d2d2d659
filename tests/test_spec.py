"""What an artifact says about its preprocessing: the interpolation is recorded and checked, and
artifacts written before it was recorded read as the rule they were made with."""

from __future__ import annotations

import json

import pytest

from edgetl.errors import ModelError
from edgetl.spec import ModelInfo, Preprocess


def test_interpolation_is_checked_and_travels_in_every_form():
    with pytest.raises(ModelError, match="interpolation 'bilinear' is not one of"):
        Preprocess(interpolation="bilinear")
    info = ModelInfo("mobilenet_v2", ("a", "b"), Preprocess(size=32, resize=36, interpolation="cubic"))
    assert info.to_dict()["preprocess"]["interpolation"] == "cubic"
    assert ModelInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    props = info.to_metadata_props()
    assert props["interpolation"] == "cubic" and ModelInfo.from_metadata_props(props) == info


def test_artifacts_without_the_field_read_as_the_area_rule():
    old = ModelInfo("mobilenet_v2", ("a", "b"), Preprocess(size=32, resize=36)).to_dict()
    del old["preprocess"]["interpolation"]
    assert ModelInfo.from_dict(old).preprocess.interpolation == "area"
    assert ModelInfo.from_metadata_props({"edgetl": json.dumps(old)}).preprocess == Preprocess(size=32, resize=36)
