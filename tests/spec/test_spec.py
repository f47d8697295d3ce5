"""The spec: YAML round trips and validation messages that name the field."""

import pytest

import roadmap
from roadmap.errors import SpecError
from roadmap.spec import load_spec


def seed_dict(name="nafnet", variant="w16"):
    return roadmap.get_seed(name, variant).to_dict()


def test_save_and_load_give_an_equal_spec(tmp_path):
    spec = roadmap.get_seed("pmrid")
    path = roadmap.save_spec(spec, tmp_path / "sub" / "pmrid.yaml")
    assert load_spec(path) == spec
    assert load_spec(str(path)) == spec


def _bad(mutate):
    data = seed_dict()
    mutate(data)
    with pytest.raises(SpecError) as info:
        load_spec(data)
    return str(info.value)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (
            lambda d: d["encoder"][2].update(conv={"kind": "pconv", "portion": 1.5}),
            "encoder[2].conv.portion: must be in (0, 1], got 1.5",
        ),
        (
            lambda d: d["encoder"][1].update(conv={"kind": "pconv", "portion": 0}),
            "encoder[1].conv.portion: must be in (0, 1], got 0",
        ),
        (lambda d: d["encoder"][0].update(depth=-1), "encoder[0].depth: must be an integer >= 0, got -1"),
        (lambda d: d["encoder"][0].update(width="wide"), "encoder[0].width: must be an integer >= 1, got 'wide'"),
        (lambda d: d["decoder"][1].update(block="transformer"), "decoder[1].block: must be one of"),
        (lambda d: d["down"][0].update(type="maxpool"), "down[0].type: must be one of"),
        (lambda d: d["up"][2].update(type="strided_conv"), "up[2].type: must be one of"),
        (lambda d: d["skips"][1].update(type="gated"), "skips[1].type: must be one of"),
        (
            lambda d: d["encoder"][0].update(conv={"kind": "depthwise", "kernel": 4}),
            "encoder[0].conv.kernel: must be odd",
        ),
        (
            lambda d: d["encoder"][0].update(conv={"kind": "vanilla", "portion": 0.5}),
            "encoder[0].conv.portion: only pconv",
        ),
        (
            lambda d: d["middle"].append({"block": "nafblock", "depth": 1, "width": 99}),
            "middle[1].width: block nafblock cannot change the width: input has 128 channels, got 99",
        ),
        (lambda d: d["decoder"][0].update(width=8), "skips[0].type: add needs equal widths"),
        (lambda d: d.update(down=d["down"][:2]), "down: must have one entry per encoder level (3), got 2"),
        (lambda d: d.update(in_channels=4), "global_residual: needs in_channels == out_channels"),
        (lambda d: d.update(stem={"act": "swish"}), "stem.act: must be one of"),
        (lambda d: d["encoder"][0].update(widht=3), "encoder[0].widht: unknown field"),
        (lambda d: d.pop("decoder"), "decoder: required field is missing"),
        (
            lambda d: d.update(aggregate={"target_level": 5, "ratios": [0.5, 0.5, 0.5]}),
            "aggregate.target_level: must be an encoder level in [0, 2], got 5",
        ),
        (
            lambda d: d.update(aggregate={"target_level": 0, "ratios": [1 / 16, 1 / 16, 1 / 8]}),
            "aggregate.target_level: 0 is impossible",
        ),
        (
            lambda d: d.update(aggregate={"target_level": 2, "ratios": [0.3, 0.5, 0.5]}),
            "aggregate.ratios[0]: 0.3 of 16 channels is not a whole number",
        ),
        (
            lambda d: d["encoder"][0].update(attention="se"),
            "encoder[0].attention: must be one of sca, gama, none, got 'se'",
        ),
    ],
)
def test_validation_names_the_field(mutate, message):
    assert message in _bad(mutate)


def test_attention_is_only_for_blocks_that_have_one():
    data = seed_dict("pmrid", "rgb")
    data["decoder"][1]["attention"] = "gama"
    with pytest.raises(
        SpecError,
        match=r"^decoder\[1\].attention: block pmrid_decoder has no attention to choose "
        r"\(only nafblock, gama have one\)$",
    ):
        load_spec(data)


def test_attention_round_trips_and_defaults_to_the_block_type():
    data = seed_dict()
    data["middle"][0]["attention"] = "none"
    spec = load_spec(data)
    assert spec.middle[0].attention == "none" and spec.encoder[0].attention is None
    assert load_spec(spec.to_yaml()) == spec
    assert "attention" not in spec.to_dict()["encoder"][0]  # the default is not written


def test_unreadable_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nencoder: [\n")
    with pytest.raises(SpecError, match=r"bad.yaml: not valid YAML at line 3"):
        load_spec(bad)
    with pytest.raises(SpecError, match="cannot read spec file"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(roadmap.RoadmapError, match="no such spec file"):
        roadmap.resolve_spec(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize(
    "mutate,message",
    [
        (
            lambda d: d["nested"].update(depth=3),
            "nested.depth: must be an integer in [1, 2] (leave it out for all 3 levels), got 3",
        ),
        (lambda d: d["nested"].update(depth=0), "nested.depth: must be an integer in [1, 2]"),
        (
            lambda d: d["nested"].update(deep_supervision="yes"),
            "nested.deep_supervision: must be true or false, got 'yes'",
        ),
        (
            lambda d: d["nested"].update(heads=3),
            "nested.heads: unknown field (expected one of deep_supervision, depth)",
        ),
        (
            lambda d: d["decoder"][1].update(width=48),
            "decoder[1].width: a UNet++ (nested) level has one width: encoder[1] has 32, got 48",
        ),
        (
            lambda d: d["skips"][0].update(type="none"),
            "skips[0].type: a UNet++ (nested) node fuses its level's earlier nodes with concat or add, got 'none'",
        ),
        (
            lambda d: d.update(aggregate={"target_level": 2, "ratios": [0.5, 0.5, 0.5]}),
            "aggregate: a UNet++ (nested) decoder keeps every node of its skip pathways; it cannot aggregate them",
        ),
    ],
)
def test_nested_validation_names_the_field(mutate, message):
    data = seed_dict("unetpp", "w16")
    mutate(data)
    with pytest.raises(SpecError) as info:
        load_spec(data)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_pruned_unetpp_round_trips_and_keeps_its_depth():
    from roadmap.transforms import apply_transform

    spec = apply_transform(roadmap.get_seed("unetpp"), "prune", depth=2)
    assert spec.nested.depth == 2 and spec.built_levels == 2 and spec.levels == 3
    assert "depth: 2" in spec.to_yaml() and load_spec(spec.to_yaml()) == spec
    plain = seed_dict("unetpp", "w16")
    plain["nested"] = {}  # a UNet++ without deep supervision, all levels
    assert load_spec(plain).nested == roadmap.spec.NestedSpec(deep_supervision=False, depth=None)
