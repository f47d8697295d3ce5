"""Weight inheritance: carried state dicts load strictly, slices equal the seed's weights, and the
rules documented as function-preserving are."""

import pytest
import torch

import roadmap
from roadmap.roadmaps import get_roadmap
from roadmap.spec import partial_channels
from roadmap.transforms import CARRY_RULES, apply_steps, carry_weights, list_transforms
from roadmap.transforms.weights import conv_sites, read_conv

PCONV = {"transform": "pconv", "params": {"portion": 0.25}}
PRUNE2 = {"transform": "prune", "params": {"depth": 2}}
# A roadmap for the vanilla-conv U-Net (MOFA has no settings for it) through every transform.
UNET_STEPS = [
    PCONV,
    {"transform": "more_params", "params": {"targets": ["level[1]", "down[0]"], "portion": 0.5}},
    {"transform": "decouple", "params": {"direction": "both", "levels": [0, 2]}},
    {"transform": "pdwconv", "params": {"threshold": 8}},
    {"transform": "depth", "params": {"levels": 2}},
    {"transform": "msiam", "params": {}},
    {"transform": "drop_skips", "params": {"levels": [0]}},
]


def seed_state(seed, variant, randomise=True):
    """A seed spec and a state dict with every parameter random (NAFBlock's beta/gamma start at
    zero, which would hide errors in the carried weights). Weights get ``0.5 / sqrt(fan_in)``
    standard deviations so the outputs stay near 1 and an absolute tolerance means something."""
    spec = roadmap.get_seed(seed, variant)
    torch.manual_seed(7)
    model = roadmap.build_model(spec)
    if randomise:
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn_like(p) * (0.5 / p[0].numel() ** 0.5 if p.dim() > 1 else 0.3))
    return spec, model.state_dict()


def loaded(spec, state):
    model = roadmap.build_model(spec).eval()
    model.load_state_dict(state, strict=True)
    return model


def outputs(spec, state, x):
    with torch.no_grad():
        return loaded(spec, state)(x)


def roadmap_steps(seed, variant, name):
    if name == "unet-steps":
        return UNET_STEPS
    if isinstance(name, list):
        return name
    return get_roadmap(name, roadmap.get_seed(seed, variant))


def test_every_transform_declares_a_carry_rule():
    assert sorted(CARRY_RULES) == list_transforms()


@pytest.mark.parametrize("seed,variant", [("nafnet", "w16"), ("pmrid", "raw"), ("unet", "w16"), ("unetpp", "w16")])
def test_conv_sites_name_the_modules_of_the_built_network(seed, variant):
    spec = roadmap.get_seed(seed, variant)
    steps = [PCONV, {"transform": "decouple", "params": {}}, {"transform": "pdwconv", "params": {"threshold": 8}}]
    specs = [spec, apply_steps(spec, steps[:1]), apply_steps(spec, steps)]
    if seed == "unetpp":  # a pruned UNet++ builds (and has conv sites for) its first levels only
        specs.append(apply_steps(specs[-1], [PRUNE2]))
    for s in specs:
        with torch.device("meta"):
            state = roadmap.build_model(s).state_dict()
        sites = conv_sites(s)
        assert sites
        for site in sites:
            assert any(k.startswith(site.prefix + ".") for k in state), site.prefix
            read_conv(site, state)  # finds every tensor it needs


def test_empty_step_list_returns_the_seed_state_unchanged():
    spec, state = seed_state("nafnet", "w16")
    out = carry_weights(spec, state, [])
    assert list(out) == list(state) and all(torch.equal(out[k], state[k]) for k in state)


