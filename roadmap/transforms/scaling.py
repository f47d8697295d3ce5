"""Size knobs: the width of each level (``width``) and the block count of each stage (``blocks``).

``blocks`` is not ``depth``: ``depth`` keeps the first levels of the U, ``blocks`` sets how many
blocks a stage stacks.
"""

from __future__ import annotations

import math

from roadmap.addresses import parse_address
from roadmap.spec import StageSpec, UNetSpec
from roadmap.transforms.addresses import expand_addresses, expand_overrides, stage_at, stage_of
from roadmap.transforms.registry import param_error, register
from roadmap.transforms.weights import State, carries, default_carry

MAX_MULTIPLIER = 4.0


# --------------------------------------------------------------------------- width


def _check_multiplier(value, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_MULTIPLIER:
        raise param_error("width", param, f"must be a number in (0, {MAX_MULTIPLIER:g}], got {value!r}")
    return float(value)


def scaled_width(width: int, multiplier: float, divisor: int) -> int:
    """``width * multiplier`` rounded half up to a multiple of ``divisor`` (at least ``divisor``);
    a multiplier of 1 keeps the width as it is (GAMA-IR's 42 is no multiple of 8)."""
    if multiplier == 1:
        return width
    return max(divisor, math.floor(width * multiplier / divisor + 0.5) * divisor)


def _level_multipliers(spec: UNetSpec, multiplier: float, overrides) -> dict[str, float]:
    """``{"level[i]" or "middle": multiplier}`` for every level and the bottleneck."""
    out = {f"level[{i}]": multiplier for i in range(spec.levels)} | {"middle": multiplier}
    if overrides is None:
        return out
    if not isinstance(overrides, dict):
        raise param_error(
            "width", "overrides", f"must be a mapping level[i] or middle -> multiplier, got {overrides!r}"
        )
    for address, value in overrides.items():
        expand_addresses(spec, [address], "width", "overrides")  # exists in this spec
        if parse_address(address).kind != "level" and address != "middle":
            raise param_error(
                "width",
                "overrides",
                f"{address}: must be level[i] or middle (the encoder and decoder of a level are scaled together)",
            )
        out[address] = _check_multiplier(value, f"overrides[{address}]")
    return out


def _scale(stage: StageSpec, multiplier: float, divisor: int) -> bool:
    """Scale one stage's width in place; whether it changed."""
    new = scaled_width(stage.width, multiplier, divisor)
    changed, stage.width = new != stage.width, new
    return changed


@register("width")
def width(
    spec: UNetSpec, multiplier: float = 0.75, overrides: dict[str, float] | None = None, divisor: int = 8
) -> UNetSpec:
    """Multiply the channel width of every level by ``multiplier`` (``overrides`` per level:
    ``{"level[0]": 1.0, "middle": 0.5}``).

    Level ``i``'s encoder and decoder stages are scaled together (add skips need equal widths),
    the middle stages by the ``middle`` multiplier; samplers and fusions follow the widths around
    them. A scaled width is rounded to a multiple of ``divisor`` (default 8), which keeps the
    channel maths valid: pixel (un)shuffle and PMRID blocks need multiples of 4, partial convs
    at least one convolved channel. MSIAM ratios stay as they are; where a ratio no longer gives
    whole channels the spec check refuses the step (apply width before msiam).
    """
    multiplier = _check_multiplier(multiplier, "multiplier")
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 1:
        raise param_error("width", "divisor", f"must be an integer >= 1, got {divisor!r}")
    factors = _level_multipliers(spec, multiplier, overrides)
    changed = 0
    for i in range(spec.levels):
        for stage in (spec.encoder[i], spec.decoder[i]):
            changed += _scale(stage, factors[f"level[{i}]"], divisor)
    for stage in spec.middle:
        changed += _scale(stage, factors["middle"], divisor)
    if not changed:
        raise param_error("width", "multiplier", f"changes no width (rounded to multiples of {divisor})")
    return spec


@carries("width")
def carry_width(before: UNetSpec, after: UNetSpec, params: dict, state: State, fresh: State) -> State:
    """Every tensor takes the leading slice of the old one: along each dimension the first
    ``min(old, new)`` entries come from the trained weights, the rest (where the network grew)
    keeps its fresh initialisation. Module names do not change with the width.

    An approximation, and a rough one: the kept channels lose what the dropped ones contributed
    to them, and a channel index does not always mean the same thing at another width --
    SimpleGate multiplies channel ``k`` by ``k + C``, so after a NAFBlock's width changes from
    ``C`` to ``C'`` the gate pairs ``k`` with ``k + C'`` (the old first half with part of itself
    when shrinking), and a partial conv's convolved channels ``floor(C * portion)`` move. Pixel
    (un)shuffle and the skip additions keep their meaning (their channel groups are leading
    blocks). Fine-tuning repairs the rest; NAFBlock's ``beta`` / ``gamma`` are sliced like the
    rest, so a block that was near the identity stays near it.
    """
    out = default_carry(before, after, params, state, fresh)
    for key, new in fresh.items():
        old = state.get(key)
        if old is None or old.shape == new.shape or old.dim() != new.dim():
            continue
        region = tuple(slice(0, min(a, b)) for a, b in zip(old.shape, new.shape, strict=False))
        merged = new.clone()
        merged[region] = old[region]
        out[key] = merged
    return out


# --------------------------------------------------------------------------- blocks


def _check_count(value, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise param_error("blocks", param, f"must be an integer >= 0 (blocks), got {value!r}")
    return value


def _stage_counts(spec: UNetSpec, depth) -> dict[str, int]:
    """``{stage address: blocks}``: ``level[i]`` / ``middle`` expanded to their stages (the skips
    of a level are passed over); an explicit stage wins over its level."""
    if not isinstance(depth, dict) or not depth:
        raise param_error("blocks", "depth", f"must be a non-empty mapping address -> blocks, got {depth!r}")
    for address in depth:
        if all(stage_at(spec, a) is None for a in expand_addresses(spec, [address], "blocks", "depth")):
            raise param_error(
                "blocks", "depth", f"{address} is not a stage (encoder[i], middle[j], decoder[i], level[i] or middle)"
            )
    counts = expand_overrides(spec, depth, "blocks", _check_count, "depth")
    return {a: n for a, n in counts.items() if stage_at(spec, a) is not None}


@register("blocks")
def blocks(spec: UNetSpec, depth: dict[str, int]) -> UNetSpec:
    """Set the number of blocks of some stages: ``depth: {"encoder[2]": 2, "middle": 4}``
    (``level[i]`` = its encoder and decoder stages; 0 leaves a stage with no block, which the
    spec allows where the stage keeps its input width).
    """
    counts = _stage_counts(spec, depth)
    changed = 0
    for address, count in counts.items():
        stage = stage_of(spec, address)
        changed += stage.depth != count
        stage.depth = count
    if not changed:
        raise param_error("blocks", "depth", f"changes nothing: {', '.join(counts)} already have those blocks")
    return spec


@carries("blocks")
def carry_blocks(before: UNetSpec, after: UNetSpec, params: dict, state: State, fresh: State) -> State:
    """A stage keeps its first ``k`` blocks' weights (``<stage>.<k>.*`` keep their names); the
    blocks it gains start fresh, the blocks it loses are dropped.

    A fresh NAFBlock (``nafblock`` / ``gama``) is the identity (``beta`` and ``gamma`` start at
    zero), so adding blocks to a NAFBlock stage is exactly function-preserving; removing blocks
    is not. Fresh PMRID and conv-ReLU blocks are not identities.
    """
    return default_carry(before, after, params, state, fresh)
