"""Where transforms act: spec addresses (``encoder[2]``, ``skips[0]``, ...) and their conv slots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from roadmap.addresses import expand_address, parse_address
from roadmap.errors import SpecError
from roadmap.spec import (
    ConvSpec,
    FusionSpec,
    SamplerSpec,
    StageSpec,
    UNetSpec,
    block_conv_channels,
    sampler_conv,
    stage_conv,
)

_DEFAULT_FUSION_CONV = ConvSpec("separable", 3)


@dataclass
class ConvSlot:
    """One configurable conv spec in the network and the (in, out) channels it is used with."""

    address: str
    channels: list[tuple[int, int]]
    get: Callable[[], ConvSpec]
    set: Callable[[ConvSpec], None]


def expand_addresses(spec: UNetSpec, targets: list[str], transform: str, param: str = "targets") -> list[str]:
    """Check addresses and expand ``level[i]`` and ``middle`` into stage addresses (each once,
    in the order given); errors name ``<transform>.<param>``."""
    if not isinstance(targets, list) or not targets:
        raise SpecError(f"{transform}.{param}: must be a non-empty list of addresses, got {targets!r}")
    out: list[str] = []
    for target in targets:
        try:
            out += expand_address(spec, target)
        except SpecError as exc:
            raise SpecError(f"{transform}.{param}: {exc}") from None
    return list(dict.fromkeys(out))


T = TypeVar("T")


def expand_overrides(
    spec: UNetSpec, overrides: dict, transform: str, check: Callable[[Any, str], T], param: str = "overrides"
) -> dict[str, T]:
    """``{address: value}`` with each value checked (``check(value, "<param>[<address>]")``) and
    ``level[i]`` / ``middle`` expanded to the addresses they stand for; an address given
    explicitly wins over its level, whatever the order. Errors name ``<transform>.<param>``."""
    if not isinstance(overrides, dict):
        raise SpecError(f"{transform}.{param}: must be a mapping address -> value, got {overrides!r}")
    out: dict[str, T] = {}
    explicit: set[str] = set()
    for address, value in overrides.items():
        checked = check(value, f"{param}[{address}]")
        expanded = expand_addresses(spec, [address], transform, param)
        for stage in expanded:
            if stage not in explicit:
                out[stage] = checked
        if expanded == [address]:
            explicit.add(address)
    return out


def stage_addresses(spec: UNetSpec) -> list[str]:
    """Every stage address in forward order: ``encoder[i]``, ``middle[j]``, ``decoder[i]`` (deepest first)."""
    out = [f"encoder[{i}]" for i in range(spec.levels)] + [f"middle[{j}]" for j in range(len(spec.middle))]
    return out + [f"decoder[{i}]" for i in reversed(range(spec.levels))]


def stage_at(spec: UNetSpec, address: str) -> StageSpec | None:
    """The stage at a stage address (``encoder[2]``, ``middle[0]``); ``None`` for samplers and skips."""
    parsed = parse_address(address)
    if parsed.kind not in ("encoder", "middle", "decoder") or parsed.index is None:
        return None
    return getattr(spec, parsed.kind)[parsed.index]


def stage_of(spec: UNetSpec, address: str) -> StageSpec:
    """The stage at ``address``, which must be a stage address (one of :func:`stage_addresses`)."""
    stage = stage_at(spec, address)
    if stage is None:
        raise SpecError(f"{address} is not a stage")
    return stage


def _stage_in_channels(spec: UNetSpec, kind: str, i: int) -> int:
    if kind == "encoder":  # the stem and down[i-1] already produce encoder[i].width
        return spec.encoder[i].width
    if kind == "middle":
        return spec.down_out_width(spec.levels - 1) if i == 0 else spec.middle[i - 1].width
    return spec.decoder[i].width


def conv_slot(spec: UNetSpec, address: str) -> ConvSlot | None:
    """The conv slot at ``address``, or ``None`` where there is no configurable conv."""
    parsed = parse_address(address)
    kind, i = parsed.kind, parsed.index
    if i is None:  # ``middle`` stands for several slots: expand it first
        raise SpecError(f"no conv slot at {address}")
    if kind in ("encoder", "middle", "decoder"):
        stage = getattr(spec, kind)[i]
        if stage.depth == 0:
            return None
        in_ch = _stage_in_channels(spec, kind, i)
        channels = block_conv_channels(stage.block, in_ch, stage.width)
        if stage.depth > 1:
            channels += block_conv_channels(stage.block, stage.width, stage.width)

        def get_stage(stage: StageSpec = stage) -> ConvSpec:
            return stage_conv(stage)

        def set_stage(conv: ConvSpec, stage: StageSpec = stage) -> None:
            stage.conv = conv

        return ConvSlot(address, channels, get_stage, set_stage)
    if kind in ("down", "up"):
        sampler = getattr(spec, kind)[i]
        if sampler.type not in ("pool_conv", "conv_interp", "pmrid_block"):
            return None
        if kind == "down":
            in_ch, out_ch = spec.encoder[i].width, spec.down_out_width(i)
        else:
            in_ch, out_ch = spec.up_in_width(i), spec.decoder[i].width
        channels = [(out_ch // 4, out_ch)] if sampler.type == "pmrid_block" else [(in_ch, out_ch)]

        def get_sampler(sampler: SamplerSpec = sampler) -> ConvSpec:
            return sampler_conv(sampler)

        def set_sampler(conv: ConvSpec, sampler: SamplerSpec = sampler) -> None:
            sampler.conv = conv

        return ConvSlot(address, channels, get_sampler, set_sampler)
    if kind == "skips":
        fusion = spec.skips[i]
        if fusion.type != "proj_add":
            return None

        def get_fusion(fusion: FusionSpec = fusion) -> ConvSpec:
            return fusion.conv or _DEFAULT_FUSION_CONV

        def set_fusion(conv: ConvSpec, fusion: FusionSpec = fusion) -> None:
            fusion.conv = conv

        return ConvSlot(address, [(spec.encoder[i].width, spec.decoder[i].width)], get_fusion, set_fusion)
    raise SpecError(f"no conv slot at {address}")


def all_addresses(spec: UNetSpec) -> list[str]:
    """Every address that can hold a conv slot, in forward order (stem and head excluded)."""
    out = []
    for i in range(spec.levels):
        out += [f"encoder[{i}]", f"down[{i}]"]
    out += [f"middle[{j}]" for j in range(len(spec.middle))]
    for i in reversed(range(spec.levels)):
        out += [f"up[{i}]", f"skips[{i}]", f"decoder[{i}]"]
    return out


def conv_slots(spec: UNetSpec, addresses: list[str] | None = None) -> list[ConvSlot]:
    """The conv slots at ``addresses`` (all of them by default); addresses without one are skipped."""
    slots = [conv_slot(spec, a) for a in (addresses if addresses is not None else all_addresses(spec))]
    return [s for s in slots if s is not None]
