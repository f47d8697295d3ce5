"""Search spaces are checked whole, before the study exists (`check_space`).

Every domain value of every step is tried with its transform; a value the transform refuses
on every network is an error naming the file, the step and the value and quoting the
transform, and `roadmap search` exits 2 without creating the study directory.
"""

from __future__ import annotations

import pytest
import yaml

from roadmap.errors import RoadmapError
from roadmap.search.space import check_space, default_space_path, load_space, parse_space
from roadmap.seeds import get_seed, list_seeds
from roadmap.transforms import list_transforms, transform_parameters

PCONV = {"transform": "pconv", "params": {"portion": 0.25}}
# (transform, parameter, steps before it, the step's params with one bad value, the bad value,
#  what the transform says about it)
BAD_VALUES = [
    ("pconv", "portion", [], {"portion": {"choice": [0.25, 1.7]}}, "1.7", "pconv.portion: must be in (0, 1]"),
    ("pconv", "targets", [], {"targets": ["bogus[0]"]}, '["bogus[0]"]', "'bogus[0]' is not an address"),
    (
        "pconv",
        "overrides",
        [],
        {"overrides": {"per": ["encoder[0]"], "choice": [0.5, 0]}},
        "0",
        "pconv.overrides[encoder[0]]: must be in (0, 1], got 0",
    ),
    (
        "more_params",
        "portion",
        [PCONV],
        {"targets": ["encoder[2]"], "portion": {"choice": [0.5, 2]}},
        "2",
        "more_params.portion: must be in (0, 1], got 2",
    ),
    ("more_params", "targets", [PCONV], {"targets": ["stem"]}, '["stem"]', "'stem' is not an address"),
    (
        "more_params",
        "rule",
        [PCONV],
        {"rule": {"choice": ["middle", "sideways"]}},
        "sideways",
        "more_params.rule: must be middle or cheap",
    ),
    (
        "more_params",
        "threshold",
        [PCONV],
        {"rule": "cheap", "threshold": {"choice": [0.1, 3]}},
        "3",
        "more_params.threshold: must be in (0, 1), got 3",
    ),
    (
        "pdwconv",
        "threshold",
        [PCONV],
        {"threshold": {"choice": [8, -3]}},
        "-3",
        "pdwconv.threshold: must be an integer >= 0",
    ),
    (
        "decouple",
        "direction",
        [],
        {"direction": {"choice": ["up", "sideways"]}},
        "sideways",
        "decouple.direction: must be down, up or both",
    ),
    ("decouple", "levels", [], {"levels": {"subset": [0, 9]}}, "9", "decouple.levels: 9 is not a level"),
    ("decouple", "portion", [], {"portion": {"choice": [0.25, 0]}}, "0", "decouple.portion: must be in (0, 1]"),
    ("decouple", "kernel", [], {"kernel": {"choice": [3, 4]}}, "4", "decouple.kernel: must be an odd integer"),
    (
        "msiam",
        "target_level",
        [],
        {"target_level": {"choice": [-1, 12]}},
        "12",
        "msiam.target_level: must be an encoder level",
    ),
    (
        "msiam",
        "ratios",
        [],
        {"ratios": {"choice": [None, [2, 2, 2]]}},
        "[2, 2, 2]",
        "msiam.ratios[0]: must be in (0, 1], got 2",
    ),
    ("drop_skips", "levels", [], {"levels": {"subset": [0, 9]}}, "9", "drop_skips.levels: 9 is not a level"),
    ("depth", "levels", [], {"levels": {"choice": [2, 0]}}, "0", "depth.levels: must be an integer in [1, 2]"),
    (
        "blocks",
        "depth",
        [],
        {"depth": {"per": ["encoder[0]"], "choice": [2, -1]}},
        "-1",
        "blocks.depth[encoder[0]]: must be an integer >= 0",
    ),
    ("width", "multiplier", [], {"multiplier": {"choice": [0.5, 100]}}, "100", "width.multiplier: must be a number"),
    (
        "width",
        "overrides",
        [],
        {"overrides": {"per": ["level[0]"], "choice": [0.5, 0]}},
        "0",
        "width.overrides[level[0]]: must be a number",
    ),
    ("width", "divisor", [], {"divisor": {"choice": [8, 0]}}, "0", "width.divisor: must be an integer >= 1"),
    (
        "attention",
        "attention",
        [],
        {"attention": {"choice": ["sca", "bogus"]}},
        "bogus",
        "attention.attention: must be one of",
    ),
    ("attention", "targets", [], {"targets": ["bogus"]}, '["bogus"]', "'bogus' is not an address"),
    (
        "attention",
        "overrides",
        [],
        {"overrides": {"per": ["encoder[0]"], "choice": ["sca", "bogus"]}},
        "bogus",
        "attention.overrides[encoder[0]]: must be one of",
    ),
    ("reparam", "targets", [], {"targets": ["bogus[0]"]}, '["bogus[0]"]', "'bogus[0]' is not an address"),
    # depth 2 fits the unetpp seeds (a note for nafnet); 0 fits no network
    ("prune", "depth", [], {"depth": {"choice": [2, 0]}}, "0", "prune.depth: prunes a deep-supervised UNet++"),
]


def test_every_parameter_of_every_transform_has_a_bad_value_case():
    covered = {(t, p) for t, p, *_ in BAD_VALUES}
    missing = [f"{t}.{p}" for t in list_transforms() for p in transform_parameters(t) if (t, p) not in covered]
    assert not missing, f"add a BAD_VALUES case for {', '.join(missing)}"


