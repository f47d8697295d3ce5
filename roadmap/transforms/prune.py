"""UNet++ pruning: keep the sub-network ``L^d`` of a deep-supervised UNet++ (drop ``i + j > d``).

Unlike ``depth``, which rebuilds a shallower U that has to be trained, ``prune`` keeps the
trained network's weights as they are: with deep supervision every head ``x[0, j]`` was trained,
and the nodes its output needs are exactly those with ``i + j <= d``. One training of the whole
network therefore scores every depth (``evaluate_spec``'s ``psnr_by_depth``), which the search
uses to score depth candidates without training them (``roadmap.search.trainings``).
"""

from __future__ import annotations

import dataclasses

from roadmap.spec import UNetSpec
from roadmap.transforms.registry import param_error, register
from roadmap.transforms.weights import State, carries, default_carry

__all__ = ["prune", "unpruned", "at_depth"]


@register("prune")
def prune(spec: UNetSpec, depth: int) -> UNetSpec:
    """Keep UNet++ ``L^depth``: the nodes ``x[i, j]`` with ``i + j <= depth`` and the heads up to
    ``depth``; the output is head ``depth``. Needs a deep-supervised UNet++ (``nested`` with
    ``deep_supervision: true``), whose heads were all trained; ``depth`` is below its current depth.
    """
    if spec.nested is None or not spec.nested.deep_supervision:
        kind = "a UNet++ without deep supervision" if spec.nested is not None else "not a UNet++ (no nested)"
        raise param_error(
            "prune",
            "depth",
            f"prunes a deep-supervised UNet++ (nested.deep_supervision: true) only; this spec is {kind}",
        )
    current = spec.built_levels
    if current == 1:
        raise param_error("prune", "depth", "nothing left to prune: the network is at depth 1 already")
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth < current:
        raise param_error(
            "prune",
            "depth",
            f"must be an integer in [1, {current - 1}] (below the current depth {current}), got {depth!r}",
        )
    spec.nested = dataclasses.replace(spec.nested, depth=depth)
    return spec


@carries("prune")
def carry_prune(before: UNetSpec, after: UNetSpec, params: dict, state: State, fresh: State) -> State:
    """Exact: every surviving module keeps its name (``decoder.i.j``, ``head.j``, ...), so the
    pruned network takes its weights by name and computes what head ``depth`` of the whole one
    computed; the dropped nodes' weights are left behind."""
    return default_carry(before, after, params, state, fresh)


def at_depth(spec: UNetSpec, depth: int) -> UNetSpec:
    """A copy of the UNet++ ``spec`` built to ``depth`` (its whole network at ``depth == levels``);
    provenance untouched. What one deep-supervised training of ``spec`` scores at that depth."""
    out = spec.copy()
    # a UNet++ spec: `unpruned` checks it, the UNet++ search asks of nothing else
    assert out.nested is not None, "at_depth needs a UNet++ spec"
    out.nested = dataclasses.replace(out.nested, depth=None if depth >= out.levels else depth)
    return out


def unpruned(spec: UNetSpec) -> UNetSpec:
    """The whole network a pruned UNet++ was cut from: ``nested.depth`` cleared and the ``prune``
    steps left out of the provenance (the other steps rebuild it from the seed). A spec without
    ``nested.depth`` comes back equal."""
    if spec.nested is None or spec.nested.depth is None:
        return spec.copy()
    out = at_depth(spec, spec.levels)
    if "steps" in out.provenance:
        out.provenance = {
            **out.provenance,
            "steps": [s for s in out.provenance["steps"] if s.get("transform") != "prune"],
        }
    return out
