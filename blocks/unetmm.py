"""UNet-- skip aggregation (Yin et al., ACCV 2024): MSIAM on the encoder side, IEM on the decoder side.

MSIAM reduces each kept encoder map with a 1x1 conv, resizes it to one target level by pixel
(un)shuffle (which keeps the element count) and fuses the concatenation with a 1x1 conv, so a
single small map is kept instead of every skip. IEM resizes that map back to each decoder
level and restores the level's channels with an enhancement head (a ConvNeXt V2 block, then a
separable conv). The paper gives no code; the head's exact layout is our reading of it.
"""

from __future__ import annotations

import torch
from torch import nn

from blocks.conv import SeparableConv
from blocks.norm import LayerNorm2d


def resize_levels(x: torch.Tensor, from_level: int, to_level: int) -> torch.Tensor:
    """Move a map from level ``from_level`` to ``to_level`` (level i is at 1/2^i) by pixel (un)shuffle.

    Going deeper divides H, W by ``2^d`` and multiplies channels by ``4^d``; going shallower the
    reverse. The element count is unchanged.
    """
    if to_level > from_level:
        return nn.functional.pixel_unshuffle(x, 2 ** (to_level - from_level))
    if to_level < from_level:
        return nn.functional.pixel_shuffle(x, 2 ** (from_level - to_level))
    return x


def resized_channels(channels: int, from_level: int, to_level: int) -> float:
    """Channels after :func:`resize_levels` (a float: not integral means impossible)."""
    return channels * 4.0 ** (to_level - from_level)


class GRN(nn.Module):
    """Global response normalisation (ConvNeXt V2), channels-first: ``(B, C, H, W) -> same``.

    ``Gx = ||x||_2 over (H, W)``; ``Nx = Gx / (mean_C Gx + 1e-6)``; ``out = gamma * x * Nx + beta + x``
    with ``gamma``, ``beta`` initialised to zero (GRN starts as the identity).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.sqrt(x.pow(2).sum(dim=(2, 3), keepdim=True))
        nx = gx / (gx.mean(dim=1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    """ConvNeXt V2 block, channels-first: ``(B, C, H, W) -> (B, C, H, W)``.

    ``x + pw2(GRN(GELU(pw1(LN(dw7x7(x))))))`` with ``pw1: C -> 4C`` and ``pw2: 4C -> C`` as 1x1
    convs (the same maths as the reference's Linear layers on NHWC, without the permutes).
    """

    def __init__(self, channels: int, expansion: int = 4):
        super().__init__()
        hidden = channels * expansion
        self.dwconv = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = LayerNorm2d(channels)
        self.pwconv1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.GELU()
        self.grn = GRN(hidden)
        self.pwconv2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(self.dwconv(x))))))


class MSIAM(nn.Module):
    """Multi-scale information aggregation: many skip maps -> one map at ``target_level``.

    ``levels[k]`` is the level of the k-th input map, with ``channels[k]`` channels reduced to
    ``reduced[k]`` by a 1x1 conv, then resized to the target level. ``reduce(k, x)`` does that
    for one map (so the network can drop the full map right away); ``fuse(parts)`` concatenates
    the parts and applies the final 1x1 conv: ``(B, out_channels, H/2^t, W/2^t)``.
    """

    def __init__(self, levels: list[int], channels: list[int], reduced: list[int], target_level: int):
        super().__init__()
        self.levels, self.target_level = list(levels), target_level
        self.reducers = nn.ModuleList(nn.Conv2d(c, r, 1) for c, r in zip(channels, reduced, strict=False))
        self.out_channels = 0
        for level, r in zip(levels, reduced, strict=False):
            size = resized_channels(r, level, target_level)
            if size != int(size):
                raise ValueError(
                    f"level {level}: {r} reduced channels cannot be pixel-shuffled to level {target_level}"
                )
            self.out_channels += int(size)
        self.fuse_conv = nn.Conv2d(self.out_channels, self.out_channels, 1)

    def reduce(self, k: int, x: torch.Tensor) -> torch.Tensor:
        return resize_levels(self.reducers[k](x), self.levels[k], self.target_level)

    def fuse(self, parts: list[torch.Tensor]) -> torch.Tensor:
        return self.fuse_conv(torch.cat(parts, dim=1))

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        return self.fuse([self.reduce(k, x) for k, x in enumerate(maps)])


class IEMHead(nn.Module):
    """Information enhancement for one decoder level: aggregated map -> that level's skip.

    ``(B, Cagg, H/2^t, W/2^t) -> (B, out_channels, H/2^l, W/2^l)``: pixel (un)shuffle from the
    target level ``t`` to level ``l``, a ConvNeXt V2 block, then a separable 3x3 conv to
    ``out_channels``.
    """

    def __init__(self, agg_channels: int, target_level: int, level: int, out_channels: int):
        super().__init__()
        size = resized_channels(agg_channels, target_level, level)
        if size != int(size) or size < 1:
            raise ValueError(f"{agg_channels} aggregated channels cannot be resized to level {level}")
        self.target_level, self.level = target_level, level
        self.enhance = ConvNeXtV2Block(int(size))
        self.project = SeparableConv(int(size), out_channels, 3)

    def forward(self, aggregated: torch.Tensor) -> torch.Tensor:
        return self.project(self.enhance(resize_levels(aggregated, self.target_level, self.level)))
