"""Search spaces: which transforms a search may apply to a seed, and their domains (the schema).

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
    portion per stage). The addresses are those a transform parameter accepts
    (:func:`roadmap.addresses.parse_address`): ``encoder[i]``, ``middle[j]``, ``decoder[i]``,
    ``down[i]``, ``up[i]``, ``skips[i]``, ``level[i]`` or ``middle``.

How a trial draws a point of the space and turns it into transform steps (``null`` values,
steps a candidate cannot take, the Optuna parameter names) is :mod:`roadmap.search.sampling`.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from roadmap.addresses import parse_address
from roadmap.errors import RoadmapError
from roadmap.transforms import list_transforms

__all__ = [
    "Domain",
    "StepSpace",
    "SearchSpace",
    "parse_space",
    "load_space",
    "default_space_path",
    "is_number",
    "check_space",
]

DOMAIN_KEYS = ("choice", "low", "high", "step", "log", "subset", "min_size", "max_size", "per")
_SCALAR = (bool, int, float, str, type(None))
# The keys each domain kind allows besides ``per``.
_KIND_KEYS = {
    "choice": {"choice"},
    "subset": {"subset", "min_size", "max_size"},
    "range": {"low", "high", "step", "log"},
}


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
        """The YAML form of the domain (a fixed value as itself)."""
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
        """The YAML form of the step."""
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
        """The YAML form of the space."""
        return {"version": 1, "seed": self.seed, "steps": [s.to_dict() for s in self.steps]}

    def fingerprint(self) -> str:
        """A short hash of the canonical content (the study remembers it)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_number(v: Any) -> bool:
    """A finite int or float (booleans are not numbers here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# --------------------------------------------------------------------------- domains


def _fail(where: str, message: str) -> RoadmapError:
    return RoadmapError(f"{where}: {message}")


def _parse_domain(where: str, raw: Any) -> Domain:
    """A parameter's value: a domain when it is a mapping with a domain key, else a fixed value."""
    if not isinstance(raw, dict) or not (set(raw) & {"choice", "low", "high", "subset", "per"}):
        _check_const(where, raw)
        return Domain("const", value=copy.deepcopy(raw))
    unknown = sorted(set(raw) - set(DOMAIN_KEYS), key=str)
    if unknown:
        raise _fail(f"{where}.{unknown[0]}", f"unknown key (a domain takes {', '.join(DOMAIN_KEYS)})")
    per = _parse_per(where, raw["per"]) if "per" in raw else None
    raw = {k: v for k, v in raw.items() if k != "per"}
    if per is not None and not (set(raw) & {"choice", "low", "high", "subset"}):
        raise _fail(where, "'per' needs a domain beside it (choice, low/high or subset)")
    kind = _domain_kind(where, raw)
    parse = {"choice": _parse_choice, "subset": _parse_subset, "range": _parse_range}[kind]
    return parse(where, raw, per)


def _parse_per(where: str, addresses: Any) -> tuple[str, ...]:
    """The ``per`` list: unique transform addresses (the grammar of roadmap.addresses)."""
    if not isinstance(addresses, list) or not addresses or not all(isinstance(a, str) for a in addresses):
        raise _fail(f"{where}.per", "must be a non-empty list of addresses, e.g. ['level[0]', 'middle[0]']")
    if len(set(addresses)) != len(addresses):
        raise _fail(f"{where}.per", "addresses must be unique")
    for text in addresses:
        try:
            address = parse_address(text)
        except RoadmapError as exc:
            raise _fail(f"{where}.per", str(exc)) from None
        except ValueError:  # int() of an index of thousands of digits (Python's own limit)
            raise _fail(f"{where}.per", f"{text[:30]}...: the index is too large") from None
        # a transform refuses a negative index on every spec: so does the space, early
        if address.index is not None and address.index < 0:
            raise _fail(f"{where}.per", f"{text} does not exist (indices start at 0)")
    return tuple(addresses)


def _domain_kind(where: str, raw: dict) -> str:
    """``choice``, ``subset`` or ``range``: exactly one, and no key of another kind."""
    kinds = [k for k in ("choice", "subset") if k in raw] + (["range"] if {"low", "high"} & set(raw) else [])
    if len(kinds) != 1:
        raise _fail(where, f"give exactly one of choice, low/high, subset (got {', '.join(kinds)})")
    kind = kinds[0]
    extra = set(raw) - _KIND_KEYS[kind]
    if extra:
        raise _fail(f"{where}.{sorted(extra, key=str)[0]}", f"not allowed with {kind}")
    return kind


