"""NAFNet blocks (Chen et al., "Simple Baselines for Image Restoration", ECCV 2022).

Structure follows megvii-research/NAFNet ``NAFNet_arch.py``; see the reference notes.
"""

from __future__ import annotations

import torch
from torch import nn

from blocks.conv import create_spatial_conv
from blocks.gama import GAMAAttention
from blocks.norm import LayerNorm2d
from roadmap.channels import ATTENTION_KINDS


class SimpleGate(nn.Module):
    """Split channels in two halves and multiply them: ``(B, 2C, H, W) -> (B, C, H, W)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class SimplifiedChannelAttention(nn.Module):
    """NAFNet's SCA: global average pool, 1x1 conv, multiply (no sigmoid). ``(B, C, H, W) -> same``."""

    def __init__(self, channels: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv2d(channels, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv(self.pool(x))


class NAFBlock(nn.Module):
    """NAFNet block: ``(B, C, H, W) -> (B, C, H, W)``.

    ``x = LN -> 1x1 (C->2C) -> spatial conv (2C) -> SimpleGate -> attention -> 1x1``, added
    with a zero-initialised scale ``beta``; then ``LN -> 1x1 (C->2C) -> SimpleGate -> 1x1``
    added with ``gamma``. ``conv`` configures the spatial conv (default: 3x3 depthwise with bias,
    the original); MOFA swaps it for PConv / PDWConv. ``attention``: ``"sca"`` (NAFNet),
    ``"gama"`` (GAMA-IR's axis-average attention, 147 parameters) or ``"none"`` (no attention:
    GAMA-IR's "w/o GAMA" ablation). Params with defaults: ``7C^2 + 33C`` (SCA is ``C^2 + C`` of
    them).
    """

    def __init__(
        self, channels: int, conv: dict | None = None, attention: str = "sca", dw_expand: int = 2, ffn_expand: int = 2
    ):
        super().__init__()
        c, dw, ffn = channels, channels * dw_expand, channels * ffn_expand
        conv = dict(conv or {"kind": "depthwise", "kernel": 3})
        self.norm1 = LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, dw, 1, bias=True)
        self.conv2 = create_spatial_conv(dw, dw, **conv)
        self.gate = SimpleGate()
        self.attention: nn.Module
        if attention == "sca":
            self.attention = SimplifiedChannelAttention(dw // 2)
        elif attention == "gama":
            self.attention = GAMAAttention()
        elif attention == "none":
            self.attention = nn.Identity()
        else:
            raise ValueError(f"unknown attention {attention!r}; expected one of {', '.join(ATTENTION_KINDS)}")
        self.conv3 = nn.Conv2d(dw // 2, c, 1, bias=True)
        self.norm2 = LayerNorm2d(c)
        self.conv4 = nn.Conv2d(c, ffn, 1, bias=True)
        self.conv5 = nn.Conv2d(ffn // 2, c, 1, bias=True)
        # Zero init makes every block the identity at the start of training.
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.conv3(self.attention(self.gate(self.conv2(self.conv1(self.norm1(inp))))))
        y = inp + x * self.beta
        x = self.conv5(self.gate(self.conv4(self.norm2(y))))
        return y + x * self.gamma
