"""Skip-connection transforms: UNet-- aggregation (msiam) and skip removal (drop_skips)."""

from __future__ import annotations

from roadmap.spec import AggregateSpec, UNetSpec, aggregate_layout
from roadmap.transforms.registry import param_error, register
from roadmap.transforms.sampling import check_levels
from roadmap.transforms.weights import State, carries, copy_prefix, default_carry, reset_prefix


def default_ratios(levels: int) -> list[float]:
    """UNet--'s NAFNet ratios: 1/16 on every level, 1/8 on the deepest."""
    return [1 / 16] * (levels - 1) + [1 / 8]


@register("msiam")
def msiam(spec: UNetSpec, target_level: int = -1, ratios: list[float] | None = None) -> UNetSpec:
    """Replace the kept skips by one MSIAM map at ``target_level`` and IEM heads (UNet--).

    ``target_level`` is an encoder level (0 = full resolution; negative counts from the deepest,
    ``-1`` = the deepest: the 1/8 variant of a 4-level NAFNet); ``ratios`` the per-level channel
    reduction (default :func:`default_ratios`). Levels whose skip is ``none`` are not aggregated.
    """
    L = spec.levels
    if isinstance(target_level, bool) or not isinstance(target_level, int) or not -L <= target_level < L:
        raise param_error(
            "msiam",
            "target_level",
            f"must be an encoder level in [0, {L - 1}] (or -1..-{L} from the deepest), got {target_level!r}",
        )
    ratios = default_ratios(L) if ratios is None else ratios
    if not isinstance(ratios, list) or len(ratios) != L:
        raise param_error("msiam", "ratios", f"must be a list of {L} ratios (one per level), got {ratios!r}")
    for i, r in enumerate(ratios):
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r <= 1:
            raise param_error("msiam", f"ratios[{i}]", f"must be in (0, 1], got {r!r}")
    if all(s.type == "none" for s in spec.skips):
        raise param_error("msiam", "target_level", "the network has no skip connection to aggregate")
    spec.aggregate = AggregateSpec("msiam", target_level % L, [float(r) for r in ratios])
    return spec


@register("drop_skips")
def drop_skips(spec: UNetSpec, levels: list[int]) -> UNetSpec:
    """Remove the skip connections of ``levels`` (UNet-- Table 1's single-skip study; Tailor)."""
    chosen = check_levels(spec, "drop_skips", levels)
    for lv in chosen:
        if spec.skips[lv].type == "none":
            raise param_error("drop_skips", "levels", f"level {lv} has no skip connection to drop")
        spec.skips[lv].type, spec.skips[lv].conv = "none", None
    if spec.aggregate is not None and all(s.type == "none" for s in spec.skips):
        spec.aggregate = None
    return spec


@carries("msiam")
def carry_msiam(before: UNetSpec, after: UNetSpec, params: dict, state: State, fresh: State) -> State:
    """Every existing weight is kept (the encoder, decoder and fusions are unchanged); the new
    MSIAM and IEM modules start fresh. Not function-preserving: the fusions now receive the IEM
    heads' reconstruction instead of the encoder maps, which fine-tuning has to learn. Applied
    again to an aggregated network, see :func:`carry_aggregate`.
    """
    out = default_carry(before, after, params, state, fresh)
    carry_aggregate(before, after, state, out, fresh)
    return out


@carries("drop_skips")
def carry_drop_skips(before: UNetSpec, after: UNetSpec, params: dict, state: State, fresh: State) -> State:
    """Every remaining weight is kept. With ``add`` fusion the network only loses the skip term;
    a removed ``proj_add`` loses its conv (which only saw the skip). A removed ``concat`` fusion
    loses its whole 1x1 (``NoFusion`` has no conv): its skip half with the skip, and also its
    decoder half and bias, so the next decoder stage sees the raw up-sampled map where it used to
    see ``W_x x + W_s skip + b`` -- an approximation fine-tuning repairs. With an aggregate, see
    :func:`carry_aggregate`.
    """
    out = default_carry(before, after, params, state, fresh)
    carry_aggregate(before, after, state, out, fresh)
    return out


def carry_aggregate(before: UNetSpec, after: UNetSpec, state: State, out: State, fresh: State) -> None:
    """Carry the MSIAM / IEM weights in ``out`` where they still mean the same thing.

    The reducers are indexed by position among the aggregated levels, so they are matched by
    level: a level aggregated before and after at the same target level, with the same channels
    and reduced channels, keeps its reducer. The fusing 1x1 and the IEM heads see the whole
    aggregated map, so they are kept only when the aggregation is unchanged; otherwise fresh.
    """
    if after.aggregate is None:
        return
    reset_prefix(out, fresh, "msiam.")
    reset_prefix(out, fresh, "iem.")
    if before.aggregate is None or before.aggregate.target_level != after.aggregate.target_level:
        return
    old_layout, new_layout = aggregate_layout(before), aggregate_layout(after)
    old_index = {(level, c, r): k for k, (level, c, r) in enumerate(old_layout)}
    for k, part in enumerate(new_layout):
        if part in old_index:
            copy_prefix(state, out, f"msiam.reducers.{old_index[part]}.", f"msiam.reducers.{k}.")
    if old_layout == new_layout:
        copy_prefix(state, out, "msiam.fuse_conv.", "msiam.fuse_conv.")
        copy_prefix(state, out, "iem.", "iem.")
