"""Spatial convolutions a block can use: vanilla, depthwise, separable, PConv, PDWConv.

PConv is FasterNet's partial convolution (Chen et al., CVPR 2023) as MOFA uses it
(``Partial_conv3``, ``split_cat`` forward): a k x k conv on the first ``d = int(C * portion)``
channels, identity on the others. PDWConv (MOFA section 3.6) makes that conv depthwise.
"""

from __future__ import annotations

import torch
from torch import nn

from roadmap.channels import CONV_KINDS, partial_channels


class PartialConv(nn.Module):
    """Partial convolution: convolve the first ``d`` channels, pass the rest through.

    Input ``(B, C, H, W)`` -> output ``(B, C, H, W)``. ``d = floor(C * portion)``; with
    ``depthwise=True`` the conv on those ``d`` channels is depthwise (PDWConv), otherwise a
    full ``d -> d`` conv (PConv). No bias, as in FasterNet and MOFA. Raises ``ValueError``
    when ``d`` is 0.
    """

    def __init__(self, channels: int, portion: float, kernel: int = 3, depthwise: bool = False):
        super().__init__()
        d = partial_channels(channels, portion)
        if d < 1:  # the spec refuses such a portion; a zero-channel conv would fail obscurely later
            raise ValueError(f"a portion of {portion} of {channels} channels is less than one channel")
        self.channels = channels
        self.conv_channels = d
        self.conv = nn.Conv2d(d, d, kernel, padding=kernel // 2, groups=d if depthwise else 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv_channels == self.channels:
            return self.conv(x)
        head, tail = torch.split(x, [self.conv_channels, self.channels - self.conv_channels], dim=1)
        return torch.cat((self.conv(head), tail), dim=1)


class SeparableConv(nn.Sequential):
    """Depthwise k x k (no bias) then pointwise 1x1 ``in -> out``: ``(B, Cin, H, W) -> (B, Cout, H/s, W/s)``."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, bias: bool = True):
        super().__init__(
            nn.Conv2d(in_ch, in_ch, kernel, stride=stride, padding=kernel // 2, groups=in_ch, bias=False),
            nn.Conv2d(in_ch, out_ch, 1, bias=bias),
        )


def create_spatial_conv(
    in_ch: int,
    out_ch: int,
    kind: str = "depthwise",
    kernel: int = 3,
    stride: int = 1,
    portion: float | None = None,
    dw_threshold: int | None = None,
    pointwise: bool = False,
    bias: bool = True,
    reparam: bool = False,
) -> nn.Module:
    """Build the spatial conv of a block: ``(B, in_ch, H, W) -> (B, out_ch, H/stride, W/stride)``.

    ``kind``: ``vanilla`` (k x k full conv), ``depthwise`` (needs ``in_ch == out_ch``),
    ``separable`` (depthwise then 1x1), ``pconv`` / ``pdwconv`` (partial conv on the first
    ``portion`` of the channels; followed by a 1x1 ``in -> out`` when ``pointwise``).
    ``dw_threshold``: a ``pconv`` whose convolved channels reach it is depthwise (MOFA's rule).
    ``bias`` is the bias of the last conv (partial convs never have one). ``reparam``: the
    training form of FMEN's re-parameterisation (``blocks.reparam``) of a vanilla, depthwise or
    separable conv -- an RRRB (a depthwise RRRB for depthwise and separable), stride 1 only;
    ``blocks.reparam.fold_reparam`` turns it into the plain conv of ``kind``.
    """
    pad = kernel // 2
    if reparam:
        return _reparam_conv(in_ch, out_ch, kind, kernel, stride, bias)
    if kind == "vanilla":
        return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=pad, bias=bias)
    if kind == "depthwise":
        if in_ch != out_ch:
            raise ValueError(f"depthwise conv needs in == out channels, got {in_ch} -> {out_ch}")
        return nn.Conv2d(in_ch, in_ch, kernel, stride=stride, padding=pad, groups=in_ch, bias=bias)
    if kind == "separable":
        return SeparableConv(in_ch, out_ch, kernel, stride, bias)
    if kind in ("pconv", "pdwconv"):
        if stride != 1:
            raise ValueError(f"{kind} cannot be strided (its identity channels keep the resolution)")
        if portion is None or not 0 < portion <= 1:
            raise ValueError(f"{kind} portion must be in (0, 1], got {portion}")
        depthwise = kind == "pdwconv" or (dw_threshold is not None and partial_channels(in_ch, portion) >= dw_threshold)
        partial = PartialConv(in_ch, portion, kernel, depthwise=depthwise)
        if pointwise:
            return nn.Sequential(partial, nn.Conv2d(in_ch, out_ch, 1, bias=bias))
        if in_ch != out_ch:
            raise ValueError(f"{kind} without pointwise needs in == out channels, got {in_ch} -> {out_ch}")
        return partial
    raise ValueError(f"unknown conv kind {kind!r}; expected one of {', '.join(CONV_KINDS)}")


def _reparam_conv(in_ch: int, out_ch: int, kind: str, kernel: int, stride: int, bias: bool) -> nn.Module:
    """The RRRB training form of a ``kind`` conv (see :func:`create_spatial_conv`)."""
    from blocks.reparam import RRRB, SeparableRRRB  # blocks.reparam imports this module

    if stride != 1:
        raise ValueError(f"a re-parameterised {kind} conv cannot be strided (RRRB is stride 1)")
    if kind == "vanilla":
        return RRRB(in_ch, out_ch, kernel, bias=bias)
    if kind == "depthwise":
        if in_ch != out_ch:
            raise ValueError(f"depthwise conv needs in == out channels, got {in_ch} -> {out_ch}")
        return RRRB(in_ch, in_ch, kernel, groups=in_ch, bias=bias)
    if kind == "separable":
        return SeparableRRRB(in_ch, out_ch, kernel, bias=bias)
    raise ValueError(f"only vanilla, depthwise and separable convs can be re-parameterised, got {kind!r}")