def _parse_choice(where: str, raw: dict, per: tuple[str, ...] | None) -> Domain:
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


def _parse_subset(where: str, raw: dict, per: tuple[str, ...] | None) -> Domain:
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


def _parse_range(where: str, raw: dict, per: tuple[str, ...] | None) -> Domain:
    for key in ("low", "high"):
        if key not in raw:
            raise _fail(where, f"a range needs both low and high (missing {key})")
        if not is_number(raw[key]):
            raise _fail(f"{where}.{key}", f"must be a number, got {raw[key]!r}")
    low, high, step, log = raw["low"], raw["high"], raw.get("step"), raw.get("log", False)
    if not low < high:
        raise _fail(f"{where}.high", f"must be greater than low ({low}), got {high}")
    if step is not None and (not is_number(step) or step <= 0):
        raise _fail(f"{where}.step", f"must be a positive number, got {step!r}")
    if not isinstance(log, bool):
        raise _fail(f"{where}.log", f"must be true or false, got {log!r}")
    if log and low <= 0:
        raise _fail(f"{where}.low", f"must be > 0 with log: true, got {low}")
    if log and step is not None:
        raise _fail(f"{where}.step", "cannot be combined with log: true")
    integer = all(isinstance(v, int) for v in (low, high) + ((step,) if step is not None else ()))
    return Domain("range", low=low, high=high, step=step, log=log, integer=integer, per=per)


def _check_const(where: str, v: Any) -> None:
    """A fixed value must be plain data (scalars, lists, mappings with string keys)."""
    if isinstance(v, float) and not math.isfinite(v):
        raise _fail(where, f"must be finite, got {v!r}")
    if isinstance(v, _SCALAR):
        return
    if isinstance(v, list):
        for i, x in enumerate(v):
            _check_const(f"{where}[{i}]", x)
        return
    if isinstance(v, dict):
        for k, x in v.items():
            if not isinstance(k, str):  # JSON (settings.json) keeps string keys only
                raise _fail(where, f"keys must be strings, got {k!r}")
            _check_const(f"{where}.{k}", x)
        return
    raise _fail(where, f"unsupported value {v!r}")


# --------------------------------------------------------------------------- spaces


def parse_space(data: Any, source: str = "<dict>") -> SearchSpace:
    """Validate a search space given as plain data; errors name ``<source>: <field>``."""
    where = source
    if not isinstance(data, dict):
        raise _fail(where, "a search space must be a mapping with a 'steps' list")
    unknown = sorted(set(data) - {"version", "seed", "steps", "description"}, key=str)
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
    known = list_transforms()
    out: list[StepSpace] = []
    for i, raw in enumerate(steps):
        out.append(_parse_step(f"{where}: steps[{i}]", raw, known, {s.name for s in out}))
    return SearchSpace(tuple(out), seed, source)


def _parse_step(at: str, raw: Any, known: list[str], taken: set[str]) -> StepSpace:
    """One entry of ``steps`` (``taken``: the names of the steps before it); errors name ``at``."""
    if not isinstance(raw, dict):
        raise _fail(at, "must be a mapping with 'transform' and 'params'")
    bad = sorted(set(raw) - {"transform", "name", "optional", "params"}, key=str)
    if bad:
        raise _fail(f"{at}.{bad[0]}", "unknown field (allowed: transform, name, optional, params)")
    transform = raw.get("transform")
    if transform not in known:
        raise _fail(f"{at}.transform", f"unknown transform {transform!r} (known: {', '.join(known)})")
    name = raw.get("name", transform)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", name):
        raise _fail(f"{at}.name", f"must be an identifier, got {name!r}")
    if name in taken:
        raise _fail(f"{at}.name", f"{name!r} is used twice; give each step of the same transform its own name")
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
    return StepSpace(transform, name, optional, params)


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