@pytest.mark.parametrize(
    "seed,variant,steps",
    [
        ("nafnet", "w16", "mofa"),
        ("pmrid", "rgb", "mofa"),
        ("nafnet", "w16", "unet--"),
        ("unet", "w16", "unet--"),
        ("unet", "w16", "unet-steps"),
        ("nafnet", "w16", [{"transform": "depth", "params": {"levels": 2}}]),
        ("pmrid", "rgb", [{"transform": "depth", "params": {"levels": 3}}]),
        ("nafnet", "w16", [{"transform": "drop_skips", "params": {"levels": [0, 2]}}]),
        ("pmrid", "rgb", [{"transform": "drop_skips", "params": {"levels": [1]}}]),
        ("nafnet", "w16", [{"transform": "decouple", "params": {"direction": "both"}}]),
        ("pmrid", "rgb", [{"transform": "decouple", "params": {"direction": "both"}}]),
        (
            "nafnet",
            "w16",
            [
                {"transform": "attention", "params": {"attention": "gama"}},
                {"transform": "attention", "params": {"attention": "none", "overrides": {"middle": "sca"}}},
            ],
        ),
        (
            "nafnet",
            "w16",
            [
                {"transform": "width", "params": {"multiplier": 0.5}},
                {"transform": "width", "params": {"multiplier": 1.5, "overrides": {"level[0]": 1.0}}},
            ],
        ),
        ("nafnet", "w16", [PCONV, {"transform": "width", "params": {"multiplier": 1.5}}]),
        ("pmrid", "rgb", [{"transform": "width", "params": {"multiplier": 0.5}}]),
        ("unet", "w16", [{"transform": "msiam", "params": {}}, {"transform": "width", "params": {"multiplier": 2.0}}]),
        ("nafnet", "w16", [{"transform": "blocks", "params": {"depth": {"level[1]": 3, "middle": 0}}}]),
        ("pmrid", "rgb", [{"transform": "blocks", "params": {"depth": {"encoder[3]": 1, "decoder[2]": 2}}}]),
        ("unet", "w16", [{"transform": "blocks", "params": {"depth": {"middle[0]": 4}}}]),
        (
            "unetpp",
            "w16",
            [
                PCONV,
                {"transform": "more_params", "params": {"rule": "cheap"}},
                {"transform": "decouple", "params": {"direction": "both"}},
                {"transform": "pdwconv", "params": {"threshold": 8}},
                PRUNE2,
                {"transform": "blocks", "params": {"depth": {"level[0]": 3}}},
                {"transform": "prune", "params": {"depth": 1}},
            ],
        ),
        (
            "unetpp",
            "w16",
            [{"transform": "reparam", "params": {}}, PRUNE2, {"transform": "width", "params": {"multiplier": 0.5}}],
        ),
        (
            "gama",
            "s",
            [
                {"transform": "width", "params": {"multiplier": 0.5}},
                {"transform": "attention", "params": {"attention": "sca", "targets": ["level[0]"]}},
                {"transform": "blocks", "params": {"depth": {"middle": 2}}},
            ],
        ),
    ],
)
def test_carried_state_loads_strictly_after_every_step(seed, variant, steps):
    spec, state = seed_state(seed, variant, randomise=False)
    for step in roadmap_steps(seed, variant, steps):
        state = carry_weights(spec, state, [step])
        spec = apply_steps(spec, [step])
        expected = roadmap.build_model(spec).state_dict()
        assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in expected.items()}, step
        loaded(spec, state)


def test_pconv_of_a_depthwise_conv_is_its_diagonal_embedding():
    spec, state = seed_state("nafnet", "w16")
    out = carry_weights(spec, state, [PCONV])
    dw = state["encoder.1.0.conv2.weight"]  # (64, 1, 3, 3): 2C channels of a width-32 block
    d = partial_channels(64, 0.25)
    expected = torch.zeros(d, d, 3, 3)
    for c in range(d):
        expected[c, c] = dw[c, 0]
    assert torch.equal(out["encoder.1.0.conv2.conv.weight"], expected)


def test_pconv_of_a_vanilla_conv_is_its_top_left_slice():
    spec, state = seed_state("unet", "w16")
    out = carry_weights(spec, state, [PCONV])
    w = state["encoder.1.1.conv.weight"]  # (32, 32, 3, 3)
    d = partial_channels(32, 0.25)
    assert torch.equal(out["encoder.1.1.conv.conv.weight"], w[:d, :d])


