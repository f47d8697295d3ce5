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


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d["encoder"][2].update(conv={"kind": "pconv", "portion": 1.5}),
     "encoder[2].conv.portion: must be in (0, 1], got 1.5"),
    (lambda d: d["encoder"][1].update(conv={"kind": "pconv", "portion": 0}),
     "encoder[1].conv.portion: must be in (0, 1], got 0"),
    (lambda d: d["encoder"][0].update(depth=-1), "encoder[0].depth: must be an integer >= 0, got -1"),
    (lambda d: d["encoder"][0].update(width="wide"), "encoder[0].width: must be an integer >= 1, got 'wide'"),
    (lambda d: d["decoder"][1].update(block="transformer"), "decoder[1].block: must be one of"),
    (lambda d: d["down"][0].update(type="maxpool"), "down[0].type: must be one of"),
    (lambda d: d["up"][2].update(type="strided_conv"), "up[2].type: must be one of"),
    (lambda d: d["skips"][1].update(type="gated"), "skips[1].type: must be one of"),
    (lambda d: d["encoder"][0].update(conv={"kind": "depthwise", "kernel": 4}), "encoder[0].conv.kernel: must be odd"),
    (lambda d: d["encoder"][0].update(conv={"kind": "vanilla", "portion": 0.5}), "encoder[0].conv.portion: only pconv"),
    (lambda d: d["middle"].append({"block": "nafblock", "depth": 1, "width": 99}),
     "middle[1].width: block nafblock cannot change the width: input has 128 channels, got 99"),
    (lambda d: d["decoder"][0].update(width=8), "skips[0].type: add needs equal widths"),
    (lambda d: d.update(down=d["down"][:2]), "down: must have one entry per encoder level (3), got 2"),
    (lambda d: d.update(in_channels=4), "global_residual: needs in_channels == out_channels"),
    (lambda d: d.update(stem={"act": "swish"}), "stem.act: must be one of"),
    (lambda d: d["encoder"][0].update(widht=3), "encoder[0].widht: unknown field"),
    (lambda d: d.pop("decoder"), "decoder: required field is missing"),
    (lambda d: d.update(aggregate={"target_level": 5, "ratios": [0.5, 0.5, 0.5]}),
     "aggregate.target_level: must be an encoder level in [0, 2], got 5"),
    (lambda d: d.update(aggregate={"target_level": 0, "ratios": [1 / 16, 1 / 16, 1 / 8]}),
     "aggregate.target_level: 0 is impossible"),
    (lambda d: d.update(aggregate={"target_level": 2, "ratios": [0.3, 0.5, 0.5]}),
     "aggregate.ratios[0]: 0.3 of 16 channels is not a whole number"),
    (lambda d: d["encoder"][0].update(attention="se"),
     "encoder[0].attention: must be one of sca, gama, none, got 'se'"),
])
def test_validation_names_the_field(mutate, message):
    assert message in _bad(mutate)


def test_attention_is_only_for_blocks_that_have_one():
    data = seed_dict("pmrid", "rgb")
    data["decoder"][1]["attention"] = "gama"
    with pytest.raises(SpecError, match=r"^decoder\[1\].attention: block pmrid_decoder has no attention to choose "
                                        r"\(only nafblock, gama have one\)$"):
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