def load_space(source: str | Path | dict, seed: str | None = None, label: str = "<dict>") -> SearchSpace:
    """Load and validate a search space from a path, YAML text or a dict (``label``: what a
    dict's errors name, e.g. the settings.json it was stored in).

    ``seed``: the seed the search runs on; a space written for another seed is refused.
    """
    space = parse_space(source, label) if isinstance(source, dict) else _load_yaml_space(source)
    if seed is not None and space.seed is not None and space.seed != seed:
        raise RoadmapError(f"{space.source}: seed: written for seed {space.seed!r}, not {seed!r}")
    return space


def _load_yaml_space(source: str | Path) -> SearchSpace:
    """A space from a file (a ``Path`` or one-line text) or from YAML text; every error names
    the file and, where it can, the line (:mod:`roadmap.io`)."""
    from roadmap import io

    text_source = str(source)
    if isinstance(source, Path) or "\n" not in text_source:
        path = Path(text_source)
        if not path.is_file():
            raise RoadmapError(f"search space {text_source}: no such file")
        text = io.read_text(path, "search space")
        doc = io.YamlDoc.from_text(text, f"search space {path.name}")
    else:
        doc = io.YamlDoc.from_text(text_source, "search space <text>")
    try:
        return parse_space(doc.data, doc.label)
    except RoadmapError as exc:
        raise doc.error(str(exc)) from None


# --------------------------------------------------------------------------- checking a space


_OMIT = object()  # a parameter left out (the transform's default applies), as a null draw does
_CHECKED: dict[tuple[str, str], list[str]] = {}  # (space fingerprint, seed spec) -> notes
_REFERENCE_COMBOS = 12  # parameter combinations tried to find a valid point of one step


def check_space(space: SearchSpace, seed_spec: Any) -> list[str]:
    """Check every domain value of every step against its transform, before a study exists.

    Each value is tried on the seed, and on the specs the earlier steps lead to (with valid
    values, so that ``more_params`` / ``pdwconv`` see a PConv; with each earlier step left out
    in turn, so that a level a ``depth`` step removes is still there), the step's other
    parameters at a valid value. A value no such spec accepts is tried on the other shipped
    seeds the same way: refused there too, it is an error naming the file, the step and the
    value, quoting the transform::

        search space my.yaml: steps[1].params.portion: 1.7 is refused by pconv (pconv.portion: must be in (0, 1], got 1.7)

    accepted on another seed, it only does not fit this one (e.g. level 3 of a 3-level seed in
    a space written for all variants): returned as a note. Values that fail for some
    candidates only are fine; the search records those skips per trial.
    """
    key = (space.fingerprint(), seed_spec.to_yaml())
    if key not in _CHECKED:
        try:
            _CHECKED[key] = _SpaceCheck(space, seed_spec).run()
        finally:
            _APPLIED.clear()
    return list(_CHECKED[key])


_APPLIED: dict[tuple[str, str, str], tuple[Any, str | None]] = {}  # one check_space run's memo


def _apply(spec: Any, transform: str, params: dict) -> tuple[Any, str | None]:
    """``(new spec, None)`` or ``(None, why the transform refused)``; memoised within a check
    (the same step on the same architecture comes up from several chains)."""
    from roadmap.transforms import apply_transform

    key = (_arch_key(spec), transform, json.dumps(params, sort_keys=True, default=repr))
    if key in _APPLIED:
        return _APPLIED[key]
    try:
        result = apply_transform(spec, transform, **copy.deepcopy(params)), None
    except RoadmapError as exc:
        result = None, str(exc)
    except Exception as exc:  # noqa: BLE001 - a transform that crashes on a value refuses it;
        # better refused here, with the value named, than a crash in the middle of a search
        result = None, f"{type(exc).__name__}: {exc}"
    _APPLIED[key] = result
    return result


def _arch_key(spec: Any) -> str:
    data = spec.to_dict()
    data.pop("provenance", None)
    return json.dumps(data, sort_keys=True)


