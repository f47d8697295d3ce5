"""Search spaces: schema validation (errors name the field), suggest, reference points."""

import optuna
import pytest

from roadmap import get_seed
from roadmap.errors import RoadmapError
from roadmap.roadmaps import get_roadmap
from roadmap.search.sampling import params_for_steps, suggest
from roadmap.search.space import default_space_path, load_space, parse_space
from roadmap.transforms import apply_steps, apply_transform

optuna.logging.set_verbosity(optuna.logging.WARNING)
SEEDS = ["nafnet", "pmrid", "unet", "unetpp"]


@pytest.mark.parametrize("seed", SEEDS)
def test_shipped_spaces_sample_valid_candidates(seed):
    space = load_space(default_space_path(seed), seed)
    spec0 = get_seed(seed)
    study = optuna.create_study(directions=["minimize"], sampler=optuna.samplers.RandomSampler(seed=1))
    names = None
    for _ in range(40):
        trial = study.ask()
        steps = suggest(trial, space, spec0)
        apply_steps(spec0, steps)  # never raises: inapplicable steps are left out
        assert names is None or set(trial.params) == names  # a fixed set of genes
        names = set(trial.params)
        study.tell(trial, 0.0)


@pytest.mark.parametrize(
    "seed,roadmap",
    [("nafnet", "mofa"), ("nafnet", "unet--"), ("pmrid", "mofa"), ("pmrid", "unet--"), ("unet", "unet--")],
)
def test_reference_roadmaps_are_points_of_the_space(seed, roadmap):
    space = load_space(default_space_path(seed), seed)
    spec0 = get_seed(seed)
    steps = [{"transform": s["transform"], "params": dict(s.get("params") or {})} for s in get_roadmap(roadmap, spec0)]
    params = params_for_steps(space, steps)
    assert params is not None
    study = optuna.create_study(directions=["minimize"])
    study.enqueue_trial(params)
    got = suggest(study.ask(), space, spec0)
    assert apply_steps(spec0, got) == apply_steps(spec0, steps)


@pytest.mark.parametrize(
    "data,field",
    [
        ({"steps": []}, "steps"),
        ({"steps": [{"transform": "nope"}]}, "steps[0].transform"),
        ({"steps": [{"transform": "pconv", "params": {"portion": {"choice": []}}}]}, "steps[0].params.portion.choice"),
        (
            {"steps": [{"transform": "pconv", "params": {"portion": {"low": 0.5, "high": 0.1}}}]},
            "steps[0].params.portion.high",
        ),
        ({"steps": [{"transform": "pconv", "optional": "yes"}]}, "steps[0].optional"),
        ({"steps": [{"transform": "pconv"}, {"transform": "pconv"}]}, "steps[1].name"),
        (
            {"steps": [{"transform": "drop_skips", "params": {"levels": {"subset": [0, 1], "min_size": 3}}}]},
            "steps[0].params.levels.min_size",
        ),
        (
            {"steps": [{"transform": "pconv", "params": {"overrides": {"per": ["bogus"], "choice": [0.5]}}}]},
            "steps[0].params.overrides.per",
        ),
        ({"steps": [{"transform": "pconv", "colour": 1}]}, "steps[0].colour"),
        ({"version": 2, "steps": [{"transform": "pconv"}]}, "version"),
    ],
)
def test_malformed_space_names_the_field(data, field):
    with pytest.raises(RoadmapError, match=__import__("re").escape(field)):
        parse_space(data, "search space x.yaml")


def test_space_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [\n")
    with pytest.raises(RoadmapError, match=r"bad.yaml: not valid YAML at line"):
        load_space(bad)
    with pytest.raises(RoadmapError, match="no such file"):
        load_space(tmp_path / "missing.yaml")
    with pytest.raises(RoadmapError, match="written for seed 'pmrid', not 'nafnet'"):
        load_space(default_space_path("pmrid"), "nafnet")


def test_domains_ranges_subsets_and_null():
    space = parse_space(
        {
            "steps": [
                {"transform": "pconv", "params": {"portion": {"low": 0.1, "high": 0.5, "step": 0.1}}},
                {"transform": "pdwconv", "optional": True, "params": {"threshold": {"low": 8, "high": 32, "step": 8}}},
                {
                    "transform": "drop_skips",
                    "optional": True,
                    "params": {"levels": {"subset": [0, 1, 2], "min_size": 1}},
                },
                {"transform": "msiam", "optional": True, "params": {"ratios": {"choice": [None, [0.25, 0.25, 0.5]]}}},
            ]
        }
    )
    spec0 = get_seed("nafnet")
    study = optuna.create_study(directions=["minimize"], sampler=optuna.samplers.RandomSampler(seed=0))
    seen_threshold = set()
    for _ in range(30):
        t = study.ask()
        steps = suggest(t, space, spec0)
        assert steps[0]["transform"] == "pconv" and 0.1 <= steps[0]["params"]["portion"] <= 0.5
        assert isinstance(t.params["pdwconv.threshold"], int)
        seen_threshold.add(t.params["pdwconv.threshold"])
        for s in steps:
            if s["transform"] == "drop_skips":
                assert s["params"]["levels"]
            if s["transform"] == "msiam":
                assert s["params"].get("ratios") in (None, [0.25, 0.25, 0.5])
        study.tell(t, 0.0)
    assert seen_threshold <= {8, 16, 24, 32}


def _overrides_space(addresses):
    return {"steps": [{"transform": "pconv", "params": {"overrides": {"per": addresses, "choice": [0.5]}}}]}


@pytest.mark.parametrize("address", ["stem", "head", "aggregate", "bogus", "encoder"])
def test_per_refuses_what_the_transforms_refuse(address):
    with pytest.raises(RoadmapError) as info:
        parse_space(_overrides_space([address]), "search space x.yaml")
    # the message of the transforms (roadmap.addresses.parse_address), after the field
    assert str(info.value) == (
        f"search space x.yaml: steps[0].params.overrides.per: {address!r} is not an "
        "address like encoder[1], middle[0], decoder[2], down[0], up[1], skips[0], "
        "level[1] or middle"
    )
    with pytest.raises(RoadmapError, match=f"pconv.overrides: {address!r} is not an address like encoder"):
        apply_transform(get_seed("nafnet"), "pconv", overrides={address: 0.5})


def test_per_refuses_a_negative_index():
    with pytest.raises(RoadmapError, match=r"overrides\.per: encoder\[-1\] does not exist"):
        parse_space(_overrides_space(["encoder[-1]"]))


def test_per_accepts_every_transform_address_form():
    addresses = ["encoder[0]", "middle[0]", "decoder[1]", "down[0]", "up[1]", "skips[2]", "level[1]", "middle"]
    space = parse_space(_overrides_space(addresses))
    spec0 = get_seed("nafnet")
    trial = optuna.create_study(directions=["minimize"]).ask()
    steps = suggest(trial, space, spec0)
    assert steps[0]["params"]["overrides"] == dict.fromkeys(addresses, 0.5)
    apply_steps(spec0, steps)  # the transform takes every one of them
