"""Transforms: purity, refusals naming the parameter, and a property test over random draws."""

import random

import pytest
import torch

import roadmap
from roadmap.analysis import meta_model
from roadmap.errors import SpecError
from roadmap.seeds import list_seeds
from roadmap.spec import ATTENTION_KINDS, REPARAM_KINDS, stage_attention, validate
from roadmap.transforms import apply_steps, apply_transform, list_transforms
from roadmap.transforms.addresses import conv_slots, stage_addresses, stage_at
from roadmap.transforms.attention import attention_stages

SEEDS = [(s, v) for s, vs in list_seeds().items() for v in vs]


def test_all_transforms_are_registered():
    assert list_transforms() == sorted(
        [
            "pconv",
            "more_params",
            "pdwconv",
            "decouple",
            "msiam",
            "drop_skips",
            "depth",
            "attention",
            "width",
            "blocks",
            "reparam",
            "prune",
        ]
    )


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


@pytest.mark.parametrize(
    "name,params,message",
    [
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
        ("attention", {"attention": "se"}, "attention.attention: must be one of sca, gama, none, got 'se'"),
        ("attention", {"attention": "sca"}, "attention.attention: changes nothing: encoder[0]"),
        ("attention", {"targets": ["down[0]"]}, "attention.targets: no nafblock or gama stage at down[0]"),
        ("attention", {"targets": ["encoder[3]"]}, "attention.targets: encoder[3] does not exist (valid indices 0..2)"),
        ("attention", {"overrides": {"middle": "se"}}, "attention.overrides[middle]: must be one of sca, gama, none"),
        ("attention", {"overrides": ["middle"]}, "attention.overrides: must be a mapping address -> attention"),
        ("width", {"multiplier": 0}, "width.multiplier: must be a number in (0, 4], got 0"),
        ("width", {"multiplier": "half"}, "width.multiplier: must be a number in (0, 4], got 'half'"),
        ("width", {"multiplier": 1.0}, "width.multiplier: changes no width (rounded to multiples of 8)"),
        ("width", {"divisor": 0}, "width.divisor: must be an integer >= 1, got 0"),
        ("width", {"overrides": {"encoder[0]": 0.5}}, "width.overrides: encoder[0]: must be level[i] or middle"),
        ("width", {"overrides": {"level[5]": 0.5}}, "width.overrides: level[5] does not exist (valid indices 0..2)"),
        ("width", {"overrides": {"middle": 5}}, "width.overrides[middle]: must be a number in (0, 4], got 5"),
        ("blocks", {}, "blocks.depth: required parameter is missing"),
        ("blocks", {"depth": 2}, "blocks.depth: must be a non-empty mapping address -> blocks, got 2"),
        ("blocks", {"depth": {"encoder[0]": -1}}, "blocks.depth[encoder[0]]: must be an integer >= 0 (blocks), got -1"),
        (
            "blocks",
            {"depth": {"encoder[0]": 1.5}},
            "blocks.depth[encoder[0]]: must be an integer >= 0 (blocks), got 1.5",
        ),
        ("blocks", {"depth": {"down[0]": 2}}, "blocks.depth: down[0] is not a stage"),
        ("blocks", {"depth": {"encoder[9]": 2}}, "blocks.depth: encoder[9] does not exist (valid indices 0..2)"),
        ("blocks", {"depth": {"level[0]": 1}}, "blocks.depth: changes nothing: encoder[0], decoder[0]"),
        (
            "reparam",
            {"targets": "encoder[0]"},
            "reparam.targets: must be a non-empty list of addresses, got 'encoder[0]'",
        ),
        ("reparam", {"targets": ["encoder[5]"]}, "reparam.targets: encoder[5] does not exist (valid indices 0..2)"),
        ("reparam", {"targets": ["down[0]"]}, "reparam.targets: no conv left to re-parameterise at down[0]"),
        ("reparam", {"target": ["middle"]}, "reparam: unknown parameter 'target'"),
        (
            "prune",
            {"depth": 1},
            "prune.depth: prunes a deep-supervised UNet++ (nested.deep_supervision: true) only; "
            "this spec is not a UNet++ (no nested)",
        ),
        ("prune", {}, "prune.depth: required parameter is missing"),
    ],
)
def test_invalid_parameters_are_refused_naming_the_parameter(name, params, message):
    assert_refused_in_one_line(roadmap.get_seed("nafnet", "w16"), name, params, message)


