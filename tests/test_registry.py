"""The shared registry refuses a duplicate name and names the choices for an unknown one."""

import pytest

from edgetl.backbones import BACKBONES, BackboneSpec, register
from edgetl.errors import EdgetlError
from edgetl.registry import DuplicateEntryError, Registry


def test_duplicate_name_is_refused_and_first_entry_kept():
    reg = Registry("widget")
    reg.register("a", 1)
    with pytest.raises(DuplicateEntryError, match="widget 'a' is already registered"):
        reg.register("a", 2)
    assert reg.get("a") == 1


def test_unknown_name_lists_the_choices():
    reg = Registry("widget")
    reg.register("a", 1)
    reg.register("b", 2)
    with pytest.raises(EdgetlError, match="unknown widget 'c': use one of a, b"):
        reg.get("c")


def test_temporarily_registers_for_a_block_only():
    reg = Registry("widget")
    with reg.temporarily("x", 3):
        assert "x" in reg and reg.names() == ("x",)
    assert "x" not in reg


def test_backbone_registry_refuses_a_second_mobilenet_v2():
    with pytest.raises(DuplicateEntryError):
        register(BackboneSpec(name="mobilenet_v2", builder="mobilenet_v2", weights="X.Y", stages=(("a",),), head="h"))
    assert BACKBONES.get("mobilenet_v2").builder == "mobilenet_v2"
