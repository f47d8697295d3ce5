"""Normalisation layers."""

from __future__ import annotations

import torch
from torch import nn


class LayerNorm2d(nn.Module):
    """NAFNet's LayerNorm2d: per pixel, normalise across channels (biased var, eps 1e-6).

    ``(B, C, H, W) -> (B, C, H, W)``; an affine ``weight`` (ones) and ``bias`` (zeros) per channel.
    Not ``GroupNorm(1, C)``, which would normalise over C*H*W.
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        y = (x - mu) / torch.sqrt(var + self.eps)
        return self.weight.view(1, -1, 1, 1) * y + self.bias.view(1, -1, 1, 1)
