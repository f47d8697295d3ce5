"""MOFA 3.5: decoupled down/up-sampling (average pool + stride-1 conv; stride-1 conv + interpolation)."""

from __future__ import annotations

from roadmap.spec import ConvSpec, SamplerSpec, UNetSpec
from roadmap.transforms.partial import check_portion
from roadmap.transforms.registry import param_error, register
from roadmap.transforms.weights import (
    ConvParts,
    State,
    carries,
    conv_sites,
    default_carry,
    module_prefixes,
    reset_prefix,
    write_conv,
)


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
def decouple(
    spec: UNetSpec, direction: str = "both", levels: list[int] | None = None, portion: float = 0.25, kernel: int = 3
) -> UNetSpec:
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


@carries("decouple")
def carry_decouple(before: UNetSpec, after: UNetSpec, params: dict, state: State, fresh: State) -> State:
    """The new pool+conv / conv+interpolation samplers start close to the samplers they replace.

    The new conv is a PConv (+ pointwise 1x1); its PConv part starts as the identity (delta
    kernel) and the pointwise as the one matrix closest to the old mapping:

    - ``strided_conv`` (k x k, stride 2): the sum of the kernel's taps, i.e. the old kernel
      applied to the mean of the 2x2 window (avg-pool then 1x1 with ``sum_t W_t = 4 mean_t W_t``):
      exact on inputs constant on each 2x2 window, up to the bias.
    - ``separable_strided``: the 1x1 times the tap sums of the depthwise filters, the same way.
    - ``pixel_unshuffle`` (1x1 to ``C_out / 4``, then unshuffle): each output channel's 1x1 row
      repeated over the four sub-positions: exact on 2x2-constant inputs.
    - ``pixel_shuffle`` (1x1 to ``4 C_out``, then shuffle) / ``transposed_conv`` (2x2, stride 2):
      the mean over the four sub-positions' matrices, then bilinear x2 -- exact where those four
      agree, on inputs constant over the neighbourhood the interpolation reads.
    - ``pmrid_block`` (a residual block with ReLUs): no cheap approximation; fresh initialisation.

    The old bias (strided conv, transposed conv, separable pointwise) is dropped: the decoupled
    conv has no bias (MOFA) and no later layer can hold it exactly (a norm, a non-linearity or a
    skip fusion comes first). Everything else keeps its weights.
    """
    out = default_carry(before, after, params, state, fresh)
    new_sites = {s.prefix: s for s in conv_sites(after)}
    for kind in ("down", "up"):
        for i, prefix in module_prefixes(after, kind):  # a UNet++ has an up-sampler per node
            old, new = getattr(before, kind)[i], getattr(after, kind)[i]
            if old == new:
                continue
            reset_prefix(out, fresh, f"{prefix}.")
            parts = _sampler_parts(prefix, old.type, state)
            site = new_sites[f"{prefix}.1" if kind == "down" else f"{prefix}.conv"]
            if parts is not None:
                write_conv(site, parts, out)
    return out


def _sampler_parts(p: str, old_type: str, state: State) -> ConvParts | None:
    """The old sampler at module path ``p`` (``down.1``, ``up.0.2``) as an identity spatial part
    and a ``(C_out, C_in)`` pointwise (see :func:`carry_decouple`), or ``None`` where there is no
    cheap approximation."""
    if old_type == "strided_conv":  # Sequential(Conv2d(C_in, C_out, k, stride=2))
        return ConvParts(None, state[f"{p}.0.weight"].sum((2, 3)), state.get(f"{p}.0.bias"))
    if old_type == "separable_strided":  # Sequential(depthwise (C_in, 1, k, k), 1x1 (C_out, C_in))
        taps = state[f"{p}.0.weight"].sum((1, 2, 3))
        return ConvParts(None, state[f"{p}.1.weight"][:, :, 0, 0] * taps[None, :], state.get(f"{p}.1.bias"))
    if old_type == "pixel_unshuffle":  # 1x1 (C_out/4, C_in): channel c*4 + t is sub-position t of c
        return ConvParts(None, state[f"{p}.0.weight"][:, :, 0, 0].repeat_interleave(4, dim=0), None)
    if old_type == "pixel_shuffle":  # 1x1 (4 C_out, C_in): channel o*4 + t is sub-position t of o
        w = state[f"{p}.0.weight"][:, :, 0, 0]
        return ConvParts(None, w.reshape(w.shape[0] // 4, 4, w.shape[1]).mean(1), None)
    if old_type == "transposed_conv":  # ConvTranspose2d weight (C_in, C_out, k, k)
        return ConvParts(None, state[f"{p}.0.weight"].mean((2, 3)).t(), state.get(f"{p}.0.bias"))
    return None
