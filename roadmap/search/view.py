"""The candidates of a running search, in memory and in step with what the search writes.

The study on disk (``study.db``) is the record: a `StudyStore` reads it once when it opens the
study (a new run or a resume) into a `CandidateView`, and from then on every write of the search
goes through the store, which applies it to the view as well (`StudyStore.ask`, ``tell``,
``set_trial_attr``, ``enqueue``, ``note_interrupted``, ``record``, ``record_latency``). The
scheduler judges the candidates from the view, so a batch costs what changed, not a reload of
every trial and evaluation (which made the driver's time per candidate grow with the budget).

The view keeps what `roadmap.search.results.load_candidates` reads -- each trial's state, user
attributes and values, and the study's ``eval:`` / ``latency:`` / ``interrupted:`` attributes,
as their JSON round trip (what SQLite gives back) -- and builds each `Candidate` with the same
function (`results.candidate_from`), again only for the trials that changed. So a view equals a
reload of the study at any point (the tests check it through a search, a stop and its resume).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from roadmap.search.results import Candidate

__all__ = ["CandidateView", "TrialRow", "tally"]

_COUNTED = {"COMPLETE": "complete", "FAIL": "failed", "PRUNED": "pruned", "RUNNING": "running", "WAITING": "waiting"}


@dataclass
class TrialRow:
    """What the view keeps of one Optuna trial: ``state`` is the `TrialState` name."""

    number: int
    state: str
    attrs: dict[str, Any]
    values: list[float] | None = None


def tally(rows: Any) -> dict[str, int]:
    """`roadmap.search.study.count_trials`'s counts of ``(state name, reference)`` pairs."""
    counts = Counter(dict.fromkeys((*_COUNTED.values(), "references"), 0))
    for state, reference in rows:
        counts.update(_contribution(state, reference))
    return _with_budget(counts)


def _contribution(state: str, reference: Any) -> dict[str, int]:
    out = {_COUNTED[state]: 1}
    if state in ("COMPLETE", "FAIL") and reference:
        out["references"] = 1
    return out


def _with_budget(counts: Counter[str]) -> dict[str, int]:
    out = {k: counts[k] for k in (*_COUNTED.values(), "references")}
    out["budget_used"] = out["complete"] + out["failed"] - out["references"]
    return out


def _stored(value: Any) -> Any:
    """``value`` as the study gives it back: Optuna stores attributes as JSON."""
    return json.loads(json.dumps(value))


class CandidateView:
    """Every trial of a study and its evaluations as `Candidate`\\ s, updated by the calls of the
    `StudyStore` that wrote them (see the module docstring). ``version`` grows with every change,
    so a caller may keep what it computed from one version."""

    def __init__(self, study: Any):
        from roadmap.search.study import split_study_attrs

        self.rows: dict[int, TrialRow] = {}
        self.evaluations: dict[tuple[int, int, int], dict[str, Any]] = {}
        self.by_trial: dict[int, dict[tuple[int, int], dict[str, Any]]] = {}
        self.latencies: dict[int, dict[str, Any]] = {}
        self.interrupted: dict[int, Any] = {}
        self._counts: Counter[str] = Counter()
        self._built: dict[int, Candidate] = {}
        self._dirty: set[int] = set()
        self._list: list[Candidate] | None = None
        self.version = 0
        self.changes: Counter[Any] = Counter()  # kind -> writes: "trial", ("eval", rung), "latency", "note"
        evaluations, self.latencies, self.interrupted = split_study_attrs(study.user_attrs)
        for key, record in evaluations.items():
            self._add_evaluation(key, record)
        for t in study.get_trials(deepcopy=False):
            self.set_trial(t.number, t.state.name, t.user_attrs, t.values, stored=True)

    # ------------------------------------------------------------------ updates

    def set_trial(
        self, number: int, state: str, attrs: dict[str, Any], values: list[float] | None = None, stored: bool = False
    ) -> None:
        """Trial ``number`` as it now is (``stored``: the values came from the study already)."""
        old = self.rows.get(number)
        if old is not None:
            self._counts.subtract(_contribution(old.state, old.attrs.get("reference")))
        attrs = dict(attrs) if stored else _stored(attrs)
        row = TrialRow(number, state, attrs, None if values is None else [float(v) for v in values])
        self.rows[number] = row
        self._counts.update(_contribution(state, attrs.get("reference")))
        self._touch(number, "trial")

    def set_attr(self, number: int, key: str, value: Any) -> None:
        """One user attribute of trial ``number`` (its state unchanged)."""
        row = self.rows[number]
        self._counts.subtract(_contribution(row.state, row.attrs.get("reference")))
        row.attrs[key] = _stored(value)
        self._counts.update(_contribution(row.state, row.attrs.get("reference")))
        self._touch(number, "trial")

    def add_evaluation(self, number: int, rung: int, random_seed: int, record: dict[str, Any]) -> None:
        self._add_evaluation((number, rung, random_seed), _stored(record))
        self._touch(number, ("eval", rung))

    def set_latency(self, number: int, figures: dict[str, Any]) -> None:
        self.latencies[number] = _stored(figures)
        self._touch(number, "latency")

    def set_interrupted(self, number: int, text: str) -> None:
        self.interrupted[number] = text
        self._touch(number, "note")

    def _add_evaluation(self, key: tuple[int, int, int], record: dict[str, Any]) -> None:
        self.evaluations[key] = record
        self.by_trial.setdefault(key[0], {})[key[1:]] = record

    def _touch(self, number: int, kind: Any) -> None:
        self._dirty.add(number)
        self._list = None
        self.version += 1
        self.changes[kind] += 1

    # ------------------------------------------------------------------ reads

    def candidates(self) -> list[Candidate]:
        """Every trial as a `Candidate`, by trial number (only changed trials are rebuilt)."""
        from roadmap.search.results import candidate_from

        if self._list is None:
            for number in self._dirty:
                row = self.rows.get(number)
                if row is None:  # an evaluation or a note of a trial the study does not hold
                    continue
                self._built[number] = candidate_from(
                    row.number,
                    row.state,
                    row.attrs,
                    row.values,
                    self.by_trial.get(number, {}),
                    self.latencies.get(number),
                    self.interrupted.get(number),
                )
            self._dirty.clear()
            self._list = [self._built[n] for n in sorted(self._built)]
        return self._list

    def counts(self) -> dict[str, int]:
        """`roadmap.search.study.count_trials` of the study, kept as the states change."""
        return _with_budget(self._counts)

    def evaluation_records(self) -> Mapping[tuple[int, int, int], dict[str, Any]]:
        """``(trial, rung, random seed) -> record`` of every evaluation (read-only)."""
        return MappingProxyType(self.evaluations)