def assert_refused_in_one_line(spec, name: str, params: dict, message: str) -> None:
    with pytest.raises(SpecError) as info:
        apply_transform(spec, name, **params)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_dropping_a_skip_twice_is_refused():
    spec = apply_transform(roadmap.get_seed("nafnet"), "drop_skips", levels=[1])
    with pytest.raises(SpecError, match=r"drop_skips.levels: level 1 has no skip connection to drop"):
        apply_transform(spec, "drop_skips", levels=[1])


def test_cheap_rule_picks_the_low_mac_stages_of_pmrid():
    spec = apply_transform(roadmap.get_seed("pmrid"), "pconv", portion=0.25)
    out = apply_transform(spec, "more_params", rule="cheap", threshold=0.05)
    raised = {s.address for s in conv_slots(out) if s.get().portion == 0.5}
    assert raised and all(not a.startswith("encoder[0]") for a in raised)


def architecture(spec):
    """A spec without its provenance: what the network is, not how it was reached."""
    return {k: v for k, v in spec.to_dict().items() if k != "provenance"}


@pytest.mark.parametrize(
    "seed,variant,name,params",
    [
        ("nafnet", "w16", "attention", {"attention": "gama"}),
        (
            "nafnet",
            "w16",
            "attention",
            {"attention": "none", "targets": ["level[1]"], "overrides": {"encoder[1]": "gama"}},
        ),
        ("gama", "s", "attention", {"attention": "sca", "targets": ["middle"]}),
        ("nafnet", "w16", "width", {"multiplier": 0.5, "overrides": {"middle": 1.5}}),
        ("gama", "s", "width", {"multiplier": 0.75}),
        ("pmrid", "rgb", "width", {"multiplier": 0.5}),
        ("unet", "w16", "blocks", {"depth": {"level[1]": 3, "middle": 1}}),
        ("nafnet", "w16", "blocks", {"depth": {"encoder[2]": 2, "middle[0]": 4, "decoder[0]": 0}}),
    ],
)
def test_new_transforms_replay_from_their_provenance(seed, variant, name, params):
    start = roadmap.get_seed(seed, variant)
    spec = apply_transform(start, name, **params)
    assert apply_steps(start, spec.provenance["steps"]) == spec
    assert roadmap.load_spec(spec.to_yaml()) == spec


def test_attention_swaps_per_stage_and_swapping_back_restores_the_seed():
    seed = roadmap.get_seed("nafnet", "w16")
    spec = apply_transform(seed, "attention", attention="gama", overrides={"middle": "none", "decoder[0]": "sca"})
    kinds = {
        a: stage_attention(s)
        for a, s in [("encoder[0]", spec.encoder[0]), ("middle[0]", spec.middle[0]), ("decoder[0]", spec.decoder[0])]
    }
    assert kinds == {"encoder[0]": "gama", "middle[0]": "none", "decoder[0]": "sca"}
    assert spec.decoder[0].attention is None  # the block type's own kind is not written
    model = roadmap.build_model(spec)
    assert type(model.encoder[0][0].attention).__name__ == "GAMAAttention"
    assert type(model.middle[0][0].attention).__name__ == "Identity"
    back = apply_transform(spec, "attention", attention="sca")
    assert architecture(back) == architecture(seed)


def test_attention_passes_over_blocks_without_one():
    spec = roadmap.get_seed("pmrid", "rgb")
    with pytest.raises(SpecError, match=r"^attention.targets: no nafblock or gama stage in this network$"):
        apply_transform(spec, "attention", attention="gama")
    with pytest.raises(SpecError, match=r"^attention.targets: no nafblock or gama stage at encoder\[0\], decoder"):
        apply_transform(spec, "attention", targets=["level[0]"])