class _Network:
    """The specs the first steps of a space lead to on one seed: the bases a step is tried on.

    ``full(i)`` applies every step before ``i`` that it can (at the steps' reference values);
    ``skips(i)`` are that chain without one of the steps each, for a value that needs what a
    step removes (a level ``depth`` drops). Built lazily, cheapest first: a step such as
    ``more_params`` with ``rule: cheap`` counts MACs on every spec it is tried on."""

    def __init__(self, seed_spec: Any, steps: tuple[StepSpace, ...]):
        self.seed, self.steps = seed_spec, steps
        self.fulls: list[Any] = [seed_spec]
        self.skip_lists: list[list[Any]] = [[]]
        self.refs: dict[int, dict] = {}
        self.name = str(seed_spec.provenance.get("seed") or seed_spec.name)

    def _step(self, spec: Any, k: int) -> Any:
        return _apply(spec, self.steps[k].transform, self.reference(k))[0] or spec

    def full(self, i: int) -> Any:
        while len(self.fulls) <= i:
            k = len(self.fulls) - 1
            self.fulls.append(self._step(self.fulls[k], k))
        return self.fulls[i]

    def skips(self, i: int) -> list[Any]:
        while len(self.skip_lists) <= i:
            k = len(self.skip_lists) - 1
            self.skip_lists.append([self._step(s, k) for s in self.skip_lists[k]] + [self.full(k)])
        return self.skip_lists[i]

    def bases(self, i: int):
        """The distinct bases of step ``i``: the full chain, the seed, then the skip chains."""
        seen: set[str] = set()
        for spec in itertools.chain((self.full(i), self.seed), _later(lambda: self.skips(i))):
            key = _arch_key(spec)
            if key not in seen:
                seen.add(key)
                yield spec

    def reference(self, i: int) -> dict:
        """Parameters of step ``i`` that apply to some base (the first combination if none does)."""
        if i not in self.refs:
            self.refs[i] = _reference(self.steps[i], list(itertools.islice(self.bases(i), 2)))
        return self.refs[i]

    def accepts(self, i: int, params: dict) -> tuple[bool, str | None]:
        """Whether some base takes step ``i`` with ``params``; else the seed's refusal (or the
        first one). A ``per`` mapping keeps the addresses a base has, as sampling does."""
        reasons = []
        for spec in self.bases(i):
            fitted = _fit_addresses(self.steps[i], params, spec)
            if fitted is None:
                continue
            new, why = _apply(spec, self.steps[i].transform, fitted)
            if new is not None:
                return True, None
            reasons.append((spec is not self.seed, why))
        return False, min(reasons, key=lambda r: r[0])[1] if reasons else None


def _later(make):
    """Iterate over ``make()``, called only when the iteration gets that far."""
    yield from make()


def _fit_addresses(step: StepSpace, params: dict, spec: Any) -> dict | None:
    """``params`` with each ``per`` mapping cut to the addresses ``spec`` has (``None`` when
    one is left empty: sampling leaves that parameter out, so there is nothing to try)."""
    from roadmap.addresses import address_exists

    out = dict(params)
    for key, d in step.params.items():
        if d.per is not None and isinstance(out.get(key), dict):
            kept = {a: v for a, v in out[key].items() if address_exists(spec, a)}
            if not kept:
                return None
            out[key] = kept
    return out


