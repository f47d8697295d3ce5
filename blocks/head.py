"""The output head of a restoration U-Net, with optional super-resolution (ESPCN-style).

A super-resolution network runs entirely at the low-resolution (LR) input; only its last conv
makes ``scale**2`` times the output channels, which a pixel shuffle rearranges into the
``scale``-times larger image (Shi et al. 2016, as in EDSR / SwinIR's lightweight heads). Its
global residual is the bicubic up-sampling of the input (:func:`upscale_image`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class UpscaleHead(nn.Conv2d):
    """k x k conv ``in_ch -> out_ch * scale**2`` (same padding, bias), then a pixel shuffle:
    ``(B, in_ch, H, W) -> (B, out_ch, scale * H, scale * W)``.

    A ``Conv2d`` itself (weight ``(out_ch * scale**2, in_ch, k, k)``): at ``scale == 1`` it is the
    plain head conv, with the same parameter names (``weight``, ``bias``), shapes and output.
    Output channel ``c`` at offset ``(i, j)`` of each ``scale x scale`` cell comes from conv
    channel ``c * scale**2 + i * scale + j`` (``nn.PixelShuffle``'s order). The shuffle is done in
    ``forward`` rather than by a child module so that the head stays one leaf layer, which the
    per-layer MAC count and the weight carry-over address by its name.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, scale: int = 1):
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
        super().__init__(in_ch, out_ch * scale * scale, kernel, padding=kernel // 2)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        return F.pixel_shuffle(x, self.scale) if self.scale > 1 else x

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", scale={self.scale}" if self.scale > 1 else "")


def upscale_image(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic up-sampling ``(B, C, H, W) -> (B, C, scale * H, scale * W)`` (``align_corners=False``,
    PyTorch's ``a = -0.75``); ``x`` itself at ``scale == 1``. The global residual of a
    super-resolution network."""
    if scale == 1:
        return x
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
