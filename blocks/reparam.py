"""FMEN's re-parameterisable convolutions: train a multi-branch block, deploy one conv.

Du et al., "Fast and Memory-Efficient Network Towards Efficient Image Super-Resolution"
(CVPRW 2022), section 3.3. The RRRB (residual in residual re-parameterisation block), training
form, on ``x`` of shape ``(B, Cin, H, W)``::

    e   = expand(x)                          # 1x1, Cin -> M, bias b0
    ep  = e padded by k//2 pixels with the value b0 (per channel), not with zeros
    f   = fea(ep) + e                        # k x k, M -> M, no padding, bias b1; inner identity
    out = reduce(f) (+ x when Cin == Cout)   # 1x1, M -> Cout, bias b2; outer identity

Padding ``e`` with ``b0`` makes the fold exact at the border: a 1x1 conv of a zero-padded ``x``
is exactly ``b0`` there, so ``ep == expand(zero_pad(x))`` and the whole block is one k x k conv
of zero-padded ``x`` with a bias (:func:`fold_rrrb`, :meth:`RRRB.fold`).

FMEN uses k = 3 and M = 2 Cin (Cin == Cout). Here ``M = ratio * max(Cin, Cout)`` per group: at
least the wider side, so that a plain conv can be written as an RRRB exactly
(``roadmap.transforms.reparam``), and ``groups`` gives a depthwise RRRB (``groups = C``: each
channel expands into ``ratio`` channels of its own) that folds into a depthwise conv.
:class:`SeparableRRRB` is a separable conv whose depthwise part is an RRRB; :class:`ERB` is
FMEN's enhanced residual block (RRRB, LeakyReLU 0.1, RRRB).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from blocks.conv import SeparableConv

FMEN_RATIO = 2  # FMEN's expansion: the 1x1 doubles the channels


def fold_rrrb(
    expand_w: torch.Tensor,
    expand_b: torch.Tensor | None,
    fea_w: torch.Tensor,
    fea_b: torch.Tensor | None,
    reduce_w: torch.Tensor,
    reduce_b: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The one conv an RRRB computes: ``(weight (Cout, Cin/g, k, k), bias (Cout,) or None)``.

    The RRRB's tensors: ``expand_w`` ``(M, Cin/g, 1, 1)``, ``fea_w`` ``(M, M/g, k, k)``,
    ``reduce_w`` ``(Cout, M/g, 1, 1)`` and the biases ``(M,)``, ``(M,)``, ``(Cout,)`` (all
    ``None``: a bias-free RRRB, which folds into a bias-free conv). ``g = M / fea_w.shape[1]``;
    the outer identity is there when ``Cin == Cout``. FMEN's four steps: inner identity into
    the k x k, merge the expand (its bias convolved with the k x k's taps), merge the reduce,
    outer identity. Computed in float64 and returned in ``fea_w``'s dtype.
    """
    f64, dev = torch.float64, fea_w.device
    m, mg, k = fea_w.shape[0], fea_w.shape[1], fea_w.shape[-1]
    g, ig, out = m // mg, expand_w.shape[1], reduce_w.shape[0]
    og = out // g
    k0 = expand_w.to(f64).reshape(g, mg, ig)
    k1 = fea_w.to(f64).reshape(g, mg, mg, k, k).clone()
    k2 = reduce_w.to(f64).reshape(g, og, mg)
    c = k // 2
    inner = torch.arange(mg, device=dev)
    k1[:, inner, inner, c, c] += 1  # f = fea(ep) + e
    weight = torch.einsum("gon,gnmyx,gmc->gocyx", k2, k1, k0)
    if ig == og:  # out = reduce(f) + x
        outer = torch.arange(og, device=dev)
        weight[:, outer, outer, c, c] += 1
    bias = None
    if expand_b is not None or fea_b is not None or reduce_b is not None:

        def vec(b, n):
            return torch.zeros(n, dtype=f64, device=dev) if b is None else b.to(f64)

        b0, b1, b2 = vec(expand_b, m).reshape(g, mg), vec(fea_b, m).reshape(g, mg), vec(reduce_b, out)
        b01 = b1 + torch.einsum("gnmyx,gm->gn", k1, b0)  # the k x k sees b0 on every tap
        bias = (torch.einsum("gon,gn->go", k2, b01).reshape(out) + b2).to(fea_w.dtype)
    return weight.reshape(out, ig, k, k).to(fea_w.dtype), bias


