"""MOFA 3.5: decoupled down/up-sampling (average pool + stride-1 conv; stride-1 conv + interpolation)."""
from __future__ import annotations

from roadmap.spec import ConvSpec, SamplerSpec, UNetSpec
from roadmap.transforms.partial import check_portion
from roadmap.transforms.registry import param_error, register


def check_levels(spec: UNetSpec, transform: str, levels, param: str = "levels") -> list[int]:
    if levels is None:
        return list(range(spec.levels))
    if not isinstance(levels, list) or not levels:
        raise param_error(transform, param, f"must be a non-empty list of levels, got {levels!r}")
    for lv in levels:
        if isinstance(lv, bool) or not isinstance(lv, int) or not 0 <= lv < spec.levels:
            raise param_error(transform, param, f"{lv!r} is not a level of this network (0..{spec.levels - 1})")
    return sorted(set(levels))


@register("decouple")
def decouple(spec: UNetSpec, direction: str = "both", levels: list[int] | None = None,
             portion: float = 0.25, kernel: int = 3) -> UNetSpec:
    """Decouple resolution change from convolution at ``levels`` (all by default).

    Down-samplers become a 2x2 average pool then a stride-1 PConv (``portion``) and a pointwise
    1x1 to the new width; up-samplers become that conv at low resolution then a bilinear x2
    interpolation -- MOFA's NAFNet code (MOFA used ``direction: up`` for PMRID).
    """
    if direction not in ("down", "up", "both"):
        raise param_error("decouple", "direction", f"must be down, up or both, got {direction!r}")
    portion = check_portion("decouple", portion)
    if isinstance(kernel, bool) or not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
        raise param_error("decouple", "kernel", f"must be an odd integer >= 1, got {kernel!r}")
    chosen = check_levels(spec, "decouple", levels)
    conv = ConvSpec("pconv", kernel, portion, None, True, False)
    changed = 0
    for i in chosen:
        if direction in ("down", "both") and spec.down[i].type != "pool_conv":
            spec.down[i] = SamplerSpec("pool_conv", 2, conv)
            changed += 1
        if direction in ("up", "both") and spec.up[i].type != "conv_interp":
            spec.up[i] = SamplerSpec("conv_interp", 2, conv)
            changed += 1
    if not changed:
        raise param_error("decouple", "levels", f"the {direction} sampling at levels {chosen} is already decoupled")
    return spec
