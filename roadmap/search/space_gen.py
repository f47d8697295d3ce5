"""The default search space of a spec that has no shipped one (a user's own U-Net).

Built from the spec's structure: every level, stage and skip it has, the transforms whose
rules it can satisfy, and only values that apply to it. Each candidate value is tried on the
spec itself (``apply_transform``); a value no candidate could take is left out, so the space
holds no step that is certain to be skipped. Later steps that need an earlier one (``more_params``
and ``pdwconv`` need PConvs) are tried after it. The result is plain data, the YAML form of
:mod:`roadmap.search.space`, so ``roadmap space SPEC --out space.yaml`` can write it for the user
to edit and pass back with ``--space``.
"""

from __future__ import annotations

from typing import Any

from roadmap.errors import SpecError

__all__ = ["default_space_data"]

PORTIONS = (0.125, 0.25, 0.5)
CAPACITY = (0.5, 0.75, 1.0)
THRESHOLDS = (8, 16, 32)


def _applies(spec: Any, transform: str, **params: Any) -> Any:
    """The transformed spec, or None when ``transform`` refuses these parameters here."""
    from roadmap.transforms import apply_transform

    try:
        return apply_transform(spec, transform, **params)
    except SpecError:
        return None


def _stages(spec: Any) -> list[str]:
    return (
        [f"encoder[{i}]" for i in range(spec.levels)]
        + [f"middle[{j}]" for j in range(len(spec.middle))]
        + [f"decoder[{i}]" for i in range(spec.levels)]
    )


def _step(transform: str, params: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    return {"transform": transform, **({"name": name} if name else {}), "optional": True, "params": params}


def _pconv_steps(spec: Any) -> tuple[list[dict[str, Any]], Any]:
    portions = [p for p in PORTIONS if _applies(spec, "pconv", portion=p) is not None]
    if not portions:
        return [], None
    with_pconv = _applies(spec, "pconv", portion=portions[0])  # the lowest: every raise applies
    per = [a for a in _stages(spec) if any(_applies(spec, "pconv", portion=p, overrides={a: p}) for p in portions)]
    params: dict[str, Any] = {"portion": {"choice": portions}}
    if per:
        params["overrides"] = {"per": per, "choice": [None, *portions]}
    steps = [_step("pconv", params)]
    for rule in ("middle", "cheap"):
        raised = [p for p in CAPACITY if _applies(with_pconv, "more_params", rule=rule, portion=p) is not None]
        if raised:
            steps.append(_step("more_params", {"rule": rule, "portion": {"choice": raised}}, f"more_params_{rule}"))
    thresholds = [t for t in THRESHOLDS if _applies(with_pconv, "pdwconv", threshold=t) is not None]
    return steps, (thresholds, with_pconv)


def _size_steps(spec: Any) -> list[dict[str, Any]]:
    """``width`` (a multiplier for the whole U) and ``blocks`` (per stage), where they apply."""
    steps = []
    multipliers = [m for m in (0.5, 0.75, 1.5) if _applies(spec, "width", multiplier=m) is not None]
    if multipliers:
        steps.append(_step("width", {"multiplier": {"choice": multipliers}}))
    per = [a for a in _stages(spec) if any(_applies(spec, "blocks", depth={a: n}) for n in (1, 2))]
    if per:
        steps.append(_step("blocks", {"depth": {"per": per, "choice": [None, 1, 2, 4]}}))
    return steps


def _attention_steps(spec: Any) -> list[dict[str, Any]]:
    kinds = [k for k in ("sca", "gama", "none") if _applies(spec, "attention", attention=k) is not None]
    return [_step("attention", {"attention": {"choice": kinds}})] if kinds else []


def _skip_steps(spec: Any) -> list[dict[str, Any]]:
    with_skip = [lv for lv in range(spec.levels) if spec.skips[lv].type != "none"]
    droppable = [lv for lv in with_skip if _applies(spec, "drop_skips", levels=[lv]) is not None]  # UNet++: none
    steps = []
    ratio_sets = [None] + [[r] * spec.levels for r in (0.125, 0.25)]
    valid = [
        (t, r)
        for t in range(spec.levels)
        for r in ratio_sets
        if _applies(spec, "msiam", target_level=t, ratios=r) is not None
    ]
    if valid and len(with_skip) >= 2:
        targets = sorted({t for t, _ in valid})
        ratios = [r for r in ratio_sets if any(v == r for _, v in valid)]
        steps.append(_step("msiam", {"target_level": {"choice": targets}, "ratios": {"choice": ratios}}))
    if droppable:
        steps.append(_step("drop_skips", {"levels": {"subset": droppable, "min_size": 1}}))
    return steps


def default_space_data(spec: Any, seed_label: str | None = None) -> dict[str, Any]:
    """The default search space of ``spec`` as plain data (``version``, ``seed``, ``steps``)."""
    steps: list[dict[str, Any]] = []
    depths = [n for n in range(1, spec.levels) if _applies(spec, "depth", levels=n) is not None]
    if depths:
        steps.append(_step("depth", {"levels": {"choice": depths}}))
    steps += _size_steps(spec)
    pconv_steps, pdw = _pconv_steps(spec)
    steps += pconv_steps
    directions = [d for d in ("down", "up", "both") if _applies(spec, "decouple", direction=d) is not None]
    if directions:
        steps.append(_step("decouple", {"direction": {"choice": directions}, "portion": {"choice": list(PORTIONS)}}))
    if pdw and pdw[0]:
        steps.append(_step("pdwconv", {"threshold": {"choice": pdw[0]}}))
    steps += _attention_steps(spec) + _skip_steps(spec)
    # last, so that the other steps apply to the whole network: a deep-supervised UNet++'s
    # depth at inference (candidates differing only in it share one training)
    prunes = [d for d in range(1, spec.built_levels) if _applies(spec, "prune", depth=d) is not None]
    if prunes:
        steps.append(_step("prune", {"depth": {"choice": prunes}}))
    if not steps:
        raise SpecError(f"{spec.name}: no transform applies to this spec, so there is nothing to search")
    return {
        "version": 1,
        "seed": seed_label,
        "description": f"generated from the structure of {spec.name} ({spec.levels} levels)",
        "steps": steps,
    }
