"""From an Optuna trial to a measured candidate ready to train, or a recorded rejection.

For each new trial, in order: the sampler's parameters become transform steps (reference
trials take their roadmap's steps); the steps are applied to the seed (an invalid combination
is a failed trial, which counts); a duplicate of an earlier candidate, or one whose *predicted*
peak memory breaks ``--max-memory-mb``, is rejected (PRUNED, not counted); then latency and
peak memory of the untrained model are measured (while nothing trains) and a candidate over
``--max-latency-ms`` / ``--max-memory-mb`` is rejected too.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from roadmap.errors import SpecError
from roadmap.search import study as st
from roadmap.search.evaluator import MEASURE_KEYS, Evaluator
from roadmap.search.sampling import params_for_steps, suggest
from roadmap.search.settings import SearchSettings

__all__ = ["Proposal", "CandidateFactory", "architecture_key", "REFERENCES"]

REFERENCES = ("seed", "mofa", "unet--")
MAX_REJECTIONS_IN_A_ROW = 100


def architecture_key(spec: Any) -> str:
    """The spec without its name and provenance: step lists that build the same network match."""
    data = spec.to_dict()
    data.pop("provenance", None)
    data.pop("name", None)
    return json.dumps(data, sort_keys=True)


@dataclass
class Proposal:
    """A trial turned into a spec that passed every check and was measured."""

    trial: Any
    spec_yaml: str
    measured: dict[str, Any]


class CandidateFactory:
    """Asks the study for trials and turns them into `Proposal`s (see the module docstring)."""

    def __init__(
        self,
        settings: SearchSettings,
        store: st.StudyStore,
        evaluator: Evaluator,
        references: dict[str, list[dict[str, Any]]],
    ):
        from roadmap.transforms import apply_steps, apply_transform

        self.settings, self.store, self.evaluator = settings, store, evaluator
        self.references = references
        self.apply_steps, self.apply_transform = apply_steps, apply_transform
        self.seed_spec = settings.seed_spec()
        self.seen: dict[str, int] = {}
        self.rejected = self.rejected_in_a_row = 0
        self.exhausted: str | None = None  # why no more candidates are asked for, before the budget
        self.measure_seconds = 0.0
        self.busy: list[tuple[float, float]] = []

    def remember(self, number: int, spec_yaml: str | None) -> None:
        """Mark an earlier candidate as seen (duplicates of it are rejected)."""
        from roadmap.spec import load_spec

        if spec_yaml:
            self.seen.setdefault(architecture_key(load_spec(spec_yaml)), number)

    def enqueue_references(self) -> None:
        """Queue the reference points (seed, then the roadmaps) as the first trials."""
        for name in REFERENCES:
            if name in self.references:
                params = params_for_steps(self.settings.space, self.references[name])
                if params is None:  # not a point of the space: switch every optional step off
                    params = {s.name: False for s in self.settings.space.steps if s.optional}
                self.store.enqueue(params, {"reference": name})

    def propose(self) -> Proposal | None:
        """One new trial made into a measured proposal; ``None`` when it failed or was rejected
        (already recorded as such)."""
        if self.rejected_in_a_row >= MAX_REJECTIONS_IN_A_ROW:
            # No point asking on: exploring ends here (`exhausted`), the search finishes the rest.
            self.exhausted = self.exhausted or (
                f"{self.rejected_in_a_row} candidates in a row were rejected (constraints or duplicates): the "
                f"constraints leave too little of the search space, or it is exhausted{self._best_figures()}; "
                "loosen the constraints or widen the space"
            )
            return None
        trial = self.store.ask()
        spec = self._spec(trial)
        if spec is None:
            return None
        spec_yaml = spec.to_yaml()
        self.store.set_trial_attr(trial, "spec_yaml", spec_yaml)
        st.write_text_atomic(st.trial_dir(self.store.directory, trial.number) / "spec.yaml", spec_yaml)
        measured = self._checked_measurements(trial, spec)
        if measured is None:
            return None
        self.seen[architecture_key(spec)] = trial.number
        self.rejected_in_a_row = 0
        return Proposal(trial, spec_yaml, measured)

    def _best_figures(self) -> str:
        """``(best so far: --max-latency-ms 15 (the fastest candidate took 183.2 ms, 12.2x the
        limit))``, or nothing without a limit."""
        from dataclasses import asdict

        from roadmap.search.results import against_limits, study_results

        results = study_results(self.store.study, 0, candidates=self.store.view.candidates())
        figures = against_limits(results, asdict(self.settings.constraints))
        return f" (best so far: {'; '.join(text for _, text in figures)})" if figures else ""

    def _spec(self, trial: Any) -> Any:
        reference = trial.user_attrs.get("reference")
        skipped: list[dict[str, Any]] = []
        steps: list[dict[str, Any]] = []
        try:
            steps = suggest(trial, self.settings.space, self.seed_spec, self.apply_transform, skipped)
            if reference:
                steps, skipped = copy.deepcopy(self.references.get(reference, [])), []
            spec = self.apply_steps(self.seed_spec, steps)
        except SpecError as exc:
            self.fail(trial, f"invalid spec: {exc}", {"transforms": steps})
            return None
        self.store.set_trial_attr(trial, "transforms", steps)
        self.store.set_trial_attr(trial, "reference", reference)
        if skipped:
            self.store.set_trial_attr(trial, "skipped_steps", skipped)
        key = architecture_key(spec)
        if key in self.seen:
            self.reject(trial, f"duplicate of trial {self.seen[key]}", {})
            return None
        return spec

    def _checked_measurements(self, trial: Any, spec: Any) -> dict[str, Any] | None:
        """Measurements of a candidate within the limits. A reference point over a limit is
        measured and trained anyway -- the seed anchors every comparison -- with its
        ``violations`` recorded, which keeps it off the front."""
        reference = trial.user_attrs.get("reference")
        try:
            static = dict(self.evaluator.check(spec))
        except SpecError as exc:
            self.fail(trial, f"invalid spec: {exc}", {})
            return None
        over = self._violations(static, predicted=True)
        if over and not reference:
            self.reject(trial, over[0], static)
            return None
        measured = self._measure(trial, spec, static)
        if measured is None:
            return None
        over = over or self._violations(measured, predicted=False)
        if over and not reference:
            self.reject(trial, over[0], measured)
            return None
        return {**measured, **({"violations": over} if over else {})}

    def _violations(self, figures: dict[str, Any], predicted: bool) -> list[str]:
        """The limits ``figures`` break, each as one line."""
        limits, out = self.settings.constraints, []
        memory = figures.get("peak_memory_predicted_bytes" if predicted else "peak_memory_measured_bytes")
        if limits.max_memory_mb is not None and memory and memory > limits.max_memory_mb * 2**20:
            out.append(
                f"{'predicted' if predicted else 'measured'} peak memory {memory / 2**20:.1f} MB > "
                f"--max-memory-mb {limits.max_memory_mb:g}"
            )
        latency = None if predicted else figures.get("latency_ms")
        if limits.max_latency_ms is not None and latency is not None and latency > limits.max_latency_ms:
            out.append(f"latency {latency:.1f} ms > --max-latency-ms {limits.max_latency_ms:g}")
        return out

    def _measure(self, trial: Any, spec: Any, static: dict[str, Any]) -> dict[str, Any] | None:
        t0 = time.perf_counter()
        try:
            measured = dict(self.evaluator.measure(spec, self.settings.device))
        except Exception as exc:  # noqa: BLE001 - a candidate must never stop the study
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:400]
            if "out of memory" in reason.lower():
                reason = f"out of memory ({reason})"
            self.fail(trial, f"measurement failed: {reason}", static)
            return None
        finally:
            self.measure_seconds += time.perf_counter() - t0
            self.busy.append((t0, time.perf_counter()))
        for key, value in static.items():
            if measured.get(key) is None:
                measured[key] = value
        return {k: measured.get(k) for k in MEASURE_KEYS}

    def remeasure_latency(self, candidate: Any) -> None:
        """Time ``candidate`` (a `roadmap.search.results.Candidate`) again, while nothing trains,
        and keep the steadier of its two latencies (lower CV). Recorded either way: once a trial."""
        from roadmap.spec import load_spec

        first = candidate.metrics
        again = self._timed(lambda: self.evaluator.measure(load_spec(candidate.spec_yaml), self.settings.device))
        steadier = again if (again.get("latency_cv") or math.inf) < (first.get("latency_cv") or math.inf) else first
        self.store.record_latency(
            candidate.number, _latency_record(steadier, first, "timed again: its CV was over 5 %")
        )

    def retime_side_by_side(self, candidates: list[Any]) -> None:
        """Time ``candidates`` again in one interleaved measurement and record those latencies
        over the earlier ones: measured minutes apart on a machine whose speed drifts, they
        did not compare; side by side they do. Nothing is recorded when it fails."""
        from roadmap.spec import load_spec

        specs = [load_spec(c.spec_yaml) for c in candidates]
        figures = self._timed(lambda: self.evaluator.measure_side_by_side(specs, self.settings.device)) or []
        for c, again in zip(candidates, figures, strict=False):
            record = _latency_record(again, c.metrics, f"timed side by side with {len(candidates)} candidates")
            self.store.record_latency(c.number, {**record, "latency_side_by_side": len(candidates)})

    def _timed(self, measure: Any) -> Any:
        """``measure()`` counted as measurement time; ``{}`` when it raises."""
        t0 = time.perf_counter()
        try:
            return measure()
        except Exception:  # noqa: BLE001 - the earlier measurement stands
            return {}
        finally:
            self.measure_seconds += time.perf_counter() - t0
            self.busy.append((t0, time.perf_counter()))

    # ------------------------------------------------------------------ outcomes without training

    def _close(self, trial: Any, state: str, reason: str, metrics: dict[str, Any]) -> None:
        from optuna.trial import TrialState

        self.store.set_trial_attr(trial, "metrics", metrics)
        self.store.set_trial_attr(trial, "failure_reason", reason)
        st.write_json_atomic(st.trial_dir(self.store.directory, trial.number) / "metrics.json", metrics)
        self.store.tell(trial, state=getattr(TrialState, state))

    def fail(self, trial: Any, reason: str, extra: dict[str, Any]) -> None:
        """A candidate that counts against the budget without a result."""
        if "transforms" in extra:
            self.store.set_trial_attr(trial, "transforms", extra.pop("transforms"))
        self._close(trial, "FAIL", reason, {"status": "failed", "reason": reason, **extra})

    def reject(self, trial: Any, reason: str, measured: dict[str, Any]) -> None:
        """A candidate that is never trained and does not count (constraint, duplicate)."""
        metrics = {"status": "rejected", "reason": reason, **{k: v for k, v in measured.items() if v is not None}}
        self._close(trial, "PRUNED", f"rejected: {reason}", metrics)
        self.rejected += 1
        self.rejected_in_a_row += 1


def _latency_record(kept: dict[str, Any], before: dict[str, Any], how: str) -> dict[str, Any]:
    """What `StudyStore.record_latency` stores: the latency kept, the one before, and why."""
    keys = ("latency_ms", "latency_cv")
    return {**{k: kept.get(k) for k in keys}, "latency_how": how, "latency_before": {k: before.get(k) for k in keys}}