def test_width_scales_levels_and_rounds_to_the_divisor():
    spec = apply_transform(roadmap.get_seed("gama", "s"), "width", multiplier=0.75, overrides={"level[0]": 1.0})
    assert [s.width for s in spec.encoder] == [42, 64, 128, 256] == [s.width for s in spec.decoder]
    assert spec.middle[0].width == 504  # 672 * 0.75
    nafnet = apply_transform(roadmap.get_seed("nafnet", "w16"), "width", multiplier=0.3, divisor=4)
    assert [s.width for s in nafnet.encoder] + [nafnet.middle[0].width] == [4, 8, 20, 40]
    pmrid = apply_transform(roadmap.get_seed("pmrid", "rgb"), "width", multiplier=0.5)
    assert [s.width for s in pmrid.middle] == [256, 32, 32] and pmrid.encoder[0].width == 8


def test_blocks_sets_stage_depths_and_an_explicit_stage_wins_over_its_level():
    spec = apply_transform(
        roadmap.get_seed("nafnet", "w16"), "blocks", depth={"level[1]": 3, "decoder[1]": 2, "middle": 0}
    )
    assert (spec.encoder[1].depth, spec.decoder[1].depth, spec.middle[0].depth) == (3, 2, 0)
    assert spec.encoder[0].depth == 1


# ----------------------------------------------------------------------------- property test


def applicable(spec, name: str, params: dict) -> tuple[str, dict]:
    """``(name, params)`` where the transform applies to ``spec``, else a PConv step (always does)."""
    try:
        apply_transform(spec, name, **params)
        return name, params
    except SpecError:
        return "pconv", {"portion": 0.25}


def random_attention(spec, rng: random.Random) -> tuple[str, dict]:
    """Another attention on one stage, as a global kind, a target or an override."""
    address = rng.choice(attention_stages(spec))
    stage = stage_at(spec, address)
    kind = rng.choice([k for k in ATTENTION_KINDS if k != stage_attention(stage)])
    form = rng.randrange(3)
    if form == 0:
        return "attention", {"attention": kind}
    if form == 1:
        return "attention", {"attention": kind, "targets": [address]}
    return "attention", {"attention": rng.choice(ATTENTION_KINDS), "overrides": {address: kind}}


def random_size_step(spec, name: str, rng: random.Random) -> tuple[str, dict]:
    """A width multiplier (global or for one level) or a new block count for one stage."""
    if name == "width":
        params = {"multiplier": rng.choice([0.5, 0.75, 1.5])}
        if rng.random() < 0.5:
            params["overrides"] = {rng.choice([f"level[{i}]" for i in range(spec.levels)] + ["middle"]): 1.0}
        return applicable(spec, "width", params)
    address = rng.choice(stage_addresses(spec))
    current = stage_at(spec, address).depth
    return applicable(spec, "blocks", {"depth": {address: rng.choice([n for n in (0, 1, 2, 3) if n != current])}})


def random_reparam(spec, rng: random.Random) -> tuple[str, dict]:
    """``reparam`` of every eligible stage or of one stage or level (where one is left)."""
    plain = [
        s.address
        for s in conv_slots(spec, stage_addresses(spec))
        if s.get().kind in REPARAM_KINDS and not s.get().reparam
    ]
    if not plain:
        return "pconv", {"portion": 0.25}
    if rng.random() < 0.5:
        return "reparam", {}
    address = rng.choice(plain)
    if rng.random() < 0.5 and address.startswith(("encoder", "decoder")):
        address = f"level[{address.split('[')[1]}"  # level[i] also reaches its skip's conv, if any
    return applicable(spec, "reparam", {"targets": [address]})


