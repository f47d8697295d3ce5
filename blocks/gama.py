"""GAMA-IR's global axis-average attention (Mansour & Heckel, 2024)."""

from __future__ import annotations

import torch
from torch import nn


class GAMAAttention(nn.Module):
    """Average the map over each axis, run a 7x7 single-channel conv on each, add back.

    ``(B, C, H, W) -> (B, C, H, W)``: the channel mean ``(B, 1, H, W)``, the height mean seen
    as a ``C x W`` image and the width mean seen as a ``C x H`` image each pass through a
    1 -> 1 7x7 conv (no bias); the three results are broadcast and added to the input.
    Exactly ``3 * 49 = 147`` parameters, whatever ``C``; a global receptive field.
    """

    def __init__(self, kernel: int = 7):
        super().__init__()
        pad = kernel // 2
        self.conv_c = nn.Conv2d(1, 1, kernel, padding=pad, bias=False)
        self.conv_h = nn.Conv2d(1, 1, kernel, padding=pad, bias=False)
        self.conv_w = nn.Conv2d(1, 1, kernel, padding=pad, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        over_c = self.conv_c(x.mean(1, keepdim=True))  # (B,1,H,W)
        over_h = self.conv_h(x.mean(2).unsqueeze(1)).view(b, c, 1, w)  # (B,C,1,W)
        over_w = self.conv_w(x.mean(3).unsqueeze(1)).view(b, c, h, 1)  # (B,C,H,1)
        return x + over_c + over_h + over_w
