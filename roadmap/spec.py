"""The architecture spec: a plain-data description of a restoration U-Net.

A spec is a tree of dataclasses; YAML is only its serialised form. ``load_spec`` parses and
validates, ``UNetSpec.to_yaml`` writes; a spec saved and loaded again compares equal. The spec
knows block *names* (so it can check them) but builds nothing: ``roadmap.build`` does that.

Forward pass a spec describes (``L = len(encoder)`` levels, level ``i`` at ``1/2**i``)::

    x = stem(pad(inp))                                  # in_channels -> encoder[0].width
    for i in 0..L-1:  x = encoder[i](x); keep x as skip i; x = down[i](x)
    x = middle(x)                                       # stages at level L
    for i in L-1..0:  x = up[i](x); x = skips[i](x, skip i); x = decoder[i](x)
    out = head(x) (+ inp when global_residual)

With ``head.upscale = s > 1`` (super-resolution) all of this runs at the low-resolution input;
the head makes ``s * s * out_channels`` channels that a pixel shuffle turns into the ``s``-times
larger output, and the residual is the bicubic up-sampling of ``inp``. :func:`input_hw` is
the input size of an output size, :func:`with_upscale` makes a spec super-resolve.

With ``aggregate`` set (UNet--), skip i is reduced into one map at ``aggregate.target_level``
(MSIAM) and rebuilt per decoder level (IEM) instead of being kept.

With ``nested`` set (UNet++), the decoder is a grid of nodes ``x[i, j]`` (level ``i``, ``j``-th
node of its skip pathway): ``x[i, 0]`` is the backbone (``encoder[i]``; ``x[L, 0]`` the middle)
and, for ``j >= 1``::

    x[i, j] = decoder[i](skips[i](up[i](x[i+1, j-1]), [x[i, 0], ..., x[i, j-1]]))

each node with its own weights (``decoder[i]``, ``up[i]`` and ``skips[i]`` describe every node
of level ``i``). The output is ``head(x[0, d])``; nodes with ``i + j > d`` are not built
(``d = nested.depth``, default ``L``), and with ``deep_supervision`` every ``x[0, j]`` has a head.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeGuard

import yaml

from roadmap.channels import ATTENTION_KINDS, CONV_KINDS, REPARAM_KINDS, partial_channels  # the blocks' own rules
from roadmap.errors import RoadmapError, SpecError

PARTIAL_KINDS = ("pconv", "pdwconv")

# Block types a stage can use: whether the first block may change the width, the default
# spatial conv (the one the original network uses) and the default attention (None: the block
# has no attention to choose). ``gama`` is a NAFBlock whose attention is GAMA-IR's.
BLOCK_TYPES: dict[str, dict[str, Any]] = {
    "nafblock": {"changes_width": False, "conv": {"kind": "depthwise", "kernel": 3}, "attention": "sca"},
    "gama": {"changes_width": False, "conv": {"kind": "depthwise", "kernel": 3}, "attention": "gama"},
    "pmrid_encoder": {"changes_width": True, "conv": {"kind": "separable", "kernel": 5}, "attention": None},
    "pmrid_decoder": {"changes_width": False, "conv": {"kind": "separable", "kernel": 3}, "attention": None},
    "conv_relu": {"changes_width": True, "conv": {"kind": "vanilla", "kernel": 3}, "attention": None},
}
ATTENTION_BLOCKS = tuple(b for b, t in BLOCK_TYPES.items() if t["attention"] is not None)
DOWN_TYPES = ("strided_conv", "separable_strided", "pool_conv", "pixel_unshuffle", "pmrid_block")
UP_TYPES = ("pixel_shuffle", "transposed_conv", "conv_interp")
FUSION_TYPES = ("add", "concat", "proj_add", "none")
NESTED_FUSIONS = ("concat", "add")  # UNet++: the fusions that take every earlier node of a level
SAMPLERS_WITH_CONV = ("pool_conv", "conv_interp", "pmrid_block")
AGGREGATE_TYPES = ("msiam",)
ACTIVATIONS = ("none", "relu", "gelu")

# Sane maxima, checked before anything is built: a typo such as a width of 10**9 must be a
# one-line error, not an allocation that takes the machine down. Each is several times what
# a published restoration U-Net uses (NAFNet-w64: widths up to 1024, 28 blocks in a stage,
# 4 levels, 7x7 kernels in its relatives).
MAX_WIDTH = 8192
MAX_STAGE_DEPTH = 128
MAX_LEVELS = 8
MAX_MIDDLE_STAGES = 16
MAX_KERNEL = 31
MAX_CHANNELS = 64  # image channels in/out (RGB 3, RAW 4, hyperspectral a few dozen)
UPSCALES = (1, 2, 3, 4)  # super-resolution factors of the head (x2, x3, x4: the usual SR benchmarks)


# --------------------------------------------------------------------------- dataclasses


@dataclass
class ConvSpec:
    """The spatial conv of a block, sampler or fusion.

    ``kind``: vanilla | depthwise | separable | pconv | pdwconv. ``portion``: the share of
    channels a pconv/pdwconv convolves, in (0, 1]. ``dw_threshold`` (pconv only): where the
    convolved channels ``floor(C_in * portion)`` reach it, the conv is depthwise (a PDWConv),
    as MOFA's ``Partial_conv3`` decides per layer. ``pointwise``: a 1x1 in->out after a partial
    conv (MOFA's replacement of a separable conv). ``bias``: bias of the last conv.
    ``reparam`` (vanilla, depthwise, separable): the conv trains as FMEN's RRRB (a depthwise
    RRRB for depthwise and separable; ``blocks.reparam``) and folds into the plain conv of
    ``kind`` for deployment (``roadmap.build.fold_spec`` / ``fold_model``).
    """

    kind: str = "depthwise"
    kernel: int = 3
    portion: float | None = None
    dw_threshold: int | None = None
    pointwise: bool = False
    bias: bool = True
    reparam: bool = False

    @property
    def is_partial(self) -> bool:
        return self.kind in PARTIAL_KINDS


@dataclass
class StageSpec:
    """``depth`` blocks of type ``block`` at ``width`` channels; ``conv`` is their spatial conv.

    ``attention`` (``nafblock`` and ``gama`` only): ``sca``, ``gama`` or ``none``; ``None`` means
    the block type's own (nafblock: sca, gama: gama), which is how a spec writes it.
    """

    block: str
    depth: int
    width: int
    conv: ConvSpec | None = None
    attention: str | None = None


@dataclass
class SamplerSpec:
    """A down- or up-sampler between two levels. ``conv`` for pool_conv, conv_interp, pmrid_block."""

    type: str
    kernel: int = 2
    conv: ConvSpec | None = None


@dataclass
class FusionSpec:
    """How level i merges its skip: add | concat | proj_add (``conv`` on the skip) | none."""

    type: str = "add"
    conv: ConvSpec | None = None


@dataclass
class AggregateSpec:
    """UNet-- aggregation: MSIAM at ``target_level`` with per-level channel ``ratios``; IEM heads."""

    type: str = "msiam"
    target_level: int = 0
    ratios: list[float] = field(default_factory=list)


@dataclass
class NestedSpec:
    """UNet++ (Zhou et al. 2018, 2019): nested, densely connected skip pathways.

    ``deep_supervision``: a head on every ``x[0, j]`` (``j = 1..depth``), trained with the loss
    averaged over them, so that every depth is trained and the network can be pruned at
    inference; without it only ``x[0, depth]`` has a head. ``depth``: the sub-network UNet++
    ``L^d`` that is built -- nodes ``x[i, j]`` with ``i + j > depth`` are dropped -- in
    ``[1, L - 1]``; ``None`` is the whole network (``d = L``).
    """

    deep_supervision: bool = False
    depth: int | None = None


@dataclass
class StemSpec:
    """First conv ``in_channels -> encoder[0].width``, optional activation."""

    kernel: int = 3
    act: str = "none"


@dataclass
class HeadSpec:
    """Last conv ``decoder[0].width -> out_channels``.

    ``upscale`` (super-resolution, in ``UPSCALES``): the network runs at the low-resolution input
    and the head conv makes ``out_channels * upscale**2`` channels that a pixel shuffle turns
    into the ``upscale``-times larger output; the global residual is then the bicubic
    up-sampling of the input. 1 (the default, left out of the YAML) is restoration at the
    input's size.
    """

    kernel: int = 3
    upscale: int = 1


@dataclass
class UNetSpec:
    """A restoration U-Net; see the module docstring for the forward pass it describes."""

    name: str
    encoder: list[StageSpec]
    down: list[SamplerSpec]
    middle: list[StageSpec]
    up: list[SamplerSpec]
    decoder: list[StageSpec]
    skips: list[FusionSpec]
    in_channels: int = 3
    out_channels: int = 3
    stem: StemSpec = field(default_factory=StemSpec)
    head: HeadSpec = field(default_factory=HeadSpec)
    aggregate: AggregateSpec | None = None
    nested: NestedSpec | None = None
    global_residual: bool = True
    provenance: dict = field(default_factory=dict)

    @property
    def levels(self) -> int:
        return len(self.encoder)

    def copy(self) -> UNetSpec:
        return copy.deepcopy(self)

    def to_dict(self) -> dict:
        return _to_plain(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)

    @classmethod
    def from_dict(cls, data: Any) -> UNetSpec:
        spec = _parse(cls, data, "")
        validate(spec)
        return spec

    # Widths the network sees at each point (used by validation, build and transforms).
    def down_out_width(self, i: int) -> int:
        return self.encoder[i + 1].width if i + 1 < self.levels else self.middle[0].width

    def up_in_width(self, i: int) -> int:
        if i + 1 < self.levels:
            return self.decoder[i + 1].width
        return self.middle[-1].width

    @property
    def upscale(self) -> int:
        """The super-resolution factor: the output is ``upscale`` times the input (``head.upscale``)."""
        return self.head.upscale

    @property
    def built_levels(self) -> int:
        """The down-samplings the built network does: ``levels``, or a pruned UNet++'s depth."""
        if self.nested is not None and self.nested.depth is not None:
            return self.nested.depth
        return self.levels


