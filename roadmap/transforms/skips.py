"""Skip-connection transforms: UNet-- aggregation (msiam) and skip removal (drop_skips)."""
from __future__ import annotations

from roadmap.spec import AggregateSpec, UNetSpec
from roadmap.transforms.registry import param_error, register
from roadmap.transforms.sampling import check_levels


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
        raise param_error("msiam", "target_level",
                          f"must be an encoder level in [0, {L - 1}] (or -1..-{L} from the deepest), got {target_level!r}")
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