def _probe_values(d: Domain) -> list[Any]:
    """The values of a domain (``per`` aside) worth trying: every choice but null, a range's
    ends and middle (every value of a short integer range), each subset item alone."""
    if d.kind == "const":
        return [d.value]
    if d.kind == "choice":
        return [c for c in d.choices if c is not None]
    if d.kind == "subset":
        return [[c] for c in d.choices]
    if d.integer:
        step = int(d.step or 1)
        count = (int(d.high) - int(d.low)) // step + 1
        if count <= 9:
            return [int(d.low) + k * step for k in range(count)]
        return [int(d.low), int(d.low) + (count // 2) * step, int(d.low) + (count - 1) * step]
    if d.step:
        count = int(math.floor((d.high - d.low) / d.step + 1e-9))
        return [d.low, d.low + (count // 2) * d.step, d.low + count * d.step]
    return [d.low, (d.low + d.high) / 2, d.high]


def _reference_values(d: Domain) -> list[Any]:
    """Candidate values of one parameter for a valid point of its step, preferred first."""
    if d.per is not None:
        return [_OMIT]  # sampling leaves an empty mapping out
    if d.kind == "subset":
        size = max(d.min_size, 1) if d.max_size != 0 else 0
        return [list(d.choices[:size])] + ([[c] for c in d.choices[1:3]] if size == 1 else [])
    values = _probe_values(d)[:3]
    return ([_OMIT] if d.kind == "choice" and None in d.choices else []) + values


def _reference(step: StepSpace, bases: list[Any]) -> dict:
    keys = list(step.params)
    combos = itertools.islice(itertools.product(*(_reference_values(step.params[k]) for k in keys)),
                              _REFERENCE_COMBOS)
    first = None
    for combo in combos:
        params = {k: v for k, v in zip(keys, combo) if v is not _OMIT}
        first = params if first is None else first
        if any(_apply(spec, step.transform, params)[0] is not None for spec in bases):
            return params
    return first or {}


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class _SpaceCheck:
    """One run of :func:`check_space`."""

    def __init__(self, space: SearchSpace, seed_spec: Any):
        self.space, self.steps = space, space.steps
        self.main = _Network(seed_spec, space.steps)
        self.others: list[_Network] | None = None
        self.notes: list[str] = []

    def run(self) -> list[str]:
        for i, step in enumerate(self.steps):
            for key, d in step.params.items():
                if d.per is not None:
                    self._check_addresses(i, key, d.per)
                for field_name, value, tries in self._probes(i, key, d):
                    self._check_value(i, f"params.{field_name}", value, tries)
        return self.notes

    def _probes(self, i: int, key: str, d: Domain):
        """``(field, shown value, params, addresses)`` for each value: a ``per`` value at every
        address at once (alone, a value equal to the seed's may change nothing), then, if
        that is refused, at each address alone."""
        inner = replace(d, per=None) if d.per is not None else d
        values = _probe_values(inner)
        for value in values:
            shown = value[0] if d.kind == "subset" else value
            if d.per is None:
                yield key, shown, [{key: value}]
                continue
            alt = next((v for v in values if v != value), value)  # so that something changes
            mixed = {a: value if k == 0 else alt for k, a in enumerate(d.per)}
            yield key, shown, [{key: {a: value for a in d.per}}, {key: mixed}] + [{key: {a: value}} for a in d.per]

    def _check_addresses(self, i: int, key: str, addresses: tuple[str, ...]) -> None:
        """Every ``per`` address names a part of the seed (or of a network the steps before
        ``i`` lead to), as `roadmap apply` requires of a roadmap; one that names nothing is
        refused with the valid ones, not dropped from every draw without a word. An address
        of another variant of the same seed (a space written for all of them) is a note."""
        from roadmap.addresses import address_exists, valid_addresses

        seed = self.main.seed
        missing = [a for a in addresses if not address_exists(seed, a)]
        missing = [a for a in missing if not any(address_exists(base, a) for base in self.main.bases(i))]
        if not missing:
            return
        where = f"{self.space.source}: steps[{i}].params.{key}.per: {', '.join(missing)}"
        has = f"{self.main.name} has {valid_addresses(seed)}"
        family = self.main.name.split("/")[0]
        variants = [o.seed for o in self._other_networks() if o.name.split("/")[0] == family]
        if all(any(address_exists(v, a) for v in variants) for a in missing):
            self.notes.append(f"{where}: never applies to {self.main.name} ({has})")
            return
        raise RoadmapError(f"{where}: {'is' if len(missing) == 1 else 'are'} not a part of the seed ({has})")

    def _check_value(self, i: int, field_name: str, value: Any, tries: list[dict]) -> None:
        """Accepted on this seed with any of ``tries`` (each over the step's reference
        values): fine; else on another seed: a note; else an error."""
        why = None
        for params in tries:
            ok, refusal = self.main.accepts(i, {**self.main.reference(i), **params})
            if ok:
                return
            why = why or refusal
        if why is None:
            return
        where = f"{self.space.source}: steps[{i}].{field_name}"
        for other in self._other_networks():
            if any(other.accepts(i, {**other.reference(i), **params})[0] for params in tries[:1]):
                self.notes.append(f"{where}: {_shown(value)} never applies to {self.main.name} ({why})")
                return
        raise RoadmapError(f"{where}: {_shown(value)} is refused by {self.steps[i].transform} ({why})")

    def _other_networks(self) -> list[_Network]:
        """The other shipped seeds and variants, the main seed's own variants first."""
        if self.others is None:
            from roadmap.seeds import get_seed, list_seeds

            mine = self.main.name.split("/")[0]
            names = sorted(((s, v) for s, vs in list_seeds().items() for v in vs), key=lambda sv: sv[0] != mine)
            self.others = [_Network(get_seed(s, v), self.steps) for s, v in names
                           if f"{s}/{v}" != self.main.name]
        return self.others