# --------------------------------------------------------------------------- (de)serialising


def _to_plain(obj: Any) -> Any:
    """Dataclass tree -> plain dict/list; fields equal to their default are left out."""
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            default = (
                f.default
                if f.default is not dataclasses.MISSING
                else (f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
            )
            if default is not dataclasses.MISSING and value == default and f.name not in ("kind", "type"):
                continue
            out[f.name] = _to_plain(value)
        return out
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    return obj


_NESTED = {
    (StageSpec, "conv"): ConvSpec,
    (SamplerSpec, "conv"): ConvSpec,
    (FusionSpec, "conv"): ConvSpec,
    (UNetSpec, "stem"): StemSpec,
    (UNetSpec, "head"): HeadSpec,
    (UNetSpec, "aggregate"): AggregateSpec,
    (UNetSpec, "nested"): NestedSpec,
}
_LISTS = {
    "encoder": StageSpec,
    "middle": StageSpec,
    "decoder": StageSpec,
    "down": SamplerSpec,
    "up": SamplerSpec,
    "skips": FusionSpec,
}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _parse(cls: type, data: Any, path: str) -> Any:
    where = path or "spec"
    if not isinstance(data, dict):
        raise SpecError(f"{where}: must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        raise SpecError(f"{_join(path, str(unknown[0]))}: unknown field (expected one of {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        sub = _join(path, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SpecError(f"{sub}: required field is missing")
            continue
        value = data[name]
        if cls is UNetSpec and name in _LISTS:
            if not isinstance(value, list):
                raise SpecError(f"{sub}: must be a list, got {type(value).__name__}")
            value = [_parse(_LISTS[name], v, f"{sub}[{i}]") for i, v in enumerate(value)]
        elif (cls, name) in _NESTED and (value is not None or name in ("stem", "head")):
            value = _parse(_NESTED[(cls, name)], value, sub)  # stem / head: null is not "none"
        elif name == "provenance" and not isinstance(value, dict):
            raise SpecError(f"{sub}: must be a mapping, got {type(value).__name__}")
        kwargs[name] = value
    return cls(**kwargs)


def load_spec(source: str | Path | dict) -> UNetSpec:
    """Load and validate a spec from a YAML file path, YAML text, or a dict.

    Any input gives a spec or one :class:`SpecError` line naming the file (and the line of
    the field at fault where it can): the file goes through :mod:`roadmap.io`.

    >>> from roadmap.seeds import get_seed
    >>> load_spec(get_seed("nafnet", "w16").to_yaml()) == get_seed("nafnet", "w16")
    True
    """
    from roadmap import io  # roadmap.io imports nothing of the spec; kept local all the same

    if isinstance(source, dict):
        return UNetSpec.from_dict(source)
    text = str(source)
    try:
        if isinstance(source, Path) or ("\n" not in text and (text.endswith((".yaml", ".yml")) or Path(text).exists())):
            if not Path(text).is_file() and not Path(text).exists():
                raise SpecError(f"{text}: cannot read spec file (no such file)")
            doc = io.load_yaml(source, "spec", free=("provenance",))
        else:
            doc = io.YamlDoc.from_text(text, "spec", free=("provenance",))
    except SpecError:
        raise
    except RoadmapError as exc:
        raise SpecError(str(exc)) from None
    if not isinstance(doc.data, dict):
        got = "nothing" if doc.data is None else type(doc.data).__name__
        raise SpecError(f"{doc.label}: a spec must be a YAML mapping, got {got}")
    try:
        return UNetSpec.from_dict(doc.data)
    except SpecError as exc:
        raise doc.error(str(exc), SpecError) from None


def save_spec(spec: UNetSpec, path: str | Path, label: str = "spec") -> Path:
    """Write ``spec`` as YAML to ``path`` (parent folders are created), whole or not at all;
    `roadmap.files.WriteError` ``<label> <path>: cannot write (<reason>)`` when it cannot."""
    from roadmap import files

    return files.write_text(path, spec.to_yaml(), label)


# --------------------------------------------------------------------------- validation


def _fail(path: str, message: str) -> NoReturn:
    raise SpecError(f"{path}: {message}")


def _int(path: str, value: Any, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, f"must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        _fail(path, f"must be an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        _fail(path, f"must be at most {maximum}, got {value}")
    return value


def _kernel(path: str, value: Any) -> int:
    """An odd kernel size in [1, MAX_KERNEL] (same padding needs an odd one)."""
    kernel = _int(path, value, 1, MAX_KERNEL)
    if kernel % 2 == 0:
        _fail(path, f"must be odd (same padding), got {kernel}")
    return kernel


def _bool(path: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(path, f"must be true or false, got {value!r}")


def _choice(path: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(path, f"must be one of {', '.join(choices)}, got {value!r}")


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_conv(path: str, conv: ConvSpec, in_ch: int, out_ch: int) -> None:
    """Check a conv in its context (``in_ch -> out_ch`` channels); raise naming ``path``."""
    _choice(f"{path}.kind", conv.kind, CONV_KINDS)
    _kernel(f"{path}.kernel", conv.kernel)
    _bool(f"{path}.pointwise", conv.pointwise)
    _bool(f"{path}.bias", conv.bias)
    _bool(f"{path}.reparam", conv.reparam)
    if conv.reparam and conv.kind not in REPARAM_KINDS:
        _fail(
            f"{path}.reparam",
            f"only {', '.join(REPARAM_KINDS)} convs can be re-parameterised (RRRB), this conv is {conv.kind}",
        )
    if conv.is_partial:
        if not _number(conv.portion) or not 0 < conv.portion <= 1:
            _fail(f"{path}.portion", f"must be in (0, 1], got {conv.portion!r}")
        if partial_channels(in_ch, conv.portion) < 1:
            _fail(f"{path}.portion", f"{conv.portion} of {in_ch} channels is less than one channel")
        if conv.dw_threshold is not None:
            if conv.kind != "pconv":
                _fail(f"{path}.dw_threshold", f"only pconv takes a dw_threshold, this conv is {conv.kind}")
            _int(f"{path}.dw_threshold", conv.dw_threshold, 0, 4 * MAX_WIDTH)
        if not conv.pointwise and in_ch != out_ch:
            _fail(f"{path}.pointwise", f"must be true when {conv.kind} maps {in_ch} -> {out_ch} channels")
    else:
        if conv.dw_threshold is not None:
            _fail(f"{path}.dw_threshold", f"only pconv takes a dw_threshold, this conv is {conv.kind}")
        if conv.portion is not None:
            _fail(f"{path}.portion", f"only pconv and pdwconv take a portion, this conv is {conv.kind}")
        if conv.pointwise:
            _fail(f"{path}.pointwise", f"only pconv and pdwconv take pointwise, this conv is {conv.kind}")
        if conv.kind == "depthwise" and in_ch != out_ch:
            _fail(f"{path}.kind", f"depthwise cannot map {in_ch} -> {out_ch} channels (use separable)")


def stage_conv(stage: StageSpec) -> ConvSpec:
    """The conv a stage's blocks use: its own, or the block type's default."""
    return stage.conv if stage.conv is not None else ConvSpec(**BLOCK_TYPES[stage.block]["conv"])


def sampler_conv(sampler: SamplerSpec) -> ConvSpec:
    """The conv of a sampler that has one (``SAMPLERS_WITH_CONV``): its own, or pmrid_block's
    default (:func:`validate` requires pool_conv and conv_interp to name theirs)."""
    if sampler.conv is not None:
        return sampler.conv
    if sampler.type == "pmrid_block":
        return ConvSpec(kind="separable", kernel=5)
    raise SpecError(f"a {sampler.type} sampler has no conv")


def stage_attention(stage: StageSpec) -> str | None:
    """The attention a stage's blocks use: its own, or the block type's default (``None``: the
    block type has no attention)."""
    return stage.attention if stage.attention is not None else BLOCK_TYPES[stage.block]["attention"]


def block_conv_channels(block: str, in_ch: int, width: int) -> list[tuple[int, int]]:
    """The (in, out) channels of the configurable spatial convs inside one block."""
    if block in ("nafblock", "gama"):
        return [(2 * width, 2 * width)]
    if block == "pmrid_encoder":
        return [(in_ch, width // 4), (width // 4, width)]
    if block == "pmrid_decoder":
        return [(width, width), (width, width)]
    return [(in_ch, width)]  # conv_relu


def _check_stage(path: str, stage: StageSpec, in_ch: int) -> int:
    _choice(f"{path}.block", stage.block, tuple(BLOCK_TYPES))
    depth = _int(f"{path}.depth", stage.depth, 0, MAX_STAGE_DEPTH)
    width = _int(f"{path}.width", stage.width, 1, MAX_WIDTH)
    if width != in_ch and (depth == 0 or not BLOCK_TYPES[stage.block]["changes_width"]):
        reason = "a stage with depth 0" if depth == 0 else f"block {stage.block}"
        _fail(f"{path}.width", f"{reason} cannot change the width: input has {in_ch} channels, got {width}")
    if stage.block == "pmrid_encoder" and width % 4:
        _fail(f"{path}.width", f"pmrid_encoder needs a width divisible by 4, got {width}")
    if stage.attention is not None:
        if stage.block not in ATTENTION_BLOCKS:
            _fail(
                f"{path}.attention",
                f"block {stage.block} has no attention to choose (only {', '.join(ATTENTION_BLOCKS)} have one)",
            )
        _choice(f"{path}.attention", stage.attention, ATTENTION_KINDS)
    conv = stage_conv(stage)
    for ci, co in block_conv_channels(stage.block, in_ch, width):
        check_conv(f"{path}.conv", conv, ci, co)
    if depth > 1 and in_ch != width:  # later blocks of the stage see `width` channels in
        for ci, co in block_conv_channels(stage.block, width, width):
            check_conv(f"{path}.conv", conv, ci, co)
    return width


def _check_sampler(path: str, s: SamplerSpec, in_ch: int, out_ch: int, kinds: tuple[str, ...]) -> None:
    _choice(f"{path}.type", s.type, kinds)
    _int(f"{path}.kernel", s.kernel, 1, MAX_KERNEL)
    if s.type in SAMPLERS_WITH_CONV:
        if s.type != "pmrid_block" and s.conv is None:
            _fail(f"{path}.conv", f"required for {s.type}")
        if s.type == "pmrid_block":
            conv = sampler_conv(s)
            if out_ch % 4:
                _fail(f"{path}", f"pmrid_block needs output channels divisible by 4, got {out_ch}")
            check_conv(f"{path}.conv", conv, out_ch // 4, out_ch)
        else:
            assert s.conv is not None  # refused above
            check_conv(f"{path}.conv", s.conv, in_ch, out_ch)
    elif s.conv is not None:
        _fail(f"{path}.conv", f"{s.type} takes no conv")
    if s.type == "pixel_unshuffle" and out_ch % 4:
        _fail(f"{path}.type", f"pixel_unshuffle needs output channels divisible by 4, got {out_ch}")


def aggregate_layout(spec: UNetSpec) -> list[tuple[int, int, int]]:
    """``(level, skip channels, reduced channels)`` for each level MSIAM aggregates."""
    agg = spec.aggregate
    assert agg is not None, "a spec with an aggregate"
    return [
        (i, spec.encoder[i].width, round(spec.encoder[i].width * agg.ratios[i]))
        for i in range(spec.levels)
        if spec.skips[i].type != "none"
    ]


def aggregate_channels(spec: UNetSpec) -> int:
    """Channels of the aggregated map at ``aggregate.target_level``."""
    assert spec.aggregate is not None, "a spec with an aggregate"
    t = spec.aggregate.target_level
    return int(sum(r * 4.0 ** (t - level) for level, _, r in aggregate_layout(spec)))


def _check_aggregate(spec: UNetSpec) -> None:
    agg, path = spec.aggregate, "aggregate"
    assert agg is not None  # checked only when there is one
    _choice(f"{path}.type", agg.type, AGGREGATE_TYPES)
    t = agg.target_level
    if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < spec.levels:
        _fail(f"{path}.target_level", f"must be an encoder level in [0, {spec.levels - 1}], got {t!r}")
    if not isinstance(agg.ratios, list) or len(agg.ratios) != spec.levels:
        _fail(f"{path}.ratios", f"must be a list of {spec.levels} ratios (one per level), got {agg.ratios!r}")
    for i, r in enumerate(agg.ratios):
        if not _number(r) or not 0 < r <= 1:
            _fail(f"{path}.ratios[{i}]", f"must be in (0, 1], got {r!r}")
        reduced = spec.encoder[i].width * r
        if abs(reduced - round(reduced)) > 1e-6 or round(reduced) < 1:
            _fail(f"{path}.ratios[{i}]", f"{r} of {spec.encoder[i].width} channels is not a whole number >= 1")
    layout = aggregate_layout(spec)
    if not layout:
        _fail(f"{path}", "every skip is 'none': nothing to aggregate")
    for level, _, reduced in layout:
        size = reduced * 4.0 ** (t - level)
        if size != int(size):
            _fail(
                f"{path}.target_level",
                f"{t} is impossible: level {level}'s {reduced} reduced channels cannot be pixel-shuffled "
                f"up {level - t} level(s) (needs a multiple of {4 ** (level - t)})",
            )
    total = aggregate_channels(spec)
    for level, _, _ in layout:
        size = total * 4.0 ** (level - t)
        if size != int(size) or size < 1:
            _fail(
                f"{path}.target_level",
                f"{t} is impossible: the {total}-channel aggregate cannot be resized to level {level}",
            )


def nested_nodes(spec: UNetSpec) -> list[tuple[int, int]]:
    """The decoder nodes ``(i, j)``, ``j >= 1``, a UNet++ spec builds, in the order the forward
    pass computes them: anti-diagonal ``s = i + j`` by anti-diagonal, the deepest node first
    (empty for a plain U-Net)."""
    if spec.nested is None:
        return []
    d = spec.built_levels
    return [(i, s - i) for s in range(1, d + 1) for i in reversed(range(s))]


def head_depths(spec: UNetSpec) -> list[int]:
    """The depths ``d`` whose node ``x[0, d]`` has a head: ``1..depth`` for a deep-supervised
    UNet++, its own depth otherwise (a plain U-Net: its levels)."""
    if spec.nested is not None and spec.nested.deep_supervision:
        return list(range(1, spec.built_levels + 1))
    return [spec.built_levels]


def deep_supervised(spec: UNetSpec) -> bool:
    """Whether ``spec`` is a UNet++ trained with deep supervision (one training scores every depth)."""
    nested = getattr(spec, "nested", None)
    return nested is not None and nested.deep_supervision is True


def _check_nested(spec: UNetSpec) -> None:
    """UNet++: one width per level, dense fusions (concat or add), no aggregate."""
    nested, L = spec.nested, spec.levels
    assert nested is not None  # checked only when there is one
    _bool("nested.deep_supervision", nested.deep_supervision)
    depth = nested.depth
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth < L):
        _fail("nested.depth", f"must be an integer in [1, {L - 1}] (leave it out for all {L} levels), got {depth!r}")
    if spec.aggregate is not None:
        _fail("aggregate", "a UNet++ (nested) decoder keeps every node of its skip pathways; it cannot aggregate them")
    for i in range(L):
        if spec.decoder[i].width != spec.encoder[i].width:
            _fail(
                f"decoder[{i}].width",
                f"a UNet++ (nested) level has one width: encoder[{i}] has "
                f"{spec.encoder[i].width}, got {spec.decoder[i].width}",
            )
        if spec.skips[i].type not in NESTED_FUSIONS:
            _fail(
                f"skips[{i}].type",
                f"a UNet++ (nested) node fuses its level's earlier nodes with "
                f"{' or '.join(NESTED_FUSIONS)}, got {spec.skips[i].type!r}",
            )


def validate(spec: UNetSpec) -> None:
    """Check every field of ``spec``; raise :class:`SpecError` naming the first bad one."""
    if not isinstance(spec.name, str) or not spec.name:
        _fail("name", f"must be a non-empty string, got {spec.name!r}")
    in_ch = _int("in_channels", spec.in_channels, 1, MAX_CHANNELS)
    out_ch = _int("out_channels", spec.out_channels, 1, MAX_CHANNELS)
    _bool("global_residual", spec.global_residual)
    if spec.global_residual and in_ch != out_ch:
        _fail("global_residual", f"needs in_channels == out_channels, got {in_ch} and {out_ch}")
    _kernel("stem.kernel", spec.stem.kernel)
    _choice("stem.act", spec.stem.act, ACTIVATIONS)
    _kernel("head.kernel", spec.head.kernel)
    upscale = spec.head.upscale
    if isinstance(upscale, bool) or not isinstance(upscale, int) or upscale not in UPSCALES:
        _fail("head.upscale", f"must be one of {', '.join(map(str, UPSCALES))}, got {upscale!r}")
    levels = len(spec.encoder)
    if not 1 <= levels <= MAX_LEVELS:
        _fail("encoder", f"needs 1 to {MAX_LEVELS} levels, got {levels}")
    if not 1 <= len(spec.middle) <= MAX_MIDDLE_STAGES:
        _fail("middle", f"needs 1 to {MAX_MIDDLE_STAGES} stages, got {len(spec.middle)}")
    for name in ("down", "up", "decoder", "skips"):
        if len(getattr(spec, name)) != levels:
            _fail(name, f"must have one entry per encoder level ({levels}), got {len(getattr(spec, name))}")
    width = spec.encoder[0].width if isinstance(spec.encoder[0].width, int) else 0
    for i, stage in enumerate(spec.encoder):
        width = _check_stage(f"encoder[{i}]", stage, width)
        _int(f"encoder[{i + 1}].width" if i + 1 < levels else "middle[0].width", spec.down_out_width(i), 1, MAX_WIDTH)
        _check_sampler(f"down[{i}]", spec.down[i], width, spec.down_out_width(i), DOWN_TYPES)
        width = spec.down_out_width(i)
    for j, stage in enumerate(spec.middle):
        width = _check_stage(f"middle[{j}]", stage, width)
    for i in reversed(range(levels)):
        dec = spec.decoder[i]
        _int(f"decoder[{i}].width", dec.width, 1, MAX_WIDTH)
        _check_sampler(f"up[{i}]", spec.up[i], spec.up_in_width(i), dec.width, UP_TYPES)
        fusion, skip_ch = spec.skips[i], spec.encoder[i].width
        _choice(f"skips[{i}].type", fusion.type, FUSION_TYPES)
        if fusion.type == "add" and skip_ch != dec.width:
            _fail(f"skips[{i}].type", f"add needs equal widths, skip has {skip_ch} and decoder {dec.width}")
        if fusion.type == "proj_add":
            check_conv(f"skips[{i}].conv", fusion.conv or ConvSpec("separable", 3), skip_ch, dec.width)
        elif fusion.conv is not None:
            _fail(f"skips[{i}].conv", f"{fusion.type} takes no conv")
        _check_stage(f"decoder[{i}]", dec, dec.width)
    if spec.aggregate is not None and spec.nested is None:
        _check_aggregate(spec)
    if spec.nested is not None:
        _check_nested(spec)
    if not isinstance(spec.provenance, dict):
        _fail("provenance", "must be a mapping")
    steps = spec.provenance.get("steps", [])
    if not isinstance(steps, list) or not all(isinstance(s, dict) and "transform" in s for s in steps):
        _fail("provenance.steps", "must be a list of {transform: NAME, params: {...}}")


# --------------------------------------------------------------------------- super-resolution


class Scaled(Protocol):
    """Anything with a super-resolution ``upscale``: a spec, or a network built from one."""

    @property
    def upscale(self) -> int: ...


def input_hw(spec: Scaled, output_hw: tuple[int, int]) -> tuple[int, int]:
    """The input size ``(h, w)`` that gives an output of ``output_hw``: the low-resolution input
    of a super-resolution spec (``spec.upscale > 1``), ``output_hw`` itself otherwise. ``spec``
    may be anything with an ``upscale`` (a built network has one).

    >>> from roadmap.seeds import get_seed
    >>> input_hw(with_upscale(get_seed("nafnet", "w16"), 2), (256, 192))
    (128, 96)
    >>> input_hw(with_upscale(get_seed("nafnet", "w16"), 2), (255, 256))
    Traceback (most recent call last):
    ...
    roadmap.errors.SpecError: output size 255x256 is not divisible by the super-resolution scale 2
    """
    s = spec.upscale
    h, w = (int(v) for v in output_hw)
    if h % s or w % s:
        raise SpecError(f"output size {h}x{w} is not divisible by the super-resolution scale {s}")
    return h // s, w // s


def with_upscale(spec: UNetSpec, scale: int) -> UNetSpec:
    """A copy of ``spec`` that super-resolves by ``scale`` (``head.upscale``), recorded as
    ``provenance["upscale"]``; ``spec`` itself when it already has that scale. A spec at another
    scale than 1 is refused (:class:`SpecError`): scales do not compose.

    >>> from roadmap.seeds import get_seed
    >>> sr = with_upscale(get_seed("nafnet", "w16"), 2)
    >>> sr.upscale, sr.provenance["upscale"], sr.to_dict()["head"]
    (2, 2, {'upscale': 2})
    """
    if scale == spec.head.upscale and not isinstance(scale, bool):
        return spec
    if spec.head.upscale != 1:
        _fail("head.upscale", f"the spec already super-resolves x{spec.head.upscale}; x{scale} needs a spec at scale 1")
    out = spec.copy()
    out.head.upscale = scale
    validate(out)
    out.provenance = {**out.provenance, "upscale": scale}
    return out