def random_step(spec, rng: random.Random) -> tuple[str, dict]:
    """A transform with random *valid* parameters for the current spec."""
    partial = [s for s in conv_slots(spec) if s.get().is_partial]
    options = ["pconv", "decouple", "width", "blocks", "reparam"]
    if spec.nested is None:  # a UNet++ keeps its dense skips and is cut with prune, not depth
        options += ["drop_skips", "msiam"] + (["depth"] if spec.levels > 1 else [])
    elif spec.built_levels > 1:
        options.append("prune")
    if partial:
        options += ["more_params", "pdwconv"]
    if attention_stages(spec):
        options.append("attention")
    name = rng.choice(options)
    L = spec.levels
    if name == "attention":
        return random_attention(spec, rng)
    if name in ("width", "blocks"):
        return random_size_step(spec, name, rng)
    if name == "reparam":
        return random_reparam(spec, rng)
    if name == "pconv":
        return name, {"portion": rng.choice([0.25, 0.5, 0.75, 1.0])}
    if name == "prune":
        return name, {"depth": rng.randint(1, spec.built_levels - 1)}
    if name == "more_params":
        low = min(s.get().portion for s in partial)
        targets = [s.address for s in partial if s.get().portion == low]
        params = {"targets": rng.sample(targets, rng.randint(1, len(targets))), "portion": min(1.0, low * 2)}
        return applicable(spec, name, params)  # nothing to raise where every portion is already 1
    if name == "pdwconv":
        return name, {"threshold": rng.choice([0, 8, 16, 32, 64])}
    if name == "decouple":
        pending = [
            (i, d)
            for i in range(L)
            for d, t in (("down", "pool_conv"), ("up", "conv_interp"))
            if getattr(spec, d)[i].type != t
        ]
        if not pending:
            return "pconv", {"portion": 0.5}
        level, direction = rng.choice(pending)
        return name, {"direction": direction, "levels": [level], "portion": rng.choice([0.25, 0.5])}
    if name == "drop_skips":
        kept = [i for i in range(L) if spec.skips[i].type != "none"]
        if len(kept) < 2:
            return "pconv", {"portion": 0.25}
        # with an aggregate, the remaining levels' channel maths may not work out
        return applicable(spec, name, {"levels": rng.sample(kept, rng.randint(1, len(kept) - 1))})
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
    drawn = set()
    while draws < 200:
        seed, variant = SEEDS[draws % len(SEEDS)]
        spec = start = roadmap.get_seed(seed, variant)
        for _ in range(rng.randint(1, 3)):
            name, params = random_step(spec, rng)
            spec = apply_transform(spec, name, **params)
            drawn.add(name)
            draws += 1
        validate(spec)
        assert roadmap.load_spec(spec.to_yaml()) == spec
        assert apply_steps(start, spec.provenance["steps"]) == spec
        x_shape = (1, spec.in_channels, 64, 64)
        if variant in ("w32", "w64") or seed == "gama":  # too big to run 200 times: shapes via the meta device
            y = meta_model(spec)(torch.empty(*x_shape, device="meta"))
        else:
            with torch.no_grad():
                y = roadmap.build_model(spec).eval()(torch.randn(*x_shape))
        assert tuple(y.shape) == x_shape, (seed, variant, spec.provenance["steps"])
    assert drawn == set(list_transforms())  # every transform was drawn


@pytest.mark.parametrize(
    "name,params,message",
    [
        ("prune", {"depth": 3}, "prune.depth: must be an integer in [1, 2] (below the current depth 3), got 3"),
        ("prune", {"depth": "2"}, "prune.depth: must be an integer in [1, 2] (below the current depth 3), got '2'"),
        ("depth", {"levels": 2}, "depth.levels: a UNet++ (nested) spec is cut to a shallower depth with prune"),
        ("msiam", {}, "msiam cannot be applied here: aggregate: a UNet++ (nested) decoder keeps every node"),
        (
            "drop_skips",
            {"levels": [1]},
            "drop_skips cannot be applied here: skips[1].type: a UNet++ (nested) node fuses",
        ),
        ("attention", {}, "attention.targets: no nafblock or gama stage in this network"),
    ],
)
def test_transforms_that_do_not_fit_a_unetpp_refuse_it_in_one_line(name, params, message):
    assert_refused_in_one_line(roadmap.get_seed("unetpp", "w16"), name, params, message)


def test_prune_cuts_a_pruned_unetpp_further_and_replays():
    seed = roadmap.get_seed("unetpp", "w16")
    spec = apply_steps(
        seed,
        [
            {"transform": "pconv", "params": {"portion": 0.5}},
            {"transform": "prune", "params": {"depth": 2}},
            {"transform": "prune", "params": {"depth": 1}},
        ],
    )
    assert spec.built_levels == 1 and apply_steps(seed, spec.provenance["steps"]) == spec
    with pytest.raises(SpecError, match=r"prune.depth: nothing left to prune: the network is at depth 1 already"):
        apply_transform(spec, "prune", depth=1)  # nothing left to cut
