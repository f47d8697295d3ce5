"""Build an ``nn.Module`` from an architecture spec, using the blocks in ``blocks/``.

``build_model(spec)`` is deterministic: the same spec built twice after the same
``torch.manual_seed`` has identical weights.

Re-parameterisation (FMEN): a conv with ``reparam: true`` builds as an RRRB, the training form.
``fold_spec(spec)`` is the deployed spec (plain convs) and ``fold_model(model)`` the deployed
network with folded weights; ``fold_model(build_model(spec))`` has exactly the parameter names
and shapes of ``build_model(fold_spec(spec))`` and computes the same function.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

import blocks
from roadmap.registry import Registry
from roadmap.spec import (
    BLOCK_TYPES,
    DOWN_TYPES,
    FUSION_TYPES,
    NESTED_FUSIONS,
    UP_TYPES,
    ConvSpec,
    SamplerSpec,
    StageSpec,
    UNetSpec,
    aggregate_channels,
    aggregate_layout,
    head_depths,
    nested_nodes,
    sampler_conv,
    stage_attention,
    stage_conv,
    validate,
)

# Each block type, sampler and fusion a spec can name is built by the function registered under
# that name. The spec (torch-free) declares the names and checks them: ``spec.BLOCK_TYPES``,
# ``DOWN_TYPES``, ``UP_TYPES``, ``FUSION_TYPES``, ``NESTED_FUSIONS``; each registry holds exactly
# those names (checked on import), so a new one is a spec entry plus one registered builder.
BlockBuilder = Callable[[int, int, dict | None, str | None], nn.Module]
SamplerBuilder = Callable[[SamplerSpec, int, int], nn.Module]
FusionBuilder = Callable[[ConvSpec | None, int, int], nn.Module]

BLOCKS: Registry[BlockBuilder] = Registry("block type")
DOWN_SAMPLERS: Registry[SamplerBuilder] = Registry("down-sampler")
UP_SAMPLERS: Registry[SamplerBuilder] = Registry("up-sampler")
FUSIONS: Registry[FusionBuilder] = Registry("fusion")
DENSE_FUSIONS: Registry[Callable[[int, int], nn.Module]] = Registry("UNet++ fusion")


def _conv_kwargs(conv: ConvSpec | None) -> dict | None:
    return None if conv is None else dataclasses.asdict(conv)


# --------------------------------------------------------------------------- block types:
# ``(in_ch, width, conv kwargs, attention) -> nn.Module``, one block mapping in_ch -> width


@BLOCKS.register("nafblock")
def _nafblock(in_ch: int, width: int, conv: dict | None, attention: str | None) -> nn.Module:
    # stage_attention gives nafblock and gama stages their block type's attention (never None)
    assert attention is not None
    return blocks.NAFBlock(width, conv=conv, attention=attention)


BLOCKS.add("gama", _nafblock)  # the same block; they differ in their default attention


@BLOCKS.register("pmrid_encoder")
def _pmrid_encoder(in_ch: int, width: int, conv: dict | None, attention: str | None) -> nn.Module:
    return blocks.PMRIDEncoderBlock(in_ch, width, stride=1, conv=conv)


@BLOCKS.register("pmrid_decoder")
def _pmrid_decoder(in_ch: int, width: int, conv: dict | None, attention: str | None) -> nn.Module:
    return blocks.PMRIDDecoderBlock(width, conv=conv)


@BLOCKS.register("conv_relu")
def _conv_relu(in_ch: int, width: int, conv: dict | None, attention: str | None) -> nn.Module:
    return blocks.ConvAct(in_ch, width, conv=conv, act="relu")


def build_stage(stage: StageSpec, in_ch: int) -> nn.Sequential:
    """``stage.depth`` blocks; the first maps ``in_ch -> stage.width``."""
    make = BLOCKS.lookup(stage.block)
    conv, attention = _conv_kwargs(stage_conv(stage)), stage_attention(stage)
    layers = []
    for k in range(stage.depth):
        layers.append(make(in_ch if k == 0 else stage.width, stage.width, conv, attention))
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- samplers:
# ``(sampler spec, in_ch, out_ch) -> nn.Module``, halving (down) or doubling (up) the resolution


@DOWN_SAMPLERS.register("strided_conv")
def _strided_conv(s: SamplerSpec, in_ch: int, out_ch: int) -> nn.Module:
    return blocks.StridedConvDown(in_ch, out_ch, s.kernel)


@DOWN_SAMPLERS.register("separable_strided")
def _separable_strided(s: SamplerSpec, in_ch: int, out_ch: int) -> nn.Module:
    return blocks.SeparableStridedDown(in_ch, out_ch, s.kernel)


@DOWN_SAMPLERS.register("pool_conv")
def _pool_conv(s: SamplerSpec, in_ch: int, out_ch: int) -> nn.Module:
    return blocks.PoolConvDown(in_ch, out_ch, dataclasses.asdict(sampler_conv(s)))


@DOWN_SAMPLERS.register("pixel_unshuffle")
def _pixel_unshuffle(s: SamplerSpec, in_ch: int, out_ch: int) -> nn.Module:
    return blocks.PixelUnshuffleDown(in_ch, out_ch)


@DOWN_SAMPLERS.register("pmrid_block")
def _pmrid_block(s: SamplerSpec, in_ch: int, out_ch: int) -> nn.Module:
    return blocks.PMRIDEncoderBlock(in_ch, out_ch, stride=2, conv=_conv_kwargs(s.conv))


@UP_SAMPLERS.register("pixel_shuffle")
def _pixel_shuffle(s: SamplerSpec, in_ch: int, out_ch: int) -> nn.Module:
    return blocks.PixelShuffleUp(in_ch, out_ch)


@UP_SAMPLERS.register("transposed_conv")
def _transposed_conv(s: SamplerSpec, in_ch: int, out_ch: int) -> nn.Module:
    return blocks.TransposedConvUp(in_ch, out_ch, s.kernel)


@UP_SAMPLERS.register("conv_interp")
def _conv_interp(s: SamplerSpec, in_ch: int, out_ch: int) -> nn.Module:
    return blocks.ConvInterpUp(in_ch, out_ch, dataclasses.asdict(sampler_conv(s)))


def build_down(s: SamplerSpec, in_ch: int, out_ch: int) -> nn.Module:
    """The down-sampler ``s``: ``(B, in_ch, H, W) -> (B, out_ch, H/2, W/2)``."""
    return DOWN_SAMPLERS.lookup(s.type)(s, in_ch, out_ch)


def build_up(s: SamplerSpec, in_ch: int, out_ch: int) -> nn.Module:
    """The up-sampler ``s``: ``(B, in_ch, H, W) -> (B, out_ch, 2H, 2W)``."""
    return UP_SAMPLERS.lookup(s.type)(s, in_ch, out_ch)


# --------------------------------------------------------------------------- fusions:
# ``(conv, decoder channels, skip channels) -> nn.Module`` taking ``(x, skip)``, giving dec_ch channels


@FUSIONS.register("add")
def _add(conv: ConvSpec | None, dec_ch: int, skip_ch: int) -> nn.Module:
    return blocks.AddFusion()


@FUSIONS.register("concat")
def _concat(conv: ConvSpec | None, dec_ch: int, skip_ch: int) -> nn.Module:
    return blocks.ConcatFusion(dec_ch, skip_ch)


@FUSIONS.register("proj_add")
def _proj_add(conv: ConvSpec | None, dec_ch: int, skip_ch: int) -> nn.Module:
    return blocks.ProjectAddFusion(dec_ch, skip_ch, _conv_kwargs(conv))


@FUSIONS.register("none")
def _no_fusion(conv: ConvSpec | None, dec_ch: int, skip_ch: int) -> nn.Module:
    return blocks.NoFusion()


def build_fusion(kind: str, conv: ConvSpec | None, dec_ch: int, skip_ch: int) -> nn.Module:
    """The skip fusion ``kind`` of a decoder map (``dec_ch``) with its skip (``skip_ch``)."""
    return FUSIONS.lookup(kind)(conv, dec_ch, skip_ch)


# UNet++ fusions (``spec.NESTED_FUSIONS``): ``(width, j) -> nn.Module`` fusing the up-sampled map
# with the ``j`` earlier nodes of its level, all ``width`` channels (one width per level)


@DENSE_FUSIONS.register("concat")
def _dense_concat(width: int, j: int) -> nn.Module:
    return blocks.DenseConcatFusion(width, [width] * j)


@DENSE_FUSIONS.register("add")
def _dense_add(width: int, j: int) -> nn.Module:
    return blocks.DenseAddFusion()


def _check_registries() -> None:
    """Every name the spec accepts has a builder and every builder a name the spec accepts."""
    for registry, names in (
        (BLOCKS, BLOCK_TYPES),
        (DOWN_SAMPLERS, DOWN_TYPES),
        (UP_SAMPLERS, UP_TYPES),
        (FUSIONS, FUSION_TYPES),
        (DENSE_FUSIONS, NESTED_FUSIONS),
    ):
        if set(registry) != set(names):
            raise RuntimeError(
                f"roadmap.build: the {registry.kind} builders {sorted(registry)} do not match "
                f"the spec's names {sorted(names)}"
            )


_check_registries()


def build_head(spec: UNetSpec) -> nn.Conv2d:
    """The last conv ``decoder[0].width -> out_channels``: a plain ``nn.Conv2d`` (the network of a
    spec without super-resolution stays exactly what it was, module types included), or with
    ``upscale`` s an `UpscaleHead` (``out_channels * s**2`` channels, pixel-shuffled), a
    ``Conv2d`` too, with the same parameter names."""
    width, out, kernel = spec.decoder[0].width, spec.out_channels, spec.head.kernel
    if spec.upscale == 1:
        return nn.Conv2d(width, out, kernel, padding=kernel // 2)
    return blocks.UpscaleHead(width, out, kernel, spec.upscale)


def _pad_input(inp: torch.Tensor, multiple: int) -> torch.Tensor:
    """``(B, C, H, W)`` zero-padded at the bottom and right to a multiple of ``multiple``."""
    h, w = inp.shape[-2:]
    pad_h, pad_w = (multiple - h % multiple) % multiple, (multiple - w % multiple) % multiple
    return F.pad(inp, (0, pad_w, 0, pad_h)) if pad_h or pad_w else inp


def _finish_output(out: torch.Tensor, inp: torch.Tensor, scale: int, residual: bool) -> torch.Tensor:
    """A head's output ``(B, Cout, s*Hp, s*Wp)`` for the padded input, cropped to the unpadded
    input ``inp`` ``(B, Cin, H, W)`` times the scale, plus (``residual``) the input bicubically
    up-sampled by ``scale`` (``inp`` itself at scale 1): ``(B, Cout, s*H, s*W)``.

    The residual is computed on the input as given, not on its padding, so that the zeros the
    U-Net pads with never blur into the bicubic image at the bottom and right borders.
    """
    h, w = inp.shape[-2] * scale, inp.shape[-1] * scale
    if out.shape[-2:] != (h, w):
        out = out[..., :h, :w]
    return out + blocks.upscale_image(inp, scale) if residual else out


class UNet(nn.Module):
    """A restoration U-Net assembled from a spec: ``(B, Cin, H, W) -> (B, Cout, s*H, s*W)``,
    ``s = spec.upscale`` (1 unless the spec super-resolves).

    The input is zero-padded (bottom, right) to a multiple of ``2**levels`` and the output cropped
    back. Submodules are named after the spec's addresses (``encoder.2``, ``down.0``,
    ``middle.1``, ``up.0``, ``skips.3``, ``decoder.1``, ``msiam``, ``iem.2``), which the
    analysis uses to attribute MACs per stage.
    """

    def __init__(self, spec: UNetSpec):
        super().__init__()
        validate(spec)
        self.levels = spec.levels
        self.global_residual = spec.global_residual
        w0 = spec.encoder[0].width
        self.stem = blocks.ConvAct(
            spec.in_channels, w0, {"kind": "vanilla", "kernel": spec.stem.kernel}, act=spec.stem.act
        )
        self.encoder, self.down = nn.ModuleList(), nn.ModuleList()
        width = w0
        for i, stage in enumerate(spec.encoder):
            self.encoder.append(build_stage(stage, width))
            width = stage.width
            self.down.append(build_down(spec.down[i], width, spec.down_out_width(i)))
            width = spec.down_out_width(i)
        self.middle = nn.Sequential()
        for j, stage in enumerate(spec.middle):
            self.middle.add_module(str(j), build_stage(stage, width))
            width = stage.width
        self.up, self.skips, self.decoder = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for i in range(spec.levels):
            dec = spec.decoder[i]
            self.up.append(build_up(spec.up[i], spec.up_in_width(i), dec.width))
            self.skips.append(build_fusion(spec.skips[i].type, spec.skips[i].conv, dec.width, spec.encoder[i].width))
            self.decoder.append(build_stage(dec, dec.width))
        self.upscale = spec.upscale
        self.head = build_head(spec)
        self.uses_skip = [s.type != "none" for s in spec.skips]
        self.msiam: blocks.MSIAM | None = None
        self.iem = nn.ModuleDict()
        self.msiam_index: dict[int, int] = {}
        if spec.aggregate is not None:
            layout = aggregate_layout(spec)
            t = spec.aggregate.target_level
            self.msiam = blocks.MSIAM(
                [lv for lv, _, _ in layout], [c for _, c, _ in layout], [r for _, _, r in layout], t
            )
            agg = aggregate_channels(spec)
            self.msiam_index = {lv: k for k, (lv, _, _) in enumerate(layout)}
            for lv, c, _ in layout:
                self.iem[str(lv)] = blocks.IEMHead(agg, t, lv, c)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.stem(_pad_input(inp, 2**self.levels))
        kept: list[torch.Tensor | None] = [None] * self.levels
        for i in range(self.levels):
            x = self.encoder[i](x)
            if self.uses_skip[i]:
                # With MSIAM only the reduced part is kept, so the full map is freed right away.
                kept[i] = self.msiam.reduce(self.msiam_index[i], x) if self.msiam is not None else x
            x = self.down[i](x)
        aggregated = None
        if self.msiam is not None:
            aggregated = self.msiam.fuse([p for p in kept if p is not None])
            kept = [None] * self.levels
        x = self.middle(x)
        for i in reversed(range(self.levels)):
            x = self.up[i](x)
            if self.uses_skip[i]:
                skip = self.iem[str(i)](aggregated) if aggregated is not None else kept[i]
                kept[i] = None  # drop the reference: the skip's memory is free after fusion
                x = self.skips[i](x, skip)
                del skip
            x = self.decoder[i](x)
        del aggregated
        return _finish_output(self.head(x), inp, self.upscale, self.global_residual)


class UNetPlusPlus(nn.Module):
    """UNet++ (Zhou et al., arXiv 1807.10165 / 1912.05074) assembled from a spec with ``nested``:
    ``(B, Cin, H, W) -> (B, Cout, s*H, s*W)``, ``s = spec.upscale``.

    Nodes (``d = spec.built_levels``): ``x[0, 0] = encoder[0](stem(x))``, ``x[i, 0] =
    encoder[i](down[i-1](x[i-1, 0]))`` (``middle`` at level ``L``), and for ``j >= 1``,
    ``i + j <= d``: ``x[i, j] = decoder.i.j(skips.i.j(up.i.j(x[i+1, j-1]), [x[i, 0..j-1]]))``,
    each node with its own modules. ``forward`` returns ``head.d(x[0, d])`` (+ the input with
    ``global_residual``); ``forward_heads`` every head's output, ``{j: (B, Cout, s*H, s*W)}`` -- one
    per ``x[0, j]`` with deep supervision. Module names do not depend on ``d``: the network of a
    pruned spec is a sub-network of the whole one, weights included (``load_state_dict`` of the
    whole network's tensors whose names it has). Differs from the reference code in the blocks
    the spec chooses (no BatchNorm in ``conv_relu``) and in the 1x1 conv of a ``concat`` fusion
    (the reference feeds the concatenation to the node's first 3x3 conv).
    """

    def __init__(self, spec: UNetSpec):
        super().__init__()
        validate(spec)
        self.levels, self.depth = spec.levels, spec.built_levels
        self.global_residual = spec.global_residual
        self.stem = blocks.ConvAct(
            spec.in_channels, spec.encoder[0].width, {"kind": "vanilla", "kernel": spec.stem.kernel}, act=spec.stem.act
        )
        self.encoder, self.down = nn.ModuleList(), nn.ModuleList()
        for i in range(min(self.depth + 1, self.levels)):  # the backbone down to x[d, 0]
            width = spec.encoder[i].width if i == 0 else spec.down_out_width(i - 1)
            if i > 0:
                self.down.append(build_down(spec.down[i - 1], spec.encoder[i - 1].width, width))
            self.encoder.append(build_stage(spec.encoder[i], width))
        self.middle = nn.Sequential()
        if self.depth == self.levels:
            self.down.append(build_down(spec.down[-1], spec.encoder[-1].width, spec.down_out_width(self.levels - 1)))
            width = spec.down_out_width(self.levels - 1)
            for j, stage in enumerate(spec.middle):
                self.middle.add_module(str(j), build_stage(stage, width))
                width = stage.width
        # up.i.j, skips.i.j, decoder.i.j: node x[i, j] (levels the depth leaves out stay empty)
        self.up = nn.ModuleList(nn.ModuleDict() for _ in range(self.levels))
        self.skips = nn.ModuleList(nn.ModuleDict() for _ in range(self.levels))
        self.decoder = nn.ModuleList(nn.ModuleDict() for _ in range(self.levels))
        for i, j in nested_nodes(spec):
            self._add_node(spec, i, j)
        self.upscale = spec.upscale
        self.head = nn.ModuleDict({str(d): build_head(spec) for d in head_depths(spec)})

    def _add_node(self, spec: UNetSpec, i: int, j: int) -> None:
        """The modules of node ``x[i, j]``: its up-sampler, its dense fusion and its stage."""
        width, key = spec.decoder[i].width, str(j)
        _level(self.up, i)[key] = build_up(spec.up[i], spec.up_in_width(i), width)
        _level(self.skips, i)[key] = DENSE_FUSIONS.lookup(spec.skips[i].type)(width, j)
        _level(self.decoder, i)[key] = build_stage(spec.decoder[i], width)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        return self._run(inp, (self.depth,))[self.depth]

    def forward_heads(self, inp: torch.Tensor) -> dict[int, torch.Tensor]:
        """Every head's output: ``{j: head.j(x[0, j])}`` (deep supervision; the loss averages them)."""
        return self._run(inp, tuple(int(d) for d in self.head))

    def _backbone(self, s: int, above: torch.Tensor) -> torch.Tensor:
        """``x[s, 0]`` from ``x[s-1, 0]`` (``x[0, 0]`` from the stem's output)."""
        if s == 0:
            return self.encoder[0](above)
        x = self.down[s - 1](above)
        return self.encoder[s](x) if s < self.levels else self.middle(x)

    def _run(self, inp: torch.Tensor, wanted: tuple[int, ...]) -> dict[int, torch.Tensor]:
        """Compute the nodes anti-diagonal by anti-diagonal (``rows[i]``: level ``i``'s nodes so
        far); the heads in ``wanted`` as soon as their node exists. A level's nodes are all read
        by its last node, so they are kept until then -- UNet++'s memory cost -- and dropped as
        soon as they have been read for the last time (the measured peak follows the analysis)."""
        rows: list[list[torch.Tensor]] = [[] for _ in range(self.depth + 1)]
        rows[0].append(self._backbone(0, self.stem(_pad_input(inp, 2**self.depth))))
        outputs = {}
        for s in range(1, self.depth + 1):
            rows[s].append(self._backbone(s, rows[s - 1][0]))
            for i in reversed(range(s)):
                key = str(s - i)
                up = _level(self.up, i)[key](rows[i + 1][-1])  # x[i+1, j-1], just computed
                node = _level(self.decoder, i)[key](_level(self.skips, i)[key](up, rows[i]))
                del up
                if s == self.depth:  # the level's last node: the level and the one below are spent
                    rows[i], rows[i + 1] = [], []
                rows[i].append(node)
            if s in wanted:
                outputs[s] = _finish_output(self.head[str(s)](rows[0][-1]), inp, self.upscale, self.global_residual)
        return outputs


def _level(nodes: nn.ModuleList, i: int) -> nn.ModuleDict:
    """Level ``i`` of a UNet++ node table (``up``, ``skips``, ``decoder``): a ``ModuleDict`` by
    construction, which ``ModuleList`` (typed as holding any ``Module``) cannot say."""
    return cast(nn.ModuleDict, nodes[i])


def build_model(spec: UNetSpec | str, variant: str | None = None) -> UNet | UNetPlusPlus:
    """Build the network a spec (or a seed name / spec file) describes: a `UNet`, or a
    `UNetPlusPlus` for a spec with ``nested``.

    >>> import torch
    >>> model = build_model("nafnet", "w16")
    >>> model(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 3, 64, 64])
    """
    if not isinstance(spec, UNetSpec):
        from roadmap.seeds import resolve_spec

        spec = resolve_spec(spec, variant)
    return UNetPlusPlus(spec) if spec.nested is not None else UNet(spec)


# --------------------------------------------------------------------------- re-parameterisation


def _conv_holders(spec: UNetSpec) -> list:
    """Every stage, sampler and fusion of ``spec`` (the objects that may hold a ``ConvSpec``)."""
    return [*spec.encoder, *spec.middle, *spec.decoder, *spec.down, *spec.up, *spec.skips]


def _default_conv(holder) -> ConvSpec | None:
    """The conv a stage / sampler / fusion uses when its spec gives none (None: it needs one)."""
    if isinstance(holder, StageSpec):
        return ConvSpec(**BLOCK_TYPES[holder.block]["conv"])
    if isinstance(holder, SamplerSpec) and holder.type == "pmrid_block":
        return ConvSpec("separable", 5)
    if not isinstance(holder, SamplerSpec) and holder.type == "proj_add":
        return ConvSpec("separable", 3)
    return None


def spec_has_reparam(spec: UNetSpec) -> bool:
    """Whether some conv of ``spec`` is re-parameterised (``ConvSpec.reparam``)."""
    return any(h.conv is not None and h.conv.reparam for h in _conv_holders(spec))


def fold_spec(spec: UNetSpec) -> UNetSpec:
    """The deployed form of ``spec``: every ``reparam`` conv becomes the plain conv of its kind.

    A copy; ``spec`` itself when nothing is re-parameterised (so the analysis cache and the
    figures of ordinary specs are untouched). The folded spec records ``provenance.folded:
    true``; its ``provenance.steps`` still name the ``reparam`` step (replaying them gives the
    training form, whose weights ``fold_model`` turns into this network's).
    """
    if not spec_has_reparam(spec):
        return spec
    out = spec.copy()
    for holder in _conv_holders(out):
        if holder.conv is not None and holder.conv.reparam:
            plain = dataclasses.replace(holder.conv, reparam=False)
            # the default conv is written as no conv, as the seeds write it
            holder.conv = None if plain == _default_conv(holder) else plain
    out.provenance = {**out.provenance, "folded": True}
    validate(out)
    return out


def fold_model(model: nn.Module) -> nn.Module:
    """The deployed form of a built network: every RRRB replaced by the one conv it computes.

    A deep copy with folded weights (``model`` is left as it is; ``model`` itself when it holds
    no RRRB). For ``model = build_model(spec)`` (trained or not), the result loads into and
    equals ``build_model(fold_spec(spec))``; outputs agree to float32 rounding, borders included.
    """
    return blocks.fold_reparam(model)
