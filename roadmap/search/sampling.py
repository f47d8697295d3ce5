"""Drawing points of a search space on Optuna trials, and the inverse mapping.

:func:`suggest` turns a trial into transform steps for the seed; :func:`params_for_steps`
gives the Optuna parameters that make :func:`suggest` return given steps (to enqueue the
reference roadmaps). The schema of a space is :mod:`roadmap.search.space`.

A parameter drawn as ``null`` is not passed (the transform's default applies); in a
``per`` mapping, ``null`` leaves that address out, as do addresses the candidate no longer
has (after a ``depth`` step). A step the candidate cannot take (its transform raises
``SpecError``: ``more_params`` without a PConv, ``pdwconv`` without one, a level a ``depth``
step removed, ...) is left out of the candidate, so every candidate is a valid spec; the
trial's ``transforms`` attribute lists the steps actually applied (``skipped_steps`` the
others, with the reason).

Every parameter is suggested for every trial, whether or not its step is on, so the
sampler sees a fixed set of genes (NSGA-II crosses over and mutates fixed vectors).

Parameter names in the Optuna study: ``<name>`` (the on/off switch of an optional step),
``<name>.<param>``, ``<name>.<param>[<address>]`` (``per``) and ``<name>.<param>.<value>``
(``subset``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from roadmap.addresses import address_exists
from roadmap.errors import SpecError
from roadmap.search.space import Domain, SearchSpace, StepSpace, is_number

__all__ = ["suggest", "params_for_steps"]


# --------------------------------------------------------------------------- suggesting


def _encoded(choices: tuple[Any, ...]) -> bool:
    """Whether the choices are stored as JSON text (Optuna only stores scalars)."""
    return any(isinstance(c, (list, dict)) for c in choices)


def _suggest_scalar(trial: Any, name: str, d: Domain) -> Any:
    if d.kind == "choice":
        if _encoded(d.choices):  # lists / mappings: Optuna stores their JSON text
            text = trial.suggest_categorical(name, [json.dumps(c, sort_keys=True) for c in d.choices])
            return json.loads(text)
        return trial.suggest_categorical(name, list(d.choices))
    low, high = _bounds(d)
    if d.integer:
        return trial.suggest_int(name, int(low), int(high), step=int(d.step or 1), log=d.log)
    return trial.suggest_float(name, float(low), float(high), step=d.step, log=d.log)


def _bounds(d: Domain) -> tuple[float, float]:
    """A range's ``(low, high)``: the space's parser sets both for every ``range``."""
    assert d.low is not None and d.high is not None, d
    return d.low, d.high


def _addresses(d: Domain) -> tuple[str, ...]:
    """A ``per`` domain's addresses (called only for those)."""
    assert d.per is not None, d
    return d.per


def _suggest_value(trial: Any, name: str, d: Domain) -> tuple[Any, bool]:
    """(value, ok). ``ok`` is False when a subset draw is outside its size limits."""
    if d.kind == "const":
        return copy.deepcopy(d.value), True
    if d.kind == "subset":
        picked = [v for v in d.choices if trial.suggest_categorical(f"{name}.{v}", [True, False])]
        ok = d.min_size <= len(picked) <= (d.max_size if d.max_size is not None else len(d.choices))
        return picked, ok
    return _suggest_scalar(trial, name, d), True


def _suggest_per(trial: Any, name: str, d: Domain, spec: Any) -> dict[str, Any]:
    """One draw per address; kept where it is not ``null`` and ``spec`` has the address."""
    inner = replace(d, per=None)
    mapping = {}
    for address in _addresses(d):
        value, ok = _suggest_value(trial, f"{name}[{address}]", inner)
        if ok and value is not None and address_exists(spec, address):
            mapping[address] = value
    return mapping


def _suggest_params(trial: Any, step: StepSpace, spec: Any) -> tuple[dict[str, Any], bool]:
    """(params, ok) of one step; every parameter is suggested even when ``ok`` is False."""
    params: dict[str, Any] = {}
    ok = True
    for key, d in step.params.items():
        name = f"{step.name}.{key}"
        if d.per is not None:
            value = _suggest_per(trial, name, d, spec) or None  # an empty mapping is left out
        else:
            value, fits = _suggest_value(trial, name, d)
            ok = ok and fits
        if value is not None:
            params[key] = value
    return params, ok


