"""The transform registry: named, pure ``spec -> spec`` rewrites with typed parameters.

A transform is a function ``fn(spec, **params) -> UNetSpec`` registered with
:func:`register`. It may modify the copy it receives; :func:`apply_transform` hands it a deep
copy, validates the result and appends the step to ``provenance["steps"]``, so replaying the
steps on the seed gives an equal spec.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from roadmap.errors import SpecError
from roadmap.registry import Registry
from roadmap.spec import UNetSpec, validate


def _unknown_transform(name: str, known: tuple[str, ...]) -> SpecError:
    return SpecError(f"unknown transform {name!r}; known: {', '.join(sorted(known))}")


TRANSFORMS: Registry[Callable[..., UNetSpec]] = Registry("transform", _unknown_transform)


def register(name: str) -> Callable:
    """Decorator: register a transform function under ``name`` (names are unique)."""

    def deco(fn: Callable[..., UNetSpec]) -> Callable[..., UNetSpec]:
        TRANSFORMS.add(name, fn)
        fn.transform_name = name  # type: ignore[attr-defined]
        return fn

    return deco


def list_transforms() -> list[str]:
    """The registered transform names, sorted."""
    return sorted(TRANSFORMS)


def transform_parameters(name: str) -> dict[str, object]:
    """Parameter names of a transform and their defaults (``inspect.Parameter.empty`` if required)."""
    sig = inspect.signature(get_transform(name))
    return {p.name: p.default for p in list(sig.parameters.values())[1:]}


def get_transform(name: str) -> Callable[..., UNetSpec]:
    """The transform function registered as ``name`` (`SpecError` naming the known ones)."""
    return TRANSFORMS.lookup(name)


def param_error(transform: str, param: str, message: str) -> SpecError:
    """The error a transform raises for a bad parameter: ``pconv.portion: must be in (0, 1], got 0``."""
    return SpecError(f"{transform}.{param}: {message}")


def apply_transform(spec: UNetSpec, name: str, **params) -> UNetSpec:
    """Apply transform ``name`` to a copy of ``spec``; the original is left unchanged."""
    fn = get_transform(name)
    allowed = transform_parameters(name)
    for key in params:
        if key not in allowed:
            raise SpecError(f"{name}: unknown parameter {key!r} (expected one of {', '.join(allowed)})")
    for key, default in allowed.items():
        if default is inspect.Parameter.empty and key not in params:
            raise SpecError(f"{name}.{key}: required parameter is missing")
    new = fn(spec.copy(), **params)
    try:
        validate(new)
    except SpecError as exc:
        raise SpecError(f"{name} cannot be applied here: {exc}") from None
    provenance = dict(new.provenance)
    provenance["steps"] = [*provenance.get("steps", []), {"transform": name, "params": _plain(params)}]
    new.provenance = provenance
    return new


def apply_steps(spec: UNetSpec, steps: list[dict]) -> UNetSpec:
    """Apply ``[{"transform": name, "params": {...}}, ...]`` in order."""
    for k, step in enumerate(steps):
        if not isinstance(step, dict) or "transform" not in step:
            raise SpecError(f"steps[{k}]: must be a mapping with 'transform' and optional 'params', got {step!r}")
        unknown = set(step) - {"transform", "params", "note"}
        if unknown:
            raise SpecError(f"steps[{k}]: unknown key {sorted(unknown)[0]!r} (expected transform, params, note)")
        params = step.get("params") or {}
        if not isinstance(params, dict):
            raise SpecError(f"steps[{k}].params: must be a mapping, got {params!r}")
        spec = apply_transform(spec, step["transform"], **params)
    return spec


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
