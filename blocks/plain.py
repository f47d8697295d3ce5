"""Plain conv + activation layers (classic U-Net stages, PMRID's stem and bottleneck conv)."""

from __future__ import annotations

import torch
from torch import nn

_ACTS = {"relu": nn.ReLU, "gelu": nn.GELU, "none": nn.Identity, None: nn.Identity}


class ConvAct(nn.Module):
    """A spatial conv then an activation: ``(B, Cin, H, W) -> (B, Cout, H, W)``.

    ``conv`` configures the conv (default vanilla 3x3 with bias); ``act``: ``relu``, ``gelu``
    or ``none``.
    """

    def __init__(self, in_ch: int, out_ch: int, conv: dict | None = None, act: str | None = "relu"):
        super().__init__()
        from blocks.conv import create_spatial_conv

        self.conv = create_spatial_conv(in_ch, out_ch, **dict(conv or {"kind": "vanilla", "kernel": 3}))
        if act not in _ACTS:
            raise ValueError(f"unknown activation {act!r}; expected one of relu, gelu, none")
        self.act = _ACTS[act]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))