@pytest.mark.parametrize(
    "transform,param,before,params,value,reason", BAD_VALUES, ids=[f"{t}.{p}" for t, p, *_ in BAD_VALUES]
)
def test_a_refused_value_exits_2_before_the_study_exists(
    transform, param, before, params, value, reason, tmp_path, capsys
):
    from roadmap.cli import main

    space = tmp_path / "bad.yaml"
    space.write_text(yaml.safe_dump({"version": 1, "steps": [*before, {"transform": transform, "params": params}]}))
    study = tmp_path / "study"
    code = main(
        [
            "search",
            "--space",
            str(space),
            "--study",
            str(study),
            "--backend",
            "local",
            "--fidelity",
            "smoke",
            "--budget",
            "2",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and not study.exists()
    assert err.count("\n") == 1, err
    step = len(before)
    assert err.startswith(
        f"roadmap search: error: search space bad.yaml: steps[{step}].params.{param}: {value} "
        f"is refused by {transform} ("
    ), err
    assert reason in err


def test_the_issue_case_names_file_step_value_and_rule():
    space = parse_space(
        {"steps": [{"transform": "pconv", "params": {"portion": {"choice": [1.7]}}}]}, "search space my.yaml"
    )
    with pytest.raises(RoadmapError) as info:
        check_space(space, get_seed("nafnet"))
    assert str(info.value) == (
        "search space my.yaml: steps[0].params.portion: 1.7 is refused by pconv "
        "(pconv.portion: must be in (0, 1], got 1.7)"
    )


def test_values_that_fail_for_some_candidates_only_are_fine():
    space = parse_space(
        {
            "steps": [
                {"transform": "depth", "optional": True, "params": {"levels": 2}},  # removes level 2
                {"transform": "pconv", "optional": True, "params": {"portion": {"choice": [0.25, 1.0]}}},
                {"transform": "more_params", "optional": True, "params": {"targets": ["encoder[2]"], "portion": 0.5}},
                {"transform": "drop_skips", "optional": True, "params": {"levels": {"subset": [0, 2]}}},
                {"transform": "pdwconv", "optional": True, "params": {"threshold": {"low": 8, "high": 64, "step": 8}}},
            ]
        },
        "search space ok.yaml",
    )
    assert check_space(space, get_seed("nafnet")) == []


def test_a_value_of_another_variant_is_a_note_not_an_error():
    """The shipped nafnet space serves 3- and 4-level variants: level 3 never fits w16."""
    notes = check_space(load_space(default_space_path("nafnet"), "nafnet"), get_seed("nafnet", "w16"))
    assert any(
        "steps[" in n and "levels: 3 never applies to nafnet/w16 (drop_skips.levels: 3 is not a level" in n
        for n in notes
    ), notes


def test_a_per_address_that_names_nothing_is_refused_with_the_valid_ones(tmp_path, capsys):
    """Like `roadmap apply` refuses a roadmap step on encoder[9], the search refuses a space
    that draws for it (it used to drop the address from every draw without a word)."""
    from roadmap.cli import main

    space = tmp_path / "bad.yaml"
    space.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "steps": [
                    {
                        "transform": "pconv",
                        "params": {
                            "portion": 0.25,
                            "overrides": {"per": ["encoder[9]", "middle[0]", "level[7]"], "choice": [0.125, 0.5]},
                        },
                    }
                ],
            }
        )
    )
    study = tmp_path / "study"
    code = main(
        [
            "search",
            "--space",
            str(space),
            "--study",
            str(study),
            "--backend",
            "local",
            "--fidelity",
            "smoke",
            "--budget",
            "2",
            "--quiet",
        ]
    )
    assert (code, capsys.readouterr().err) == (
        2,
        (
            "roadmap search: error: search space bad.yaml: steps[0].params.overrides.per: encoder[9], level[7]: "
            "are not a part of the seed (nafnet/w16 has encoder[0-2], middle[0], decoder[0-2], down[0-2], up[0-2], "
            "skips[0-2], level[0-2], middle)\n"
        ),
    )
    assert not study.exists()


def test_a_per_address_of_another_variant_is_a_note():
    space = parse_space(
        {
            "steps": [
                {
                    "transform": "pconv",
                    "params": {"overrides": {"per": ["level[0]", "level[3]"], "choice": [0.125, 0.5]}},
                }
            ]
        },
        "search space all.yaml",
    )
    assert check_space(space, get_seed("nafnet", "w16"))[0] == (
        "search space all.yaml: steps[0].params.overrides.per: level[3]: never applies to nafnet/w16 (nafnet/w16 has "
        "encoder[0-2], middle[0], decoder[0-2], down[0-2], up[0-2], skips[0-2], level[0-2], middle)"
    )


@pytest.mark.parametrize(
    "seed,variant", [(s, v) for s, vs in list_seeds().items() for v in vs if s in ("nafnet", "pmrid", "unet", "unetpp")]
)
def test_every_shipped_space_passes_for_every_variant(seed, variant):
    check_space(load_space(default_space_path(seed), seed), get_seed(seed, variant))


@pytest.mark.slow
@pytest.mark.parametrize("seed", sorted(set(list_seeds()) - {"nafnet", "pmrid", "unet", "unetpp"}))
def test_the_other_shipped_spaces_pass(seed):
    """Slow: ``more_params`` with ``rule: cheap`` counts MACs on every spec it is tried on."""
    for variant in list_seeds()[seed]:
        check_space(load_space(default_space_path(seed), seed), get_seed(seed, variant))
