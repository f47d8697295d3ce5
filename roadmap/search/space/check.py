"""Checking a search space against the seed it will search, before a study exists.

`check_space` tries every domain value of every step on the seed, on the specs the earlier
steps lead to and, for a value this seed refuses, on the other shipped seeds: a value no seed
takes is an error naming the file, the step and the value; one that only does not fit this
seed is a note. The schema the space follows is :mod:`roadmap.search.space.schema`.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from roadmap.errors import RoadmapError
from roadmap.search.space.schema import Domain, SearchSpace, StepSpace

__all__ = ["check_space"]


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

        search space my.yaml: steps[1].params.portion: 1.7 is refused by pconv
            (pconv.portion: must be in (0, 1], got 1.7)

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


def _apply(spec: Any, transform: str, params: dict[str, Any]) -> tuple[Any, str | None]:
    """``(new spec, None)`` or ``(None, why the transform refused)``; memoised within a check
    (the same step on the same architecture comes up from several chains)."""
    from roadmap.transforms import apply_transform

    key = (_arch_key(spec), transform, json.dumps(params, sort_keys=True, default=repr))
    if key in _APPLIED:
        return _APPLIED[key]
    result: tuple[Any, str | None]
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
        self.refs: dict[int, dict[str, Any]] = {}
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

    def bases(self, i: int) -> Iterator[Any]:
        """The distinct bases of step ``i``: the full chain, the seed, then the skip chains."""
        seen: set[str] = set()
        for spec in itertools.chain((self.full(i), self.seed), _later(lambda: self.skips(i))):
            key = _arch_key(spec)
            if key not in seen:
                seen.add(key)
                yield spec

    def reference(self, i: int) -> dict[str, Any]:
        """Parameters of step ``i`` that apply to some base (the first combination if none does)."""
        if i not in self.refs:
            self.refs[i] = _reference(self.steps[i], list(itertools.islice(self.bases(i), 2)))
        return self.refs[i]

    def accepts(self, i: int, params: dict[str, Any]) -> tuple[bool, str | None]:
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


def _later(make: Callable[[], Iterable[Any]]) -> Iterator[Any]:
    """Iterate over ``make()``, called only when the iteration gets that far."""
    yield from make()


def _fit_addresses(step: StepSpace, params: dict[str, Any], spec: Any) -> dict[str, Any] | None:
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
    low, high = d.low, d.high
    assert low is not None and high is not None, d  # a range: the parser sets both
    if d.integer:
        step = int(d.step or 1)
        count = (int(high) - int(low)) // step + 1
        if count <= 9:
            return [int(low) + k * step for k in range(count)]
        return [int(low), int(low) + (count // 2) * step, int(low) + (count - 1) * step]
    if d.step:
        count = math.floor((high - low) / d.step + 1e-9)
        return [low, low + (count // 2) * d.step, low + count * d.step]
    return [low, (low + high) / 2, high]


def _reference_values(d: Domain) -> list[Any]:
    """Candidate values of one parameter for a valid point of its step, preferred first."""
    if d.per is not None:
        return [_OMIT]  # sampling leaves an empty mapping out
    if d.kind == "subset":
        size = max(d.min_size, 1) if d.max_size != 0 else 0
        return [list(d.choices[:size])] + ([[c] for c in d.choices[1:3]] if size == 1 else [])
    values = _probe_values(d)[:3]
    return ([_OMIT] if d.kind == "choice" and None in d.choices else []) + values


def _reference(step: StepSpace, bases: list[Any]) -> dict[str, Any]:
    keys = list(step.params)
    combos = itertools.islice(itertools.product(*(_reference_values(step.params[k]) for k in keys)), _REFERENCE_COMBOS)
    first = None
    for combo in combos:
        params = {k: v for k, v in zip(keys, combo, strict=False) if v is not _OMIT}
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

    def _probes(self, i: int, key: str, d: Domain) -> Iterator[tuple[str, Any, list[dict[str, Any]]]]:
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
            yield key, shown, [{key: dict.fromkeys(d.per, value)}, {key: mixed}] + [{key: {a: value}} for a in d.per]

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

    def _check_value(self, i: int, field_name: str, value: Any, tries: list[dict[str, Any]]) -> None:
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
            self.others = [_Network(get_seed(s, v), self.steps) for s, v in names if f"{s}/{v}" != self.main.name]
        return self.others