def suggest(
    trial: Any,
    space: SearchSpace,
    seed_spec: Any,
    apply_transform: Callable[..., Any] | None = None,
    skipped: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Suggest every parameter of ``space`` on ``trial`` and return the transform steps
    (``[{"transform": name, "params": {...}}, ...]``) to apply to ``seed_spec``.

    The steps are applied one by one while suggesting (``apply_transform(spec, name,
    **params)``, default :func:`roadmap.transforms.apply_transform`):

    * a parameter drawn as ``null`` is left out (the transform's default applies), and a
      ``per`` mapping keeps only the addresses the candidate still has and whose value is
      not ``null``;
    * a step the candidate cannot take (the transform raises
      :class:`~roadmap.errors.SpecError`, e.g. ``more_params`` without a PConv, or a level
      a ``depth`` step removed) is left out, and described in ``skipped`` if given.

    So the returned steps always apply cleanly to ``seed_spec``.
    """
    if apply_transform is None:
        from roadmap.transforms import apply_transform as default_transform

        apply_transform = default_transform
    spec = seed_spec
    steps: list[dict[str, Any]] = []
    for step in space.steps:
        on = trial.suggest_categorical(step.name, [True, False]) if step.optional else True
        params, ok = _suggest_params(trial, step, spec)
        if not (on and ok):
            continue
        try:
            spec = apply_transform(spec, step.transform, **copy.deepcopy(params))
        except SpecError as exc:
            if skipped is not None:
                skipped.append({"step": step.name, "reason": str(exc)})
            continue
        steps.append({"transform": step.transform, "params": params})
    return steps


# --------------------------------------------------------------------------- the inverse


def params_for_steps(space: SearchSpace, steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Optuna parameters of ``space`` that make :func:`suggest` return exactly ``steps``
    (assuming every step applies), or ``None`` when the steps are not a point of the space.
    Used to enqueue the reference roadmaps. Parameters of switched-off steps are left out
    (the sampler fills them in).
    """
    params: dict[str, Any] = {}
    remaining = list(steps)
    for step in space.steps:
        match = remaining[0] if remaining and remaining[0].get("transform") == step.transform else None
        chosen: dict[str, Any] | None = None
        if match is not None:
            chosen = _step_params(step, dict(match.get("params") or {}))
        if chosen is None:
            if not step.optional:
                return None
            params[step.name] = False
            continue
        if step.optional:
            params[step.name] = True
        params.update(chosen)
        remaining.pop(0)
    return params if not remaining else None


def _step_params(step: StepSpace, given: dict[str, Any]) -> dict[str, Any] | None:
    """The parameters of one step that give the params ``given``, or None."""
    chosen: dict[str, Any] = {}
    for key, d in step.params.items():
        value = given.pop(key, None)
        name = f"{step.name}.{key}"
        sub = _per_params(name, d, value) if d.per is not None else _value_params(name, d, value)
        if sub is None:
            return None
        chosen.update(sub)
    if given:  # the steps set a parameter the space does not expose
        return None
    return chosen


def _per_params(name: str, d: Domain, value: Any) -> dict[str, Any] | None:
    """The parameters of a ``per`` domain that give the mapping ``value`` (missing = ``null``)."""
    value = value or {}
    if not isinstance(value, dict) or set(value) - set(_addresses(d)):
        return None
    inner = replace(d, per=None)
    chosen: dict[str, Any] = {}
    for address in _addresses(d):
        sub = _value_params(f"{name}[{address}]", inner, value.get(address))
        if sub is None:
            return None
        chosen.update(sub)
    return chosen


def _same_choice(choice: Any, value: Any) -> bool:
    """Numbers compare by value (0.5 == 0.5, 1 == 1.0), anything else by its JSON text."""
    if is_number(choice) and is_number(value):
        return bool(choice == value)
    return not is_number(choice) and json.dumps(choice, sort_keys=True) == json.dumps(value, sort_keys=True)


def _value_params(name: str, d: Domain, value: Any) -> dict[str, Any] | None:
    """The parameters of a domain (not ``per``) that give ``value``, or None."""
    if d.kind == "const":
        return {} if value == d.value else None
    if d.kind == "choice":
        for c in d.choices:
            if _same_choice(c, value):
                return {name: json.dumps(c, sort_keys=True) if _encoded(d.choices) else c}
        return None
    if value is None:
        return None
    if d.kind == "subset":
        if not isinstance(value, list) or any(v not in d.choices for v in value):
            return None
        return {f"{name}.{v}": v in value for v in d.choices}
    low, high = _bounds(d)
    if not is_number(value) or not low <= value <= high:
        return None
    if d.step is not None:
        k = (value - low) / d.step
        if abs(k - round(k)) > 1e-9:
            return None
    return {name: int(value) if d.integer else float(value)}


def random_steps(space: SearchSpace, seed_spec: Any, count: int, seed: int) -> list[list[dict[str, Any]]]:
    """``count`` step lists drawn at random from ``space`` (Optuna's random sampler, seeded,
    in memory): for constraint checks and calibration sets."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(count):
        trial = study.ask()
        out.append(suggest(trial, space, seed_spec))
        study.tell(trial, 0.0)
    return out


def random_candidates(space: SearchSpace, seed_spec: Any, count: int, seed: int) -> list[Any]:
    """The specs of :func:`random_steps`."""
    from roadmap.transforms import apply_steps

    return [apply_steps(seed_spec, steps) for steps in random_steps(space, seed_spec, count, seed)]
