"""UNet++ (the ``unetpp`` seed): dense fusions, the node grid, a hand-counted parameter total, and
pruning as a sub-network of the trained network (the same weights, the same output)."""

import pytest
import torch

import blocks
import roadmap
from roadmap.build import UNetPlusPlus
from roadmap.evaluation.training import model_loss, psnr_loss
from roadmap.spec import nested_nodes
from roadmap.transforms import apply_transform, carry_weights


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def seed():
    return roadmap.get_seed("unetpp", "w16")


@pytest.fixture(scope="module")
def trained_like(seed):
    """The whole unetpp/w16 with random weights (as if trained) and its state dict."""
    torch.manual_seed(3)
    model = roadmap.build_model(seed).eval()
    return model, model.state_dict()


def test_dense_fusions_take_every_earlier_node_of_the_level():
    x, skips = torch.randn(2, 16, 8, 8), [torch.randn(2, 16, 8, 8) for _ in range(3)]
    concat = blocks.DenseConcatFusion(16, [16, 16, 16])
    assert concat(x, skips).shape == x.shape
    assert n_params(concat) == (16 + 3 * 16) * 16 + 16  # one 1x1 over the concatenation, with bias
    torch.testing.assert_close(blocks.DenseAddFusion()(x, skips), x + skips[0] + skips[1] + skips[2])


def test_unetpp_w16_params_match_the_hand_count(seed):
    # widths w = 16, 32, 64 (levels 0..2), middle 128; a 3x3 conv a -> b with bias: 9ab + b.
    stem = 9 * 3 * 16 + 16  # 448
    backbone = sum(2 * (9 * w * w + w) for w in (16, 32, 64))  # encoder stages: 96,992
    backbone += sum(9 * a * b + b for a, b in ((16, 32), (32, 64), (64, 128)))  # pool + 3x3 down: 96,992
    backbone += 2 * (9 * 128 * 128 + 128)  # middle: 295,168
    below = {0: 32, 1: 64, 2: 128}

    def node(i, j):  # x[i, j]: 2x2 transposed conv from below, 1x1 over j + 1 maps, two 3x3 convs
        w = (16, 32, 64)[i]
        return (4 * below[i] * w + w) + ((j + 1) * w * w + w) + 2 * (9 * w * w + w)

    nodes = sum(node(i, j) for i in range(3) for j in range(1, 4 - i))  # 6 nodes: 196,032
    heads = 3 * (9 * 16 * 3 + 3)  # deep supervision: 1,305
    model = roadmap.build_model(seed)
    assert n_params(model) == stem + backbone + nodes + heads == 686_937
    pruned = roadmap.build_model(apply_transform(seed, "prune", depth=2))
    # depth 2: no down[2], middle or level-2 node; nodes x[0,1], x[0,2], x[1,1]; heads 1 and 2
    backbone2 = sum(2 * (9 * w * w + w) for w in (16, 32, 64)) + (9 * 16 * 32 + 32) + (9 * 32 * 64 + 64)
    assert n_params(pruned) == stem + backbone2 + node(0, 1) + node(0, 2) + node(1, 1) + 2 * 435 == 164_966


def test_the_node_grid_and_its_module_names(seed):
    assert nested_nodes(seed) == [(0, 1), (1, 1), (0, 2), (2, 1), (1, 2), (0, 3)]  # anti-diagonals
    model = roadmap.build_model(seed)
    assert isinstance(model, UNetPlusPlus)
    names = {n for n, _ in model.named_children()}
    assert names == {"stem", "encoder", "down", "middle", "up", "skips", "decoder", "head"}
    assert sorted(model.decoder[0]) == ["1", "2", "3"] and sorted(model.decoder[2]) == ["1"]
    assert sorted(model.head) == ["1", "2", "3"]


@pytest.mark.parametrize("hw", [(64, 64), (37, 50)])
def test_every_head_maps_the_input_shape(seed, trained_like, hw):
    model, _ = trained_like
    x = torch.randn(1, 3, *hw)
    with torch.no_grad():
        heads = model.forward_heads(x)
        out = model(x)
    assert sorted(heads) == [1, 2, 3] and all(h.shape == x.shape for h in heads.values())
    torch.testing.assert_close(out, heads[3], rtol=0, atol=0)  # inference: the deepest head


@pytest.mark.parametrize("depth", [1, 2])
def test_pruned_network_is_the_sub_network_of_the_trained_one(seed, trained_like, depth):
    model, state = trained_like
    spec = apply_transform(seed, "prune", depth=depth)
    pruned = roadmap.build_model(spec).eval()
    own = {k: v for k, v in state.items() if k in pruned.state_dict()}
    pruned.load_state_dict(own, strict=True)  # every surviving weight, by name
    carried = carry_weights(seed, state, spec.provenance["steps"])
    assert carried.keys() == own.keys() and all(torch.equal(carried[k], own[k]) for k in own)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), model.forward_heads(x)[depth], rtol=0, atol=0)
        assert sorted(pruned.forward_heads(x)) == list(range(1, depth + 1))


def test_deep_supervision_averages_the_loss_over_the_heads(seed, trained_like):
    torch.manual_seed(0)
    model = roadmap.build_model(seed)
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    loss = model_loss(model, x, y, psnr_loss)
    expected = sum(psnr_loss(out, y) for out in model.forward_heads(x).values()) / 3
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert all(model.head[d].weight.grad.abs().sum() > 0 for d in ("1", "2", "3"))  # every head learns
    plain = roadmap.build_model("unet")
    torch.testing.assert_close(model_loss(plain, x, y, psnr_loss), psnr_loss(plain(x), y))


def test_without_deep_supervision_only_the_last_node_has_a_head(seed):
    spec = seed.copy()
    spec.nested.deep_supervision = False
    model = roadmap.build_model(spec)
    assert sorted(model.head) == ["3"] and n_params(model) == 686_937 - 2 * 435
    with pytest.raises(roadmap.errors.SpecError, match=r"prune.depth: prunes a deep-supervised UNet"):
        apply_transform(spec, "prune", depth=2)
