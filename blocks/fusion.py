"""Skip fusions: merge the up-sampled decoder map ``x`` with the kept encoder map ``skip``.

All take ``forward(x, skip)`` with ``x: (B, Cdec, H, W)``, ``skip: (B, Cskip, H, W)`` and
return ``(B, Cdec, H, W)``; the dense fusions of UNet++ take ``forward(x, skips)``, a list of
the level's earlier nodes.
"""

from __future__ import annotations

import torch
from torch import nn

from blocks.conv import create_spatial_conv


class AddFusion(nn.Module):
    """``x + skip`` (NAFNet, GAMA-IR); needs ``Cskip == Cdec``."""

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return x + skip


class ConcatFusion(nn.Module):
    """Concatenate then 1x1 conv ``Cdec + Cskip -> Cdec`` (classic U-Net)."""

    def __init__(self, dec_ch: int, skip_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(dec_ch + skip_ch, dec_ch, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat((x, skip), dim=1))


class ProjectAddFusion(nn.Module):
    """PMRID: ``x + ReLU(conv(skip))``, the conv mapping ``Cskip -> Cdec`` (separable 3x3 default)."""

    def __init__(self, dec_ch: int, skip_ch: int, conv: dict | None = None):
        super().__init__()
        self.conv = create_spatial_conv(skip_ch, dec_ch, **dict(conv or {"kind": "separable", "kernel": 3}))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.conv(skip))


class NoFusion(nn.Module):
    """No skip connection at this level: returns ``x`` unchanged."""

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        return x


class DenseConcatFusion(nn.Module):
    """UNet++'s dense skip: concatenate ``x`` with every earlier node of its level, then a 1x1 conv
    to ``Cdec`` (the classic U-Net's concat fusion, generalised to several skips).

    ``forward(x, skips)``: ``x: (B, Cdec, H, W)``, ``skips``: the level's earlier nodes, each
    ``(B, C_k, H, W)`` with ``C_k = skip_chs[k]`` -> ``(B, Cdec, H, W)``.
    """

    def __init__(self, dec_ch: int, skip_chs: list[int]):
        super().__init__()
        self.conv = nn.Conv2d(dec_ch + sum(skip_chs), dec_ch, 1)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        return self.conv(torch.cat((x, *skips), dim=1))


class DenseAddFusion(nn.Module):
    """UNet++'s dense skip with additive fusion: ``x + sum(skips)`` (every map has ``Cdec``
    channels): ``(B, Cdec, H, W)`` and a list of ``(B, Cdec, H, W)`` -> ``(B, Cdec, H, W)``."""

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for skip in skips:
            x = x + skip
        return x
