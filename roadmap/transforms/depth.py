"""Depth pruning: keep the shallower sub-network of the U (the UNet++ observation)."""

from __future__ import annotations

from roadmap.spec import UNetSpec
from roadmap.transforms.registry import param_error, register
from roadmap.transforms.skips import carry_aggregate
from roadmap.transforms.weights import State, carries, copy_prefix, default_carry, reset_prefix


@register("depth")
def depth(spec: UNetSpec, levels: int) -> UNetSpec:
    """Keep the first ``levels`` levels; the encoder stage of level ``levels`` becomes the bottleneck.

    Everything deeper (its down/up-samplers, skips, decoder stages and the old middle) goes.
    An MSIAM aggregate survives only if its target level is kept.
    """
    L = spec.levels
    if spec.nested is not None:
        raise param_error(
            "depth",
            "levels",
            "a UNet++ (nested) spec is cut to a shallower depth with prune (keeps the trained weights), not depth",
        )
    if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels < L:
        raise param_error(
            "depth", "levels", f"must be an integer in [1, {L - 1}] (fewer than the {L} levels), got {levels!r}"
        )
    bottleneck = spec.encoder[levels]
    bottleneck.depth = max(1, bottleneck.depth)
    spec.middle = [bottleneck]
    for name in ("encoder", "down", "up", "decoder", "skips"):
        setattr(spec, name, getattr(spec, name)[:levels])
    if spec.aggregate is not None:
        if spec.aggregate.target_level >= levels:
            raise param_error(
                "depth",
                "levels",
                f"{levels} drops the MSIAM target level {spec.aggregate.target_level}; apply depth before msiam",
            )
        spec.aggregate.ratios = spec.aggregate.ratios[:levels]
    return spec


@carries("depth")
def carry_depth(before: UNetSpec, after: UNetSpec, params: dict, state: State, fresh: State) -> State:
    """The kept levels keep their weights; the old ``encoder.<n>`` becomes ``middle.0``.

    The stem, head and the encoder, down, up, skip and decoder modules of levels ``< n`` keep
    their names and weights. The new bottleneck ``middle.0`` is the old encoder stage of level
    ``n``, so it takes ``encoder.<n>``'s weights (a block added because that stage had depth 0
    starts fresh). ``up.<n-1>`` now reads the bottleneck instead of ``decoder.<n>``; it keeps its
    weights where the shapes fit (equal widths, as in NAFNet), else starts fresh. Not
    function-preserving: the path through the deeper levels is gone. An aggregate is carried by
    :func:`~roadmap.transforms.skips.carry_aggregate`.
    """
    n = after.levels
    out = default_carry(before, after, params, state, fresh)
    reset_prefix(out, fresh, "middle.")  # the old middle.* share the names but not the meaning
    copy_prefix(state, out, f"encoder.{n}.", "middle.0.")
    carry_aggregate(before, after, state, out, fresh)
    return out
