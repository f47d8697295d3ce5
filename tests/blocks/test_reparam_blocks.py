"""FMEN re-parameterisation blocks: each folds into one conv computing the same function,
border pixels included (what the bias-padding trick is for)."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from blocks import ERB, RRRB, SeparableConv, SeparableRRRB, create_spatial_conv, fold_reparam, has_reparam

X_SHAPE = (1, 3, 33, 47)  # odd sizes: the borders and an uneven grid are covered


def randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights with large biases (the expand bias is what the padding trick pads with)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            std = 0.5 if p.dim() == 1 else 1.0 / p[0].numel() ** 0.5
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return module.eval()


def max_diff(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((a(x) - b(x)).abs().max())


@pytest.mark.parametrize(
    "in_ch,out_ch,kernel,groups,bias",
    [
        (3, 3, 3, 1, True),  # FMEN's RRRB: square, both identities
        (3, 16, 3, 1, True),  # widening: no outer identity
        (3, 2, 5, 1, True),  # narrowing, 5x5 (pad 2 with the bias)
        (3, 3, 3, 3, True),  # depthwise RRRB
        (3, 3, 3, 1, False),  # bias-free: folds into a bias-free conv
    ],
)
def test_rrrb_folds_into_one_conv_with_the_same_output_border_included(in_ch, out_ch, kernel, groups, bias):
    block = randomise(RRRB(in_ch, out_ch, kernel, groups=groups, bias=bias))
    conv = block.fold()
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (kernel, kernel) and conv.groups == groups
    assert (conv.bias is not None) == bias and conv.padding == (kernel // 2, kernel // 2)
    x = torch.randn(X_SHAPE, generator=torch.Generator().manual_seed(1))
    assert max_diff(block, conv, x) <= 1e-5


def test_the_border_needs_the_bias_padding():
    """Padding the expanded map with zeros (not with the expand bias) would break the fold on
    the border pixels only: the test above would catch a missing trick."""
    block = randomise(RRRB(3, 3))
    x = torch.randn(X_SHAPE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        e = block.expand(x)
        naive = block.reduce(block.fea(F.pad(e, (1, 1, 1, 1))) + e) + x
        err = (naive - block.fold()(x)).abs()
    assert float(err[..., 1:-1, 1:-1].max()) <= 1e-5 and float(err.max()) > 1e-2


def test_separable_rrrb_folds_into_a_separable_conv_with_the_bias_in_the_pointwise():
    block = randomise(SeparableRRRB(3, 8, 5))
    conv = block.fold()
    assert isinstance(conv, SeparableConv) and conv[0].bias is None
    assert {k: v.shape for k, v in conv.state_dict().items()} == {
        k: v.shape for k, v in SeparableConv(3, 8, 5).state_dict().items()
    }
    x = torch.randn(X_SHAPE, generator=torch.Generator().manual_seed(2))
    assert max_diff(block, conv, x) <= 1e-5


def test_erb_folds_into_conv_lrelu_conv():
    block = randomise(ERB(3))
    folded = block.fold()
    assert [type(m).__name__ for m in folded] == ["Conv2d", "LeakyReLU", "Conv2d"]
    x = torch.randn(X_SHAPE, generator=torch.Generator().manual_seed(3))
    assert max_diff(block, folded, x) <= 1e-5


def test_fold_reparam_copies_and_leaves_plain_modules_alone():
    net = randomise(
        nn.Sequential(
            create_spatial_conv(3, 8, "vanilla", reparam=True),
            nn.ReLU(),
            create_spatial_conv(8, 8, "depthwise", reparam=True),
            create_spatial_conv(8, 3, "separable", reparam=True),
        )
    )
    folded = fold_reparam(net)
    assert has_reparam(net) and not has_reparam(folded)  # the input is not modified
    plain = nn.Sequential(
        create_spatial_conv(3, 8, "vanilla"),
        nn.ReLU(),
        create_spatial_conv(8, 8, "depthwise"),
        create_spatial_conv(8, 3, "separable"),
    )
    assert {k: v.shape for k, v in folded.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
    x = torch.randn(X_SHAPE, generator=torch.Generator().manual_seed(4))
    assert max_diff(net, folded, x) <= 1e-5
    assert fold_reparam(plain) is plain


def test_reparam_conv_refuses_partial_and_strided_convs():
    with pytest.raises(ValueError, match="only vanilla, depthwise and separable"):
        create_spatial_conv(8, 8, "pconv", portion=0.5, reparam=True)
    with pytest.raises(ValueError, match="cannot be strided"):
        create_spatial_conv(8, 8, "vanilla", stride=2, reparam=True)


def test_every_branch_of_the_training_form_gets_a_gradient():
    block = RRRB(3, 3)
    block(torch.randn(X_SHAPE)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in block.parameters())