class RRRB(nn.Module):
    """FMEN's RRRB, training form (module docstring): ``(B, Cin, H, W) -> (B, Cout, H, W)``.

    ``groups`` must divide ``in_ch`` and ``out_ch`` (``groups = C``: a depthwise RRRB);
    ``M = ratio * max(in_ch, out_ch)`` expanded channels (``ratio * max`` per group); ``bias`` gives every
    conv of the block a bias (False: none has one, and the fold has none). Stride 1 only.
    :meth:`fold` returns the ``nn.Conv2d`` (``padding = kernel // 2``) computing the same function.
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int = 3, groups: int = 1, ratio: int = FMEN_RATIO, bias: bool = True
    ):
        super().__init__()
        if in_ch % groups or out_ch % groups:
            raise ValueError(f"RRRB groups {groups} must divide {in_ch} -> {out_ch} channels")
        if kernel < 1 or kernel % 2 == 0 or ratio < 1:
            raise ValueError(f"RRRB needs an odd kernel and a ratio >= 1, got {kernel} and {ratio}")
        mid = ratio * max(in_ch, out_ch)
        self.expand = nn.Conv2d(in_ch, mid, 1, groups=groups, bias=bias)
        self.fea = nn.Conv2d(mid, mid, kernel, groups=groups, bias=bias)  # no padding: ep is padded
        self.reduce = nn.Conv2d(mid, out_ch, 1, groups=groups, bias=bias)
        self.in_ch, self.out_ch, self.kernel, self.groups = in_ch, out_ch, kernel, groups
        self.residual = in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.kernel // 2
        e = self.expand(x)
        ep = F.pad(e, (p, p, p, p))
        if p and self.expand.bias is not None:
            # (1, 1, H + 2p, W + 2p): 1 on the padding, 0 inside (adds exactly 0 there)
            border = F.pad(torch.zeros_like(e[:1, :1]), (p, p, p, p), value=1.0)
            ep = ep + border * self.expand.bias.view(1, -1, 1, 1)
        out = self.reduce(self.fea(ep) + e)
        return out + x if self.residual else out

    @torch.no_grad()
    def folded_weights(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(weight (Cout, Cin/groups, k, k), bias (Cout,) or None)`` of the folded conv."""
        return fold_rrrb(
            self.expand.weight, self.expand.bias, self.fea.weight, self.fea.bias, self.reduce.weight, self.reduce.bias
        )

    @torch.no_grad()
    def fold(self) -> nn.Conv2d:
        """The single k x k conv (zero padding ``k // 2``) that computes this block."""
        weight, bias = self.folded_weights()
        conv = nn.Conv2d(
            self.in_ch,
            self.out_ch,
            self.kernel,
            padding=self.kernel // 2,
            groups=self.groups,
            bias=bias is not None,
            device=weight.device,
            dtype=weight.dtype,
        )
        conv.weight.copy_(weight)
        if bias is not None:
            assert conv.bias is not None  # built with bias=True just above
            conv.bias.copy_(bias)
        return conv.train(self.training)


class SeparableRRRB(nn.Sequential):
    """A separable conv whose depthwise part is a depthwise RRRB: ``(B, Cin, H, W) -> (B, Cout, H, W)``.

    ``0``: ``RRRB(in_ch, in_ch, kernel, groups=in_ch, bias=bias)``, ``1``: 1x1 ``in_ch -> out_ch``.
    :meth:`fold` gives a :class:`blocks.conv.SeparableConv` (its depthwise has no bias: the
    RRRB's folded bias goes through the 1x1 into the 1x1's bias, exactly).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, bias: bool = True, ratio: int = FMEN_RATIO):
        super().__init__(
            RRRB(in_ch, in_ch, kernel, groups=in_ch, ratio=ratio, bias=bias), nn.Conv2d(in_ch, out_ch, 1, bias=bias)
        )

    @torch.no_grad()
    def fold(self) -> SeparableConv:
        rrrb, pointwise = self[0], self[1]
        assert isinstance(rrrb, RRRB) and isinstance(pointwise, nn.Conv2d)  # as __init__ built them
        weight, bias = rrrb.folded_weights()
        out = SeparableConv(rrrb.in_ch, pointwise.out_channels, rrrb.kernel, bias=pointwise.bias is not None)
        out = out.to(device=weight.device, dtype=weight.dtype)
        depthwise, out_pointwise = out[0], out[1]
        assert isinstance(depthwise, nn.Conv2d) and isinstance(out_pointwise, nn.Conv2d)
        depthwise.weight.copy_(weight)
        out_pointwise.weight.copy_(pointwise.weight)
        if pointwise.bias is not None and out_pointwise.bias is not None:  # built alike (bias=)
            # pointwise(dw(x) + b) = pointwise(dw(x)) + P b: the depthwise bias moves into the 1x1's
            pushed = pointwise.weight[:, :, 0, 0].double() @ bias.double() if bias is not None else 0
            out_pointwise.bias.copy_(pointwise.bias.double() + pushed)
        return out.train(self.training)


class ERB(nn.Module):
    """FMEN's enhanced residual block: ``RRRB -> LeakyReLU(0.1) -> RRRB``, ``(B, C, H, W) -> (B, C, H, W)``.

    No residual of its own (each RRRB has its identities); :meth:`fold` gives
    ``Sequential(conv k x k, LeakyReLU(0.1), conv k x k)``.
    """

    def __init__(self, channels: int, kernel: int = 3, ratio: int = FMEN_RATIO):
        super().__init__()
        self.rrrb1 = RRRB(channels, channels, kernel, ratio=ratio)
        self.act = nn.LeakyReLU(0.1)
        self.rrrb2 = RRRB(channels, channels, kernel, ratio=ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rrrb2(self.act(self.rrrb1(x)))

    def fold(self) -> nn.Sequential:
        return nn.Sequential(self.rrrb1.fold(), nn.LeakyReLU(0.1), self.rrrb2.fold()).train(self.training)


REPARAM_MODULES = (RRRB, SeparableRRRB, ERB)


def has_reparam(module: nn.Module) -> bool:
    """Whether ``module`` is or holds a re-parameterisable block."""
    return any(isinstance(m, REPARAM_MODULES) for m in module.modules())


def fold_reparam(module: nn.Module) -> nn.Module:
    """``module`` with every RRRB / SeparableRRRB / ERB replaced by its fold: a deep copy (the
    input is left as it is), or ``module`` itself when it holds none. The result computes the
    same function (up to float rounding) with one conv per RRRB."""
    if not has_reparam(module):
        return module
    if isinstance(module, REPARAM_MODULES):
        return module.fold()
    out = copy.deepcopy(module)
    _fold_children(out)
    return out


def _fold_children(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, REPARAM_MODULES):
            setattr(module, name, child.fold())  # keeps the name: Sequential "0" stays "0"
        else:
            _fold_children(child)
