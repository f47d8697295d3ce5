"""The one address grammar (roadmap.addresses) and the transforms that take addresses."""

import pytest

import roadmap
from roadmap.addresses import (
    Address,
    address_exists,
    expand_address,
    parse_address,
    parse_stage,
    stage_of_module,
)
from roadmap.errors import SpecError
from roadmap.transforms import apply_transform
from roadmap.transforms.addresses import conv_slot


@pytest.mark.parametrize(
    "text,kind,index",
    [
        ("encoder[0]", "encoder", 0),
        ("middle[1]", "middle", 1),
        ("decoder[2]", "decoder", 2),
        ("down[0]", "down", 0),
        ("up[1]", "up", 1),
        ("skips[0]", "skips", 0),
        ("level[2]", "level", 2),
        ("middle", "middle", None),
        ("encoder[-1]", "encoder", -1),  # a spec never has it (see below)
    ],
)
def test_parse_address_accepts_each_form(text, kind, index):
    address = parse_address(text)
    assert address == Address(kind, index)
    assert str(address) == text


@pytest.mark.parametrize(
    "text",
    [
        "stem",
        "head",
        "aggregate",
        "encoder",
        "level",
        "iem[0]",
        "encoder[x]",
        "encoder[1]x",
        "encoder[1]\n",
        " encoder[1]",
        "Encoder[1]",
        "",
        3,
        None,
    ],
)
def test_parse_address_refuses_junk_in_one_line(text):
    with pytest.raises(SpecError) as info:
        parse_address(text)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{text!r} is not an address like encoder[1], middle[0]")
    assert message.endswith("level[1] or middle")


def test_expand_address():
    spec = roadmap.get_seed("nafnet", "w16")  # 3 levels, 1 middle stage
    assert expand_address(spec, "level[1]") == ["encoder[1]", "decoder[1]", "skips[1]"]
    assert expand_address(spec, "middle") == ["middle[0]"]
    assert expand_address(spec, "up[2]") == ["up[2]"]
    with pytest.raises(SpecError, match=r"^encoder\[3\] does not exist \(valid indices 0\.\.2\)$"):
        expand_address(spec, "encoder[3]")
    with pytest.raises(SpecError, match=r"^encoder\[-1\] does not exist"):
        expand_address(spec, "encoder[-1]")
    with pytest.raises(SpecError, match=r"^middle\[1\] does not exist \(valid indices 0\.\.0\)$"):
        expand_address(spec, "middle[1]")


def test_address_exists():
    spec = roadmap.get_seed("nafnet", "w16")
    assert address_exists(spec, "level[2]") and address_exists(spec, "middle")
    assert not address_exists(spec, "level[3]") and not address_exists(spec, "down[-1]")
    shallow = apply_transform(spec, "depth", levels=1)
    assert address_exists(shallow, "encoder[0]") and not address_exists(shallow, "decoder[1]")
    with pytest.raises(SpecError, match="is not an address"):
        address_exists(spec, "stem")


def test_stage_addresses_of_the_analysis():
    assert stage_of_module("UNet.encoder.2") == "encoder[2]"
    assert stage_of_module("UNet.iem.0") == "iem[0]"
    assert [stage_of_module(f"UNet.{n}") for n in ("stem", "head", "msiam")] == ["stem", "head", "msiam"]
    for name in ("UNet", "UNet.encoder", "UNet.encoder.2.0", "UNet.encoder.2.0.conv1", "UNet.level.0", "encoder.2"):
        assert stage_of_module(name) is None
    assert parse_stage("skips[1]") == Address("skips", 1) and parse_stage("msiam") == Address("msiam")
    assert parse_stage("level[0]") is None and parse_stage("middle") is None


def test_transforms_name_the_parameter_for_a_bad_address():
    seed = roadmap.get_seed("nafnet", "w16")
    with pytest.raises(SpecError) as info:
        apply_transform(seed, "pconv", targets=["stem"])
    assert str(info.value).startswith("pconv.targets: 'stem' is not an address like encoder[1]")
    with pytest.raises(SpecError, match=r"pconv\.overrides: 'head' is not an address"):
        apply_transform(seed, "pconv", overrides={"head": 0.5})
    with pytest.raises(SpecError, match=r"more_params\.targets: level\[5\] does not exist \(valid indices 0\.\.2\)"):
        apply_transform(apply_transform(seed, "pconv"), "more_params", targets=["level[5]"])
    with pytest.raises(SpecError, match="no conv slot at middle"):
        conv_slot(seed, "middle")


def _portion(spec, address):
    return conv_slot(spec, address).get().portion


def test_pconv_overrides_expand_a_level():
    # regression: overrides on level[i] used to be dropped (only stage addresses matched a slot)
    spec = apply_transform(roadmap.get_seed("nafnet", "w16"), "pconv", portion=0.25, overrides={"level[0]": 0.5})
    assert _portion(spec, "encoder[0]") == 0.5 and _portion(spec, "decoder[0]") == 0.5
    assert _portion(spec, "encoder[1]") == 0.25 and _portion(spec, "middle[0]") == 0.25


@pytest.mark.parametrize("overrides", [{"level[0]": 0.5, "decoder[0]": 0.125}, {"decoder[0]": 0.125, "level[0]": 0.5}])
def test_pconv_override_of_a_stage_wins_over_its_level(overrides):
    spec = apply_transform(roadmap.get_seed("nafnet", "w16"), "pconv", portion=0.25, overrides=overrides)
    assert _portion(spec, "decoder[0]") == 0.125
    assert _portion(spec, "encoder[0]") == 0.5 and _portion(spec, "encoder[1]") == 0.25
