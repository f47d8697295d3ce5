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

import contextlib
import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
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
    choices: tuple[Any, ...] = ()  # choice / subset items
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

    def to_dict(self) -> dict[str, Any]:
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

    def to_dict(self) -> dict[str, Any]:
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


def _domain_kind(where: str, raw: dict[str, Any]) -> str:
    """``choice``, ``subset`` or ``range``: exactly one, and no key of another kind."""
    kinds = [k for k in ("choice", "subset") if k in raw] + (["range"] if {"low", "high"} & set(raw) else [])
    if len(kinds) != 1:
        raise _fail(where, f"give exactly one of choice, low/high, subset (got {', '.join(kinds)})")
    kind = kinds[0]
    extra = set(raw) - _KIND_KEYS[kind]
    if extra:
        raise _fail(f"{where}.{sorted(extra, key=str)[0]}", f"not allowed with {kind}")
    return kind


def _parse_choice(where: str, raw: dict[str, Any], per: tuple[str, ...] | None) -> Domain:
    values = raw["choice"]
    if not isinstance(values, list) or not values:
        raise _fail(f"{where}.choice", "must be a non-empty list")
    for i, v in enumerate(values):
        if isinstance(v, float) and not math.isfinite(v):
            raise _fail(f"{where}.choice[{i}]", f"must be finite, got {v!r}")
        _check_const(f"{where}.choice[{i}]", v)
    if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
        raise _fail(f"{where}.choice", "values must be unique")
    return Domain("choice", choices=tuple(values), per=per)


def _parse_subset(where: str, raw: dict[str, Any], per: tuple[str, ...] | None) -> Domain:
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


def _parse_range(where: str, raw: dict[str, Any], per: tuple[str, ...] | None) -> Domain:
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
    folder = Path(__file__).resolve().parents[3] / "search_spaces"  # a source checkout
    if not folder.is_dir():
        with contextlib.suppress(ModuleNotFoundError, NotADirectoryError, TypeError):  # pragma: no cover
            folder = Path(str(resources.files("search_spaces")))  # installed package data
    path = folder / f"{seed}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        raise RoadmapError(
            f"no search space ships for seed {seed!r} (shipped: {', '.join(known) or 'none'}); "
            "give one with --space FILE"
        )
    return path


def load_space(source: str | Path | dict[str, Any], seed: str | None = None, label: str = "<dict>") -> SearchSpace:
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
