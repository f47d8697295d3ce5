"""Transforms: purity, refusals naming the parameter, and a property test over random draws."""
import random

import pytest
import torch

import roadmap
from roadmap.analysis import meta_model
from roadmap.errors import SpecError
from roadmap.seeds import list_seeds
from roadmap.spec import validate
from roadmap.transforms import apply_transform, list_transforms
from roadmap.transforms.addresses import conv_slots

SEEDS = [(s, v) for s, vs in list_seeds().items() for v in vs]


def test_all_transforms_are_registered():
    assert list_transforms() == sorted(["pconv", "more_params", "pdwconv", "decouple", "msiam", "drop_skips", "depth"])


def test_transforms_do_not_modify_their_input():
    seed = roadmap.get_seed("nafnet")
    before = seed.to_dict()
    out = apply_transform(seed, "pconv", portion=0.5)
    assert seed.to_dict() == before
    assert out != seed and out.provenance["steps"] == [{"transform": "pconv", "params": {"portion": 0.5}}]


def test_pconv_never_touches_stem_head_or_strided_convs():
    spec = apply_transform(roadmap.get_seed("pmrid"), "pconv", portion=0.25)
    model = roadmap.build_model(spec)
    assert model.stem.conv.__class__.__name__ == "Conv2d"
    assert model.head.__class__.__name__ == "Conv2d"
    # the stride-2 conv of the down-sampling block stays separable
    assert model.down[0].conv1[0].stride == (2, 2)


@pytest.mark.parametrize("name,params,message", [
    ("pconv", {"portion": 0}, "pconv.portion: must be in (0, 1], got 0"),
    ("pconv", {"portion": 1.5}, "pconv.portion: must be in (0, 1], got 1.5"),
    ("pconv", {"targets": ["encoder[7]"]}, "pconv.targets: encoder[7] does not exist (valid indices 0..2)"),
    ("more_params", {"targets": ["encoder[0]"]}, "more_params.targets: no PConv at encoder[0]: apply pconv first"),
    ("more_params", {"rule": "shallow"}, "more_params.rule: must be middle or cheap"),
    ("pdwconv", {"threshold": -1}, "pdwconv.threshold: must be an integer >= 0 (channels), got -1"),
    ("decouple", {"direction": "sideways"}, "decouple.direction: must be down, up or both"),
    ("decouple", {"levels": [3]}, "decouple.levels: 3 is not a level of this network (0..2)"),
    ("msiam", {"target_level": 3}, "msiam.target_level: must be an encoder level in [0, 2]"),
    ("msiam", {"target_level": 0}, "target_level: 0 is impossible"),
    ("msiam", {"ratios": [0.5]}, "msiam.ratios: must be a list of 3 ratios"),
    ("drop_skips", {"levels": [5]}, "drop_skips.levels: 5 is not a level of this network (0..2)"),
    ("depth", {"levels": 3}, "depth.levels: must be an integer in [1, 2]"),
    ("pconv", {"portoin": 0.5}, "pconv: unknown parameter 'portoin'"),
    ("drop_skips", {}, "drop_skips.levels: required parameter is missing"),
])
def test_invalid_parameters_are_refused_naming_the_parameter(name, params, message):
    with pytest.raises(SpecError) as info:
        apply_transform(roadmap.get_seed("nafnet", "w16"), name, **params)
    assert message in str(info.value)


def test_dropping_a_skip_twice_is_refused():
    spec = apply_transform(roadmap.get_seed("nafnet"), "drop_skips", levels=[1])
    with pytest.raises(SpecError, match="drop_skips.levels: level 1 has no skip connection to drop"):
        apply_transform(spec, "drop_skips", levels=[1])


def test_cheap_rule_picks_the_low_mac_stages_of_pmrid():
    spec = apply_transform(roadmap.get_seed("pmrid"), "pconv", portion=0.25)
    out = apply_transform(spec, "more_params", rule="cheap", threshold=0.05)
    raised = {s.address for s in conv_slots(out) if s.get().portion == 0.5}
    assert raised and all(not a.startswith("encoder[0]") for a in raised)


# ----------------------------------------------------------------------------- property test

def random_step(spec, rng: random.Random) -> tuple[str, dict]:
    """A transform with random *valid* parameters for the current spec."""
    partial = [s for s in conv_slots(spec) if s.get().is_partial]
    options = ["pconv", "decouple", "drop_skips", "msiam"]
    if partial:
        options += ["more_params", "pdwconv"]
    if spec.levels > 1:
        options.append("depth")
    name = rng.choice(options)
    L = spec.levels
    if name == "pconv":
        return name, {"portion": rng.choice([0.25, 0.5, 0.75, 1.0])}
    if name == "more_params":
        low = min(s.get().portion for s in partial)
        targets = [s.address for s in partial if s.get().portion == low]
        return name, {"targets": rng.sample(targets, rng.randint(1, len(targets))), "portion": min(1.0, low * 2)}
    if name == "pdwconv":
        return name, {"threshold": rng.choice([0, 8, 16, 32, 64])}
    if name == "decouple":
        pending = [(i, d) for i in range(L) for d, t in (("down", "pool_conv"), ("up", "conv_interp"))
                   if getattr(spec, d)[i].type != t]
        if not pending:
            return "pconv", {"portion": 0.5}
        level, direction = rng.choice(pending)
        return name, {"direction": direction, "levels": [level], "portion": rng.choice([0.25, 0.5])}
    if name == "drop_skips":
        kept = [i for i in range(L) if spec.skips[i].type != "none"]
        if len(kept) < 2:
            return "pconv", {"portion": 0.25}
        return name, {"levels": rng.sample(kept, rng.randint(1, len(kept) - 1))}
    if name == "msiam":
        feasible = []
        for t in range(L):
            try:
                apply_transform(spec, "msiam", target_level=t)
                feasible.append(t)
            except SpecError:
                pass
        return (name, {"target_level": rng.choice(feasible)}) if feasible else ("pconv", {"portion": 0.25})
    if spec.aggregate is not None:
        return "pconv", {"portion": 0.25}
    return "depth", {"levels": rng.randint(1, L - 1)}


def test_random_valid_transforms_always_build_and_keep_the_shape():
    rng = random.Random(2024)
    draws = 0
    while draws < 200:
        seed, variant = SEEDS[draws % len(SEEDS)]
        spec = roadmap.get_seed(seed, variant)
        for _ in range(rng.randint(1, 3)):
            name, params = random_step(spec, rng)
            spec = apply_transform(spec, name, **params)
            draws += 1
        validate(spec)
        assert roadmap.load_spec(spec.to_yaml()) == spec
        x_shape = (1, spec.in_channels, 64, 64)
        if variant in ("w32", "w64"):  # too big to run 200 times: shapes via the meta device
            y = meta_model(spec)(torch.empty(*x_shape, device="meta"))
        else:
            with torch.no_grad():
                y = roadmap.build_model(spec).eval()(torch.randn(*x_shape))
        assert tuple(y.shape) == x_shape, (seed, variant, spec.provenance["steps"])
