"""Seeds: parameter and MAC counts against the reference tables; build, forward, round-trip."""

import json

import pytest
import torch

import blocks
import roadmap
from roadmap.analysis import analyze
from roadmap.cli import main
from roadmap.seeds import list_seeds
from roadmap.transforms import apply_transform


def test_nafnet_w16_matches_mofa_baseline_exactly():
    a = analyze(roadmap.get_seed("nafnet", "w16"))
    assert a.params_conv_only == 286_579  # MOFA's 286.6K, counted like thop
    assert a.params == 288_691
    assert abs(a.macs / 1.03e9 - 1) < 0.03
    assert a.macs == 1_031_039_488  # the independent count: 1.031 GMACs


def test_nafnet_w32_sidd_config():
    a = analyze(roadmap.get_seed("nafnet", "w32"))
    assert abs(a.params / 29.16e6 - 1) < 0.005
    assert abs(a.macs / 16.2e9 - 1) < 0.03
    assert a.skip_memory_elements_peak == 60 * 256 * 256  # 3.75 MB at 8 bit
    assert a.skip_memory_elements_peak / 2**20 == 3.75


def test_nafnet_w64_params():
    assert abs(analyze(roadmap.get_seed("nafnet", "w64")).params / 115.98e6 - 1) < 0.005


def test_pmrid_params_three_and_four_channels():
    assert abs(analyze(roadmap.get_seed("pmrid", "rgb")).params / 1_031_619 - 1) < 0.005
    assert roadmap.get_seed("pmrid", "rgb").in_channels == 3
    assert analyze(roadmap.get_seed("pmrid", "raw"), (64, 64)).params == 1_031_908


def test_pmrid_encoder_blocks_are_2_2_4_4():
    spec = roadmap.get_seed("pmrid")
    # each stage: the stride-2 down-sampling block + its stride-1 blocks; enc4's go to the middle
    per_stage = [1 + spec.encoder[i].depth for i in (1, 2, 3)] + [1 + spec.middle[0].depth]
    assert per_stage == [2, 2, 4, 4]


ALL = [(s, v) for s, vs in list_seeds().items() for v in vs]


@pytest.mark.parametrize("seed,variant", ALL)
def test_every_seed_builds_runs_and_round_trips(seed, variant):
    spec = roadmap.get_seed(seed, variant)
    assert roadmap.load_spec(spec.to_yaml()) == spec
    if variant == "w64" or seed == "gama":
        return  # 116M parameters: the round trip is enough; gama builds and runs in test_gama_ir_variants
    model = roadmap.build_model(spec).eval()
    x = torch.randn(1, spec.in_channels, 64, 64)
    with torch.no_grad():
        assert model(x).shape == x.shape


@pytest.mark.parametrize("variant,blocks_total,width", [("s", 18, 42), ("l", 19, 80)])
def test_gama_ir_variants(variant, blocks_total, width):
    spec = roadmap.get_seed("gama", variant)  # read from roadmap/seeds/gama-<variant>.yaml
    assert roadmap.load_spec(spec.to_yaml()) == spec
    stages = spec.encoder + spec.middle + spec.decoder
    assert sum(s.depth for s in stages) == blocks_total and spec.encoder[0].width == width
    assert {s.block for s in stages} == {"gama"}
    assert {d.type for d in spec.down} == {"pixel_unshuffle"} and {u.type for u in spec.up} == {"pixel_shuffle"}
    assert {f.type for f in spec.skips} == {"add"}
    model = roadmap.build_model(spec).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert model(x).shape == (1, 3, 64, 64)
    nafblocks = [m for m in model.modules() if isinstance(m, blocks.NAFBlock)]
    assert len(nafblocks) == blocks_total
    for block in nafblocks:  # GAMA-IR: 3 single-channel 7x7 convs, 147 parameters, whatever the width
        assert isinstance(block.attention, blocks.GAMAAttention)
        assert sum(p.numel() for p in block.attention.parameters()) == 147


def test_gama_s_is_the_default_variant_and_show_reports_its_costs(capsys):
    assert roadmap.get_seed("gama") == roadmap.get_seed("gama", "s")
    assert main(["show", "gama", "--variant", "s", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "gama/s"
    for key in ("params", "macs", "skip_memory_elements_peak", "peak_activation_elements", "peak_activation_bytes"):
        assert data[key] > 0, key
    assert data["params"] == 21_744_201 and data["macs"] == 14_053_347_840  # at 1x3x256x256


def test_odd_input_sizes_are_padded_and_cropped_back():
    model = roadmap.build_model("nafnet", "w16").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 37, 50)).shape == (1, 3, 37, 50)


def test_same_torch_seed_gives_identical_weights():
    spec = roadmap.get_seed("pmrid")
    torch.manual_seed(3)
    a = roadmap.build_model(spec).state_dict()
    torch.manual_seed(3)
    b = roadmap.build_model(spec).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_unknown_seed_and_variant_are_named():
    with pytest.raises(roadmap.RoadmapError, match="unknown seed 'resnet'"):
        roadmap.get_seed("resnet")
    with pytest.raises(roadmap.RoadmapError, match="unknown variant 'w8' of seed 'nafnet'"):
        roadmap.get_seed("nafnet", "w8")


def test_unetpp_keeps_every_node_alive_so_its_memory_exceeds_the_unets():
    unet, upp = analyze(roadmap.get_seed("unet", "w16")), analyze(roadmap.get_seed("unetpp", "w16"))
    assert unet.skip_memory_elements_peak == (16 + 32 / 4 + 64 / 16) * 256 * 256  # one skip per level
    # before the last anti-diagonal: x[0,0..2] (3 x 16), x[1,0..1] (2 x 32 / 4), x[2,0] (64 / 16)
    assert upp.skip_memory_elements_peak == (3 * 16 + 2 * 8 + 4) * 256 * 256
    assert upp.skip_memory_timeline[-1] == ("x[0,3]", 0)
    assert upp.peak_activation_bytes > unet.peak_activation_bytes
    assert upp.params == 686_937 and upp.macs > unet.macs
    assert sum(upp.stages.values()) == upp.macs  # each node's modules count to their level's stage
    assert upp.stages["decoder[0]"] == 3 * unet.stages["decoder[0]"]  # three nodes at level 0
    pruned = analyze(apply_transform(roadmap.get_seed("unetpp", "w16"), "prune", depth=2))
    assert pruned.params == 164_966 and pruned.macs < upp.macs and "middle[0]" not in pruned.stages
    assert pruned.skip_memory_elements_peak == (2 * 16 + 8) * 256 * 256
    assert pruned.peak_activation_bytes < upp.peak_activation_bytes
