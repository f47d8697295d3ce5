"""Search spaces: which transforms a search may apply to a seed, and their domains.

A search space is a YAML file (one per seed ships in ``search_spaces/``; a user file is
given with ``--space FILE``)::

    version: 1
    seed: nafnet              # the seed this space is written for (any variant); optional
    steps:                    # tried in this order; each is one transform step
      - transform: pconv      # a transform name (DESIGN.md section 3)
        name: pconv           # optional, unique: prefix of the Optuna parameter names
        optional: true        # a yes/no parameter decides whether the step is applied
        params:               # each parameter: a fixed value or a domain
          portion: {choice: [0.125, 0.25, 0.5]}
          overrides: {per: ["level[0]", "middle[0]"], choice: [0.125, 0.25, 0.5]}
      - transform: pdwconv
        optional: true
        params:
          threshold: {low: 8, high: 32, step: 8}
      - transform: drop_skips
        optional: true
        params:
          levels: {subset: [0, 1, 2], min_size: 1}

Domains (a mapping with one of these keys; anything else is a fixed value):

``{choice: [v, ...]}``
    one of the values. Numbers, strings, booleans and ``null`` are stored as they are in
    Optuna; lists / mappings (e.g. MSIAM ``ratios``) are stored as their JSON text.
``{low: a, high: b, step: s, log: false}``
    a number in ``[a, b]``; integers when ``a``, ``b`` (and ``step``) are integers.
``{subset: [v, ...], min_size: 0, max_size: n}``
    a list of some of the values (one yes/no parameter per value, order kept). A draw
    with fewer than ``min_size`` or more than ``max_size`` values switches the step off.
``{per: [address, ...], <domain>}``
    a mapping ``address -> value``, one draw of ``<domain>`` per address (e.g. a PConv
    portion per stage).

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
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import yaml

from roadmap.errors import RoadmapError

__all__ = [
    "Domain",
    "StepSpace",
    "SearchSpace",
    "load_space",
    "default_space_path",
    "suggest",
    "params_for_steps",
    "TRANSFORM_NAMES",
]

# The transform names of DESIGN.md section 3 (checked again against the registry when it exists).
TRANSFORM_NAMES = ("pconv", "more_params", "pdwconv", "decouple", "msiam", "drop_skips", "depth")
DOMAIN_KEYS = ("choice", "low", "high", "step", "log", "subset", "min_size", "max_size", "per")
_SCALAR = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class Domain:
    """One parameter's domain. ``kind``: ``const``, ``choice``, ``range``, ``subset``.
    ``per`` (addresses) makes it a mapping with one draw per address."""

    kind: str
    value: Any = None  # const
    choices: tuple = ()  # choice / subset items
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    integer: bool = False
    min_size: int = 0
    max_size: int | None = None
    per: tuple[str, ...] | None = None

    def to_dict(self) -> Any:
        if self.kind == "const":
            return self.value
        out: dict[str, Any] = {}
        if self.per is not None:
            out["per"] = list(self.per)
        if self.kind == "choice":
            out["choice"] = list(self.choices)
        elif self.kind == "range":
            out.update(low=self.low, high=self.high)
            if self.step is not None:
                out["step"] = self.step
            if self.log:
                out["log"] = True
        elif self.kind == "subset":
            out["subset"] = list(self.choices)
            out["min_size"] = self.min_size
            if self.max_size is not None:
                out["max_size"] = self.max_size
        return out


@dataclass(frozen=True)
class StepSpace:
    """One step of a search space: a transform, whether it is optional, its param domains."""

    transform: str
    name: str
    optional: bool
    params: dict[str, Domain] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "transform": self.transform,
            "name": self.name,
            "optional": self.optional,
            "params": {k: d.to_dict() for k, d in self.params.items()},
        }


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space (see the module docstring for the YAML form)."""

    steps: tuple[StepSpace, ...]
    seed: str | None = None
    source: str = "<dict>"

    def to_dict(self) -> dict:
        return {"version": 1, "seed": self.seed, "steps": [s.to_dict() for s in self.steps]}

    def fingerprint(self) -> str:
        """A short hash of the canonical content (the study remembers it)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- loading


def default_space_path(seed: str) -> Path:
    """The shipped search space of ``seed`` (``search_spaces/<seed>.yaml``)."""
    folder = Path(__file__).resolve().parents[2] / "search_spaces"  # a source checkout
    if not folder.is_dir():
        try:
            folder = Path(str(resources.files("search_spaces")))  # installed package data
        except (ModuleNotFoundError, NotADirectoryError, TypeError):  # pragma: no cover
            pass
    path = folder / f"{seed}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        raise RoadmapError(
            f"no search space ships for seed {seed!r} (shipped: {', '.join(known) or 'none'}); "
            "give one with --space FILE"
        )
    return path


def _fail(where: str, message: str) -> RoadmapError:
    return RoadmapError(f"{where}: {message}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _parse_domain(where: str, raw: Any) -> Domain:
    if not isinstance(raw, dict) or not (set(raw) & {"choice", "low", "high", "subset", "per"}):
        _check_const(where, raw)
        return Domain("const", value=copy.deepcopy(raw))
    unknown = sorted(set(raw) - set(DOMAIN_KEYS))
    if unknown:
        raise _fail(f"{where}.{unknown[0]}", f"unknown key (a domain takes {', '.join(DOMAIN_KEYS)})")
    per = None
    if "per" in raw:
        addrs = raw["per"]
        if not isinstance(addrs, list) or not addrs or not all(isinstance(a, str) for a in addrs):
            raise _fail(f"{where}.per", "must be a non-empty list of addresses, e.g. ['level[0]', 'middle[0]']")
        if len(set(addrs)) != len(addrs):
            raise _fail(f"{where}.per", "addresses must be unique")
        for a in addrs:
            if not _ADDRESS.fullmatch(a):
                raise _fail(f"{where}.per", f"{a!r} is not an address like level[0], encoder[1], middle[0], stem")
        per = tuple(addrs)
        raw = {k: v for k, v in raw.items() if k != "per"}
        if not (set(raw) & {"choice", "low", "high", "subset"}):
            raise _fail(where, "'per' needs a domain beside it (choice, low/high or subset)")
    kinds = [k for k in ("choice", "subset") if k in raw] + (["range"] if {"low", "high"} & set(raw) else [])
    if len(kinds) != 1:
        raise _fail(where, f"give exactly one of choice, low/high, subset (got {', '.join(kinds)})")
    kind = kinds[0]
    extra = {
        "choice": set(raw) - {"choice"},
        "subset": set(raw) - {"subset", "min_size", "max_size"},
        "range": set(raw) - {"low", "high", "step", "log"},
    }[kind]
    if extra:
        raise _fail(f"{where}.{sorted(extra)[0]}", f"not allowed with {kind}")
    if kind == "choice":
        values = raw["choice"]
        if not isinstance(values, list) or not values:
            raise _fail(f"{where}.choice", "must be a non-empty list")
        for i, v in enumerate(values):
            if isinstance(v, float) and not math.isfinite(v):
                raise _fail(f"{where}.choice[{i}]", f"must be finite, got {v!r}")
            _check_const(f"{where}.choice[{i}]", v)
        if len(set(json.dumps(v, sort_keys=True) for v in values)) != len(values):
            raise _fail(f"{where}.choice", "values must be unique")
        return Domain("choice", choices=tuple(values), per=per)
    if kind == "subset":
        values = raw["subset"]
        if not isinstance(values, list) or not values:
            raise _fail(f"{where}.subset", "must be a non-empty list")
        for i, v in enumerate(values):
            if not isinstance(v, (int, float, str)) or isinstance(v, bool):
                raise _fail(f"{where}.subset[{i}]", f"must be a number or string, got {v!r}")
        if len(set(map(repr, values))) != len(values):
            raise _fail(f"{where}.subset", "values must be unique")
        lo, hi = raw.get("min_size", 0), raw.get("max_size", len(values))
        for key, v in (("min_size", lo), ("max_size", hi)):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= len(values):
                raise _fail(f"{where}.{key}", f"must be an integer in [0, {len(values)}], got {v!r}")
        if lo > hi:
            raise _fail(f"{where}.min_size", f"must be <= max_size ({hi}), got {lo}")
        return Domain("subset", choices=tuple(values), min_size=lo, max_size=hi, per=per)
    # range
    for key in ("low", "high"):
        if key not in raw:
            raise _fail(where, f"a range needs both low and high (missing {key})")
        if not _is_number(raw[key]):
            raise _fail(f"{where}.{key}", f"must be a number, got {raw[key]!r}")
    low, high, step, log = raw["low"], raw["high"], raw.get("step"), raw.get("log", False)
    if not low < high:
        raise _fail(f"{where}.high", f"must be greater than low ({low}), got {high}")
    if step is not None and (not _is_number(step) or step <= 0):
        raise _fail(f"{where}.step", f"must be a positive number, got {step!r}")
    if not isinstance(log, bool):
        raise _fail(f"{where}.log", f"must be true or false, got {log!r}")
    if log and low <= 0:
        raise _fail(f"{where}.low", f"must be > 0 with log: true, got {low}")
    if log and step is not None:
        raise _fail(f"{where}.step", "cannot be combined with log: true")
    integer = all(isinstance(v, int) for v in (low, high) + ((step,) if step is not None else ()))
    return Domain("range", low=low, high=high, step=step, log=log, integer=integer, per=per)


_ADDRESS = re.compile(r"(level|encoder|decoder|middle|down|up|skips)\[\d+\]|stem|head|aggregate")


def _check_const(where: str, v: Any) -> None:
    if isinstance(v, _SCALAR):
        return
    if isinstance(v, list):
        for i, x in enumerate(v):
            _check_const(f"{where}[{i}]", x)
        return
    if isinstance(v, dict):
        for k, x in v.items():
            if not isinstance(k, (str, int)):
                raise _fail(where, f"keys must be strings, got {k!r}")
            _check_const(f"{where}.{k}", x)
        return
    raise _fail(where, f"unsupported value {v!r}")


def _known_transforms() -> tuple[str, ...]:
    try:  # the registry, once the transforms package exists
        from roadmap import transforms as _t  # type: ignore[attr-defined]

        names = getattr(_t, "list_transforms", None) or getattr(_t, "names", None)
        if callable(names):
            return tuple(names())
        registry = getattr(_t, "TRANSFORMS", None)
        if registry is not None:
            return tuple(registry.names() if hasattr(registry, "names") else registry)
    except ImportError:
        pass
    return TRANSFORM_NAMES


def parse_space(data: Any, source: str = "<dict>") -> SearchSpace:
    """Validate a search space given as plain data; errors name ``<source>: <field>``."""
    where = source
    if not isinstance(data, dict):
        raise _fail(where, "a search space must be a mapping with a 'steps' list")
    unknown = sorted(set(data) - {"version", "seed", "steps", "description"})
    if unknown:
        raise _fail(f"{where}: {unknown[0]}", "unknown field (allowed: version, seed, description, steps)")
    version = data.get("version", 1)
    if version != 1:
        raise _fail(f"{where}: version", f"must be 1, got {version!r}")
    seed = data.get("seed")
    if seed is not None and not isinstance(seed, str):
        raise _fail(f"{where}: seed", f"must be a seed name, got {seed!r}")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise _fail(f"{where}: steps", "must be a non-empty list of transform steps")
    known = _known_transforms()
    out: list[StepSpace] = []
    names: set[str] = set()
    for i, raw in enumerate(steps):
        at = f"{where}: steps[{i}]"
        if not isinstance(raw, dict):
            raise _fail(at, "must be a mapping with 'transform' and 'params'")
        bad = sorted(set(raw) - {"transform", "name", "optional", "params"})
        if bad:
            raise _fail(f"{at}.{bad[0]}", "unknown field (allowed: transform, name, optional, params)")
        transform = raw.get("transform")
        if transform not in known:
            raise _fail(f"{at}.transform", f"unknown transform {transform!r} (known: {', '.join(known)})")
        name = raw.get("name", transform)
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", name):
            raise _fail(f"{at}.name", f"must be an identifier, got {name!r}")
        if name in names:
            raise _fail(f"{at}.name", f"{name!r} is used twice; give each step of the same transform its own name")
        names.add(name)
        optional = raw.get("optional", False)
        if not isinstance(optional, bool):
            raise _fail(f"{at}.optional", f"must be true or false, got {optional!r}")
        params_raw = raw.get("params") or {}
        if not isinstance(params_raw, dict):
            raise _fail(f"{at}.params", "must be a mapping of parameter -> value or domain")
        params = {}
        for key, value in params_raw.items():
            if not isinstance(key, str):
                raise _fail(f"{at}.params", f"parameter names must be strings, got {key!r}")
            params[key] = _parse_domain(f"{at}.params.{key}", value)
        out.append(StepSpace(transform, name, optional, params))
    return SearchSpace(tuple(out), seed, source)


def load_space(source: str | Path | dict, seed: str | None = None) -> SearchSpace:
    """Load and validate a search space from a path, YAML text or a dict.

    ``seed``: the seed the search runs on; a space written for another seed is refused.
    """
    if isinstance(source, dict):
        space = parse_space(source)
    else:
        text_source = str(source)
        path = Path(text_source)
        if isinstance(source, Path) or "\n" not in text_source:
            if not path.is_file():
                raise RoadmapError(f"search space {text_source}: no such file")
            label = path.name
            try:
                text = path.read_text()
            except OSError as exc:
                raise RoadmapError(f"search space {text_source}: cannot read ({exc.strerror})") from exc
        else:
            label, text = "<text>", text_source
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise RoadmapError(f"search space {label}: not valid YAML{line} ({problem})") from exc
        space = parse_space(data, f"search space {label}")
    if seed is not None and space.seed is not None and space.seed != seed:
        raise RoadmapError(f"{space.source}: seed: written for seed {space.seed!r}, not {seed!r}")
    return space


# --------------------------------------------------------------------------- suggesting


def _encoded(choices: tuple) -> bool:
    return any(isinstance(c, (list, dict)) for c in choices)


def _suggest_scalar(trial: Any, name: str, d: Domain) -> Any:
    if d.kind == "choice":
        if _encoded(d.choices):  # lists / mappings: Optuna stores their JSON text
            text = trial.suggest_categorical(name, [json.dumps(c, sort_keys=True) for c in d.choices])
            return json.loads(text)
        return trial.suggest_categorical(name, list(d.choices))
    if d.integer:
        return trial.suggest_int(name, int(d.low), int(d.high), step=int(d.step or 1), log=d.log)
    return trial.suggest_float(name, float(d.low), float(d.high), step=d.step, log=d.log)


def _suggest_value(trial: Any, name: str, d: Domain) -> tuple[Any, bool]:
    """(value, ok). ``ok`` is False when a subset draw is outside its size limits."""
    if d.kind == "const":
        return copy.deepcopy(d.value), True
    if d.kind == "subset":
        picked = [v for v in d.choices if trial.suggest_categorical(f"{name}.{v}", [True, False])]
        ok = d.min_size <= len(picked) <= (d.max_size if d.max_size is not None else len(d.choices))
        return picked, ok
    return _suggest_scalar(trial, name, d), True


def address_exists(spec: Any, address: str) -> bool:
    """Whether ``spec`` has the stage / sampler / fusion at ``address``."""
    m = re.fullmatch(r"(\w+)\[(\d+)\]", address)
    if m is None:
        return address in ("stem", "head") or (address == "aggregate" and getattr(spec, "aggregate", None) is not None)
    kind, i = m.group(1), int(m.group(2))
    if kind == "level":
        kind = "encoder"
    seq = getattr(spec, kind, None)
    return isinstance(seq, list) and i < len(seq)


def suggest(
    trial: Any,
    space: SearchSpace,
    seed_spec: Any,
    apply_transform: Callable[..., Any] | None = None,
    skipped: list[dict] | None = None,
) -> list[dict]:
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
        from roadmap.transforms import apply_transform as _apply  # type: ignore[import-not-found]

        apply_transform = _apply
    from roadmap.errors import SpecError

    spec = seed_spec
    steps: list[dict] = []
    for step in space.steps:
        on = True
        if step.optional:
            on = trial.suggest_categorical(step.name, [True, False])
        params: dict[str, Any] = {}
        for key, d in step.params.items():
            pname = f"{step.name}.{key}"
            if d.per is not None:
                inner = _without_per(d)
                mapping = {}
                for addr in d.per:
                    value, ok = _suggest_value(trial, f"{pname}[{addr}]", inner)
                    if ok and value is not None and address_exists(spec, addr):
                        mapping[addr] = value
                if mapping:
                    params[key] = mapping
            else:
                value, ok = _suggest_value(trial, pname, d)
                on = on and ok
                if value is not None:
                    params[key] = value
        if not on:
            continue
        try:
            spec = apply_transform(spec, step.transform, **copy.deepcopy(params))
        except SpecError as exc:
            if skipped is not None:
                skipped.append({"step": step.name, "reason": str(exc)})
            continue
        steps.append({"transform": step.transform, "params": params})
    return steps


def _without_per(d: Domain) -> Domain:
    return Domain(d.kind, d.value, d.choices, d.low, d.high, d.step, d.log, d.integer,
                  d.min_size, d.max_size, None)


def params_for_steps(space: SearchSpace, steps: list[dict]) -> dict[str, Any] | None:
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


def _step_params(step: StepSpace, given: dict) -> dict[str, Any] | None:
    chosen: dict[str, Any] = {}
    for key, d in step.params.items():
        value = given.pop(key, None)
        pname = f"{step.name}.{key}"
        if d.per is not None:
            value = value or {}
            if not isinstance(value, dict) or set(value) - set(d.per):
                return None
            inner = _without_per(d)
            for addr in d.per:
                sub = _value_params(f"{pname}[{addr}]", inner, value.get(addr))
                if sub is None:
                    return None
                chosen.update(sub)
        else:
            sub = _value_params(pname, d, value)
            if sub is None:
                return None
            chosen.update(sub)
    if given:  # the steps set a parameter the space does not expose
        return None
    return chosen


def _value_params(name: str, d: Domain, value: Any) -> dict[str, Any] | None:
    if d.kind == "const":
        return {} if value == d.value else None
    if d.kind == "choice":
        for c in d.choices:
            same = (_is_number(c) and _is_number(value) and c == value) or (
                not _is_number(c) and json.dumps(c, sort_keys=True) == json.dumps(value, sort_keys=True))
            if same:
                return {name: json.dumps(c, sort_keys=True) if _encoded(d.choices) else c}
        return None
    if value is None:
        return None
    if d.kind == "subset":
        if not isinstance(value, list) or any(v not in d.choices for v in value):
            return None
        return {f"{name}.{v}": v in value for v in d.choices}
    if not _is_number(value) or not d.low <= value <= d.high:
        return None
    if d.step is not None:
        k = (value - d.low) / d.step
        if abs(k - round(k)) > 1e-9:
            return None
    return {name: int(value) if d.integer else float(value)}
