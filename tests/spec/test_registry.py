"""The one registry helper (`roadmap.registry.Registry`) and the transforms registered with it."""

from __future__ import annotations

import pytest

from roadmap.errors import RoadmapError, SpecError
from roadmap.registry import Registry
from roadmap.transforms import TRANSFORMS, get_transform, list_transforms


def test_entries_register_in_order_and_read_as_a_mapping():
    reg: Registry[int] = Registry("colour")
    reg.add("red", 1)

    @reg.register("green")
    def green() -> int:
        return 2

    assert reg.names() == ("red", "green") and list(reg) == ["red", "green"] and len(reg) == 2
    assert reg["red"] == 1 and reg.lookup("green") is green and reg.get("blue", 0) == 0
    assert "red" in reg and "blue" not in reg and ["red"] not in reg  # an unhashable value is no name


def test_a_name_registers_once():
    reg: Registry[int] = Registry("colour")
    reg.add("red", 1)
    with pytest.raises(ValueError, match="colour 'red' registered twice"):
        reg.add("red", 2)


def test_an_unknown_name_is_one_line_naming_the_known_ones():
    reg: Registry[int] = Registry("colour")
    reg.add("red", 1)
    reg.add("green", 2)
    for bad in ("blue", ["red"]):
        with pytest.raises(RoadmapError) as info:
            reg.lookup(bad)
        assert str(info.value) == f"unknown colour {bad!r} (choose from red, green)"


def test_a_registry_may_word_its_own_error():
    reg: Registry[int] = Registry("colour", lambda name, known: SpecError(f"{name}? ({'/'.join(known)})"))
    reg.add("red", 1)
    with pytest.raises(SpecError, match=r"^blue\? \(red\)$"):
        reg.lookup("blue")


@pytest.mark.parametrize("name", TRANSFORMS.names())
def test_every_transform_is_found_by_its_name(name):
    assert get_transform(name) is TRANSFORMS[name] and get_transform(name).transform_name == name


def test_an_unknown_transform_names_the_known_ones():
    with pytest.raises(SpecError) as info:
        get_transform("bogus")
    assert str(info.value) == f"unknown transform 'bogus'; known: {', '.join(list_transforms())}"
