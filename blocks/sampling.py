"""Down-samplers (halve H and W) and up-samplers (double H and W) between U-Net levels."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from blocks.conv import create_spatial_conv


class StridedConvDown(nn.Sequential):
    """k x k stride-2 conv with bias (NAFNet: k=2): ``(B, Cin, H, W) -> (B, Cout, H/2, W/2)``."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 2):
        super().__init__(nn.Conv2d(in_ch, out_ch, kernel, stride=2, padding=(kernel - 1) // 2))


class SeparableStridedDown(nn.Sequential):
    """Depthwise k x k stride 2 (no bias) then 1x1: ``(B, Cin, H, W) -> (B, Cout, H/2, W/2)``."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3):
        super().__init__(
            nn.Conv2d(in_ch, in_ch, kernel, stride=2, padding=kernel // 2, groups=in_ch, bias=False),
            nn.Conv2d(in_ch, out_ch, 1),
        )


class PoolConvDown(nn.Sequential):
    """Decoupled down-sampling (MOFA 3.5): 2x2 average pool, then a stride-1 conv.

    ``(B, Cin, H, W) -> (B, Cout, H/2, W/2)``; ``conv`` configures the conv (must map
    ``Cin -> Cout``, e.g. a PConv followed by a pointwise 1x1).
    """

    def __init__(self, in_ch: int, out_ch: int, conv: dict):
        super().__init__(nn.AvgPool2d(2), create_spatial_conv(in_ch, out_ch, **conv))


class PixelUnshuffleDown(nn.Sequential):
    """GAMA-style: 1x1 conv ``Cin -> Cout/4`` then pixel unshuffle: ``-> (B, Cout, H/2, W/2)``."""

    def __init__(self, in_ch: int, out_ch: int):
        if out_ch % 4:
            raise ValueError(f"pixel_unshuffle needs output channels divisible by 4, got {out_ch}")
        super().__init__(nn.Conv2d(in_ch, out_ch // 4, 1, bias=False), nn.PixelUnshuffle(2))


class PixelShuffleUp(nn.Sequential):
    """NAFNet: 1x1 conv ``Cin -> 4 Cout`` (no bias) then pixel shuffle: ``-> (B, Cout, 2H, 2W)``."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(nn.Conv2d(in_ch, out_ch * 4, 1, bias=False), nn.PixelShuffle(2))


class TransposedConvUp(nn.Sequential):
    """PMRID: 2x2 stride-2 transposed conv with bias: ``(B, Cin, H, W) -> (B, Cout, 2H, 2W)``."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 2):
        super().__init__(nn.ConvTranspose2d(in_ch, out_ch, kernel, stride=2))


class ConvInterpUp(nn.Module):
    """Decoupled up-sampling (MOFA 3.5): stride-1 conv at low resolution, then bilinear x2.

    ``(B, Cin, H, W) -> (B, Cout, 2H, 2W)``; ``conv`` configures the conv (``Cin -> Cout``).
    """

    def __init__(self, in_ch: int, out_ch: int, conv: dict):
        super().__init__()
        self.conv = create_spatial_conv(in_ch, out_ch, **conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.conv(x), scale_factor=2, mode="bilinear", align_corners=False)