def test_pconv_of_a_separable_conv_keeps_its_pointwise_and_folds_pmrid_biases():
    spec, state = seed_state("pmrid", "rgb")
    out = carry_weights(spec, state, [PCONV])
    d = partial_channels(64, 0.25)  # decoder[3]'s conv1: a separable 3x3 on 64 channels
    dw = state["decoder.3.0.conv1.0.weight"]
    assert torch.equal(out["decoder.3.0.conv1.0.conv.weight"].diagonal(dim1=0, dim2=1).permute(2, 0, 1), dw[:d, 0])
    assert torch.equal(out["decoder.3.0.conv1.1.weight"], state["decoder.3.0.conv1.1.weight"])
    # The stride-2 block's conv2 loses its bias to its proj branch: both add up before the ReLU.
    assert "down.1.conv2.1.bias" not in out
    torch.testing.assert_close(out["down.1.proj.1.bias"], state["down.1.proj.1.bias"] + state["down.1.conv2.1.bias"])


@pytest.mark.parametrize("seed,variant", [("nafnet", "w16"), ("pmrid", "rgb"), ("unet", "w16"), ("unetpp", "w16")])
def test_more_params_after_pconv_is_function_preserving(seed, variant):
    spec, state = seed_state(seed, variant)
    steps = get_roadmap("mofa", spec)[1:3] if seed not in ("unet", "unetpp") else UNET_STEPS[1:2]
    spec = apply_steps(spec, [PCONV])
    state = carry_weights(roadmap.get_seed(seed, variant), state, [PCONV])
    x = torch.randn(1, 3, 64, 64)
    before = outputs(spec, state, x)
    assert (before - x).abs().mean() > 0.1  # the network does something a wrong carry would change
    for step in steps:
        state = carry_weights(spec, state, [step])
        spec = apply_steps(spec, [step])
        torch.testing.assert_close(outputs(spec, state, x), before, atol=1e-5, rtol=0)


def test_pdwconv_after_pconv_of_depthwise_convs_is_function_preserving():
    # The PConv of a depthwise conv is diagonal (and more_params adds deltas on the diagonal),
    # so taking the diagonal back loses nothing.
    spec, state = seed_state("nafnet", "w16")
    steps = get_roadmap("mofa", spec)[:3]
    state = carry_weights(spec, state, steps)
    spec = apply_steps(spec, steps)
    x = torch.randn(1, 3, 64, 64)
    step = {"transform": "pdwconv", "params": {"threshold": 16}}
    after = apply_steps(spec, [step])
    assert "encoder.2.0.conv2.conv.weight" in state and after != spec
    torch.testing.assert_close(
        outputs(after, carry_weights(spec, state, [step]), x), outputs(spec, state, x), atol=1e-5, rtol=0
    )


def test_decoupled_down_sampler_matches_the_strided_conv_on_2x2_constant_inputs():
    spec, state = seed_state("nafnet", "w16")
    step = {"transform": "decouple", "params": {"direction": "down", "levels": [0]}}
    old, new = loaded(spec, state), loaded(apply_steps(spec, [step]), carry_weights(spec, state, [step]))
    x = torch.nn.functional.interpolate(torch.randn(1, 16, 8, 8), scale_factor=2, mode="nearest")
    with torch.no_grad():
        expected = old.down[0](x) - state["down.0.0.bias"].view(1, -1, 1, 1)  # the bias is dropped
        torch.testing.assert_close(new.down[0](x), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "seed,variant,step",
    [
        ("nafnet", "w16", {"transform": "drop_skips", "params": {"levels": [0, 2]}}),
        ("unet", "w16", {"transform": "drop_skips", "params": {"levels": [1]}}),
        ("pmrid", "rgb", {"transform": "drop_skips", "params": {"levels": [0]}}),
        ("nafnet", "w16", {"transform": "msiam", "params": {}}),
        ("unet", "w16", {"transform": "msiam", "params": {}}),
    ],
)
def test_skip_transforms_keep_every_pre_existing_weight(seed, variant, step):
    spec, state = seed_state(seed, variant)
    out = carry_weights(spec, state, [step])
    kept = [k for k in state if k in out]
    assert all(torch.equal(out[k], state[k]) for k in kept)
    removed = set(state) - set(out)
    assert all(k.startswith("skips.") for k in removed)


