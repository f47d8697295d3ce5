"""PMRID blocks (Wang et al., "Practical Deep Raw Image Denoising on Mobile Devices", ECCV 2020).

Structure follows MegEngine/PMRID ``models/net_torch.py`` (see the reference notes): every
spatial conv is depthwise-separable (depthwise without bias, pointwise with bias).
"""

from __future__ import annotations

import torch
from torch import nn

from blocks.conv import SeparableConv, create_spatial_conv

_SEPARABLE_5 = {"kind": "separable", "kernel": 5}
_SEPARABLE_3 = {"kind": "separable", "kernel": 3}


class PMRIDEncoderBlock(nn.Module):
    """PMRID encoder block: ``(B, Cin, H, W) -> (B, Cout, H/s, W/s)``.

    ``out = ReLU(conv2(ReLU(conv1(x))) + proj(x))`` with ``mid = Cout / 4``; conv1 and conv2 are
    separable 5x5, proj is the identity (``s == 1`` and ``Cin == Cout``) or a separable 3x3
    with stride ``s``. ``conv`` configures the stride-1 spatial convs (conv2 always, conv1 when
    ``s == 1``); strided convs stay separable, as in MOFA's PMRID.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, conv: dict | None = None):
        super().__init__()
        conv = dict(conv or _SEPARABLE_5)
        mid = out_ch // 4
        strided = dict(_SEPARABLE_5, kernel=conv.get("kernel", 5))
        self.conv1 = create_spatial_conv(in_ch, mid, stride=stride, **(conv if stride == 1 else strided))
        self.conv2 = create_spatial_conv(mid, out_ch, **conv)
        if stride == 1 and in_ch == out_ch:
            self.proj: nn.Module = nn.Identity()
        else:
            self.proj = SeparableConv(in_ch, out_ch, 3, stride)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.act(self.conv1(x))) + self.proj(x))


class PMRIDDecoderBlock(nn.Module):
    """PMRID decoder block: ``(B, C, H, W) -> (B, C, H, W)``, ``x + conv2(ReLU(conv1(x)))``.

    Both convs are separable 3x3 by default (``conv`` overrides); no ReLU after the addition.
    """

    def __init__(self, channels: int, conv: dict | None = None):
        super().__init__()
        conv = dict(conv or _SEPARABLE_3)
        self.conv1 = create_spatial_conv(channels, channels, **conv)
        self.conv2 = create_spatial_conv(channels, channels, **conv)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))
