"""Blocks: shapes, parameter counts and the numerical identities of PConv / PDWConv."""

import pytest
import torch
from torch import nn

import blocks
from blocks.conv import PartialConv, create_spatial_conv


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_pconv_portion_one_is_a_full_conv():
    torch.manual_seed(0)
    pconv = PartialConv(8, 1.0, 3)
    full = nn.Conv2d(8, 8, 3, padding=1, bias=False)
    full.weight.data.copy_(pconv.conv.weight.data)
    x = torch.randn(2, 8, 12, 12)
    torch.testing.assert_close(pconv(x), full(x))


def test_pdwconv_portion_one_is_a_depthwise_conv():
    torch.manual_seed(0)
    pdw = PartialConv(8, 1.0, 3, depthwise=True)
    dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    dw.weight.data.copy_(pdw.conv.weight.data)
    x = torch.randn(2, 8, 12, 12)
    torch.testing.assert_close(pdw(x), dw(x))


@pytest.mark.parametrize("depthwise", [False, True])
def test_partial_conv_leaves_the_other_channels_untouched(depthwise):
    torch.manual_seed(0)
    conv = PartialConv(16, 0.25, 3, depthwise=depthwise)
    x = torch.randn(1, 16, 10, 10)
    y = conv(x)
    assert conv.conv_channels == 4
    torch.testing.assert_close(y[:, 4:], x[:, 4:], rtol=0, atol=0)
    assert not torch.allclose(y[:, :4], x[:, :4])
    ref = nn.functional.conv2d(x[:, :4], conv.conv.weight, padding=1, groups=4 if depthwise else 1)
    torch.testing.assert_close(y[:, :4], ref)


def test_partial_conv_params_follow_mofa_counts():
    # A full 3x3 conv on C/4 channels: (C/4)^2 * 9; depthwise: C/4 * 9; no bias.
    assert n_params(PartialConv(64, 0.25)) == 16 * 16 * 9
    assert n_params(PartialConv(64, 0.25, depthwise=True)) == 16 * 9
    assert n_params(PartialConv(64, 0.5, kernel=5)) == 32 * 32 * 25


def test_dw_threshold_makes_a_pconv_depthwise_where_it_is_reached():
    small = create_spatial_conv(32, 32, "pconv", portion=0.25, dw_threshold=16)  # d = 8 < 16: full
    large = create_spatial_conv(128, 128, "pconv", portion=0.25, dw_threshold=16)  # d = 32: depthwise
    assert small.conv.groups == 1 and large.conv.groups == 32


def test_nafblock_params_and_identity_at_init():
    c = 16
    block = blocks.NAFBlock(c)
    assert n_params(block) == 7 * c * c + 33 * c
    x = torch.randn(1, c, 8, 8)
    torch.testing.assert_close(block(x), x)  # beta and gamma start at zero


@pytest.mark.parametrize(
    "attention,kind,params",
    [
        ("sca", "SimplifiedChannelAttention", 7 * 16 * 16 + 33 * 16),
        ("gama", "GAMAAttention", 6 * 16 * 16 + 32 * 16 + 147),
        ("none", "Identity", 6 * 16 * 16 + 32 * 16),
    ],
)
def test_nafblock_attention_kinds(attention, kind, params):
    block = blocks.NAFBlock(16, attention=attention)
    assert type(block.attention).__name__ == kind and n_params(block) == params
    x = torch.randn(1, 16, 8, 8)
    torch.testing.assert_close(block(x), x)  # every kind starts as the identity (beta, gamma = 0)


def test_nafblock_refuses_an_unknown_attention():
    with pytest.raises(ValueError, match="unknown attention 'se'; expected one of sca, gama, none"):
        blocks.NAFBlock(16, attention="se")


def test_layernorm2d_normalises_over_channels_per_pixel():
    ln = blocks.LayerNorm2d(6)
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    y = ln(x)
    torch.testing.assert_close(y.mean(1), torch.zeros(2, 5, 7), atol=1e-5, rtol=0)
    ref = nn.functional.layer_norm(x.permute(0, 2, 3, 1), (6,), eps=1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)


def test_gama_attention_has_exactly_147_parameters_and_keeps_shape():
    for c in (4, 32):
        g = blocks.GAMAAttention()
        assert n_params(g) == 147
        x = torch.randn(2, c, 9, 11)
        assert g(x).shape == x.shape