def test_msiam_modules_start_fresh():
    spec, state = seed_state("nafnet", "w16")
    step = {"transform": "msiam", "params": {}}
    after = apply_steps(spec, [step])
    torch.manual_seed(0)
    fresh = roadmap.build_model(after).state_dict()
    out = carry_weights(spec, state, [step])
    new = [k for k in out if k.startswith(("msiam.", "iem."))]
    assert new and all(torch.equal(out[k], fresh[k]) for k in new)


def test_depth_moves_encoder_2_into_the_middle():
    spec, state = seed_state("nafnet", "w16")
    out = carry_weights(spec, state, [{"transform": "depth", "params": {"levels": 2}}])
    middle = [k for k in out if k.startswith("middle.")]
    assert middle and all(torch.equal(out[k], state["encoder.2." + k[len("middle.0.") :]]) for k in middle)
    for k in ("encoder.1.0.conv1.weight", "down.1.0.weight", "up.1.0.weight", "decoder.1.0.conv4.weight"):
        assert torch.equal(out[k], state[k])


def test_a_state_of_another_network_is_refused():
    spec, _ = seed_state("nafnet", "w16")
    _, other = seed_state("unet", "w16")
    with pytest.raises(ValueError, match="seed_state: state dict does not match"):
        carry_weights(spec, other, [PCONV])


def test_attention_keeps_every_other_weight_and_the_new_attention_starts_fresh():
    spec, state = seed_state("nafnet", "w16")
    step = {"transform": "attention", "params": {"attention": "gama", "targets": ["level[1]"]}}
    after = apply_steps(spec, [step])
    out = carry_weights(spec, state, [step])
    loaded(after, out)
    assert all(torch.equal(out[k], state[k]) for k in out if k in state)
    assert not any(k.startswith(("encoder.1.0.attention.", "decoder.1.0.attention.")) for k in state if k in out)
    torch.manual_seed(0)
    fresh = roadmap.build_model(after).state_dict()
    new = [k for k in out if ".attention.conv_" in k]
    assert len(new) == 6 and all(torch.equal(out[k], fresh[k]) for k in new)  # 3 convs x 2 blocks
    assert "encoder.0.0.attention.conv.weight" in out  # level 0 keeps its SCA


def test_adding_nafblocks_is_function_preserving_and_removing_keeps_the_first():
    spec, state = seed_state("nafnet", "w16")
    x = torch.randn(1, 3, 64, 64)
    grow = {"transform": "blocks", "params": {"depth": {"encoder[1]": 3, "middle": 2}}}
    grown = apply_steps(spec, [grow])
    grown_state = carry_weights(spec, state, [grow])
    torch.testing.assert_close(outputs(grown, grown_state, x), outputs(spec, state, x), atol=1e-5, rtol=0)
    assert torch.equal(grown_state["encoder.1.0.conv1.weight"], state["encoder.1.0.conv1.weight"])
    assert not grown_state["encoder.1.2.beta"].any()  # the new blocks are identities
    shrink = {"transform": "blocks", "params": {"depth": {"encoder[1]": 1, "middle[0]": 1}}}
    back = carry_weights(grown, grown_state, [shrink])
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)


def test_width_takes_the_leading_slice_of_every_tensor():
    spec, state = seed_state("nafnet", "w16")
    narrow = {"transform": "width", "params": {"multiplier": 0.5}}  # 16, 32, 64 / 128 -> 8, 16, 32 / 64
    out = carry_weights(spec, state, [narrow])
    loaded(apply_steps(spec, [narrow]), out)
    assert torch.equal(out["encoder.1.0.conv1.weight"], state["encoder.1.0.conv1.weight"][:32, :16])
    assert torch.equal(out["stem.conv.weight"], state["stem.conv.weight"][:8])
    assert torch.equal(out["head.weight"], state["head.weight"][:, :8])
    wide = {"transform": "width", "params": {"multiplier": 1.5}}  # -> 24, 48, 96 / 192
    torch.manual_seed(0)
    fresh = roadmap.build_model(apply_steps(spec, [wide])).state_dict()
    out = carry_weights(spec, state, [wide])
    w = out["middle.0.0.conv4.weight"]  # (384, 192, 1, 1), was (256, 128, 1, 1)
    assert torch.equal(w[:256, :128], state["middle.0.0.conv4.weight"])
    assert torch.equal(w[256:], fresh["middle.0.0.conv4.weight"][256:])
