"""Depth pruning: keep the shallower sub-network of the U (the UNet++ observation)."""
from __future__ import annotations

from roadmap.spec import UNetSpec
from roadmap.transforms.registry import param_error, register


@register("depth")
def depth(spec: UNetSpec, levels: int) -> UNetSpec:
    """Keep the first ``levels`` levels; the encoder stage of level ``levels`` becomes the bottleneck.

    Everything deeper (its down/up-samplers, skips, decoder stages and the old middle) goes.
    An MSIAM aggregate survives only if its target level is kept.
    """
    L = spec.levels
    if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels < L:
        raise param_error("depth", "levels", f"must be an integer in [1, {L - 1}] (fewer than the {L} levels), got {levels!r}")
    bottleneck = spec.encoder[levels]
    bottleneck.depth = max(1, bottleneck.depth)
    spec.middle = [bottleneck]
    for name in ("encoder", "down", "up", "decoder", "skips"):
        setattr(spec, name, getattr(spec, name)[:levels])
    if spec.aggregate is not None:
        if spec.aggregate.target_level >= levels:
            raise param_error("depth", "levels", f"{levels} drops the MSIAM target level "
                              f"{spec.aggregate.target_level}; apply depth before msiam")
        spec.aggregate.ratios = spec.aggregate.ratios[:levels]
    return spec