def test_gama_attention_sees_the_whole_map():
    torch.manual_seed(0)
    g = blocks.GAMAAttention()
    x = torch.zeros(1, 4, 32, 32)
    x2 = x.clone()
    x2[0, 0, 31, 31] = 1.0  # the axis averages carry a change at the bottom row to the top row
    assert not torch.allclose(g(x)[0, 0, 0, 31], g(x2)[0, 0, 0, 31])


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: blocks.StridedConvDown(8, 16), (1, 16, 8, 8)),
        (lambda: blocks.SeparableStridedDown(8, 16), (1, 16, 8, 8)),
        (lambda: blocks.PoolConvDown(8, 16, {"kind": "pconv", "portion": 0.25, "pointwise": True}), (1, 16, 8, 8)),
        (lambda: blocks.PixelUnshuffleDown(8, 16), (1, 16, 8, 8)),
        (lambda: blocks.PMRIDEncoderBlock(8, 16, stride=2), (1, 16, 8, 8)),
        (lambda: blocks.PixelShuffleUp(8, 4), (1, 4, 32, 32)),
        (lambda: blocks.TransposedConvUp(8, 4), (1, 4, 32, 32)),
        (lambda: blocks.ConvInterpUp(8, 4, {"kind": "pconv", "portion": 0.25, "pointwise": True}), (1, 4, 32, 32)),
    ],
)
def test_samplers_change_resolution_and_width(make, shape):
    assert make()(torch.randn(1, 8, 16, 16)).shape == shape


def test_fusions():
    x, skip = torch.randn(1, 8, 6, 6), torch.randn(1, 4, 6, 6)
    assert blocks.ConcatFusion(8, 4)(x, skip).shape == x.shape
    assert blocks.ProjectAddFusion(8, 4)(x, skip).shape == x.shape
    torch.testing.assert_close(blocks.NoFusion()(x, skip), x)
    torch.testing.assert_close(blocks.AddFusion()(x, x), 2 * x)


def test_msiam_aggregates_nafnet_w32_skips_into_256_channels_at_one_eighth():
    widths, levels = [32, 64, 128, 256], [0, 1, 2, 3]
    msiam = blocks.MSIAM(levels, widths, [2, 4, 8, 32], target_level=3)
    maps = [torch.randn(1, w, 64 >> i, 64 >> i) for i, w in enumerate(widths)]
    out = msiam(maps)
    assert out.shape == (1, 256, 8, 8)
    assert out.numel() * 15 == sum(m.numel() for m in maps)  # 4*H*W vs 60*H*W


def test_iem_head_restores_a_level_and_grn_starts_as_identity():
    head = blocks.IEMHead(256, target_level=3, level=0, out_channels=32)
    assert head(torch.randn(1, 256, 8, 8)).shape == (1, 32, 64, 64)
    x = torch.randn(1, 8, 5, 5)
    torch.testing.assert_close(blocks.GRN(8)(x), x)
    assert blocks.ConvNeXtV2Block(8)(x).shape == x.shape


def test_impossible_conv_requests_are_refused():
    with pytest.raises(ValueError, match="cannot be strided"):
        create_spatial_conv(8, 8, "pconv", stride=2, portion=0.5)
    with pytest.raises(ValueError, match="depthwise conv needs in == out"):
        create_spatial_conv(8, 16, "depthwise")
    with pytest.raises(ValueError, match="unknown conv kind"):
        create_spatial_conv(8, 8, "fancy")


def test_upscale_head_is_a_conv_then_a_pixel_shuffle():
    torch.manual_seed(0)
    head = blocks.UpscaleHead(16, 3, 3, scale=3)
    x = torch.randn(2, 16, 5, 7)
    y = head(x)
    assert y.shape == (2, 3, 15, 21) and tuple(head.weight.shape) == (27, 16, 3, 3)
    conv = torch.nn.functional.conv2d(x, head.weight, head.bias, padding=1)
    # output channel c at offset (i, j) of each 3x3 cell is conv channel c*9 + i*3 + j
    assert torch.equal(y[:, 1, 2::3, 0::3], conv[:, 1 * 9 + 2 * 3 + 0])
    plain = blocks.UpscaleHead(16, 3, 5)
    assert [n for n, _ in plain.named_parameters()] == ["weight", "bias"] and plain(x).shape == (2, 3, 5, 7)


def test_upscale_image_is_bicubic_and_the_identity_at_scale_1():
    x = torch.rand(1, 3, 6, 5)
    assert blocks.upscale_image(x, 1) is x
    assert torch.equal(
        blocks.upscale_image(x, 2),
        torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False),
    )
