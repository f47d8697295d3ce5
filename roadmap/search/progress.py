"""The live progress line of ``roadmap search`` (stderr; ``--quiet`` turns it off).

``[search] 12/50 candidates (2 failed, 3 rejected) | rung 1/2: 3/6 | front 5 at rung 0 | 4m12s | ETA ~13m``

On a terminal the line is redrawn in place at every event; otherwise (a log file, a pipe) a
line is written when a training finishes, at most one per `LOG_EVERY_S` seconds otherwise.

The ETA (`eta_seconds`) is the time the trainings still planned will take. The plan
(`roadmap.search.rung_plan.RungPlan`) says which remain: the screens or first rung of the
candidates and reference points (those it has, once the sampler's ran out), every promotion,
the seed's runs and the knee's confirmations. Each is weighed by its candidate's MACs over
the seed's, ``w`` (a candidate not chosen yet weighs the mean of those it will be drawn from;
every ``w`` is 1 while the seed's MACs are unknown). This run's trainings give the throughput,
fitted by least squares (`TrainingTime`)::

    seconds of a training = c + steps x (a + b x w)

(``c`` per training: validation, set-up; ``a`` per step whatever the model: data, optimiser;
``b`` per step in proportion to the MACs), so a training's cost is ``steps x (a + b w) + c``
seconds, or that over ``a + b`` (the seed's seconds per step) in *seed steps*. Then::

    ETA = what the running jobs have left (their estimate minus their age)
          + sum over the phases, in order, of the time their jobs take on the slots
          + the gaps between trainings: a new candidate's, any other's (`Overheads`)
          + the top rung's side-by-side re-timing, while it is to come

``slots`` jobs train side by side (the concurrency on Ray; one at a time in process), a phase's
longest first, each on the slot that frees first, as the scheduler refills a freed slot
(`roadmap.search.scheduler`); a phase starts when the one before it has ended. The gaps are
this run's mean gap before a new candidate's training (sampler, measurement, bookkeeping) and
before any other (bookkeeping). Not foreseen: a knee that moves once confirmed (one more
confirmation), references among the best of a rung (the count of a promotion not decided yet
is then high by them), a Ray cluster whose slots differ in speed.
"""

from __future__ import annotations

import heapq
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from roadmap.search.rung_plan import Key, Phase, RungPlan

__all__ = ["Progress", "format_seconds", "eta_seconds", "remaining_seconds", "TrainingTime"]

LOG_EVERY_S = 30.0
# The front and the ETA are worked out again at most this often: they read every candidate and
# evaluation of the study, and the line is drawn at every training's end (on a terminal, at
# every event); in between the ETA counts down from the last estimate.
STUDY_FIGURES_EVERY_S = 5.0


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m"
    return f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
    """The progress line of a running search, written to ``stream`` (see the module docstring)."""

    def __init__(self, budget: int, stream: TextIO | None = None, enabled: bool = True):
        self.budget = budget
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self._last_text = ""
        self._last_log = -math.inf
        self._drawn = False
        self._study: tuple[float, tuple[int | None, int], float | None] | None = None  # `_whole_study`

    def line(self, scheduler: Any) -> str:
        counts = scheduler.counts()
        extra = f"{counts['failed']} failed" + (f", {counts['pruned']} rejected" if counts["pruned"] else "")
        parts = [f"[search] {counts['budget_used']}/{self.budget} candidates ({extra})"]
        now = time.perf_counter()
        at, (rung, size), eta = self._whole_study(scheduler, now)
        if rung is not None:
            top = rung == scheduler.top_rung and scheduler.plan().retimes_top  # the top after other phases
            parts.append(f"front {size} at rung {rung}" + (" (top)" if top else ""))
        elapsed = now - self.t0
        # no ETA before this run trained something: no throughput to go by
        left = "?" if eta is None or elapsed <= 0 else format_seconds(max(0.0, eta - (now - at)))
        parts += [format_seconds(elapsed), f"ETA ~{left}"]
        return " | ".join(parts)

    def _whole_study(self, scheduler: Any, now: float) -> tuple[float, tuple[int | None, int], float | None]:
        """``(when, (front's rung, its size), ETA seconds)``: the figures that read every candidate,
        worked out again once `STUDY_FIGURES_EVERY_S` have passed."""
        if self._study is None or now - self._study[0] >= STUDY_FIGURES_EVERY_S:
            eta = eta_seconds(scheduler, now) if scheduler.iterations_this_run > 0 else None
            self._study = (now, _front(scheduler), eta)
        return self._study

    def update(self, scheduler: Any, finished: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not self.tty and not finished and now - self._last_log < LOG_EVERY_S:
            return
        text = self.line(scheduler)
        if text == self._last_text and not finished:
            return
        self._last_text, self._last_log = text, now
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
            self._drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """A line that must not be overwritten (notes, warnings). Shown even when quiet."""
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _front(scheduler: Any) -> tuple[int | None, int]:
    """(highest rung with results, size of the front there)."""
    for rung in range(scheduler.top_rung, -1, -1):
        results = scheduler.results(rung)
        if results.finished():
            return rung, len(results.front())
    return None, 0


def eta_seconds(scheduler: Any, now: float | None = None) -> float | None:
    """The seconds a running search has left (see the module docstring); None before a
    training of this run has finished."""
    settings = scheduler.settings
    records = scheduler.store.evaluations()
    this_run = {k: r for k, r in records.items() if k not in scheduler.done_at_start}
    weights, references = _relative_costs(scheduler)
    model = TrainingTime.fit(this_run, weights)
    if model is None:
        return None
    plan = RungPlan.of(
        settings, len(scheduler.factory.references), scheduler.concurrency, _budget(scheduler, records, references)
    )
    seed = scheduler.trainings.seed_number
    phases = plan.phases(records, seed, scheduler.promoted, scheduler.running)
    jobs = [
        _job_weights(p, weights, _pool_weight(p.pool_rung, weights, references, seed, records, settings.random_seed))
        for p in phases
    ]
    slots = scheduler.concurrency if settings.execution.backend == "ray" else 1  # in process: one at a time
    now = time.perf_counter() if now is None else now
    extra = Overheads.observed(this_run, settings.random_seed, scheduler.factory.busy)
    new = sum(p.remaining for p in phases if p.pool_rung is None)  # new candidates' first trainings
    others = sum(p.remaining for p in phases) - new
    side_by_side = (
        plan.counts(scheduler.promoted)[-1] if plan.retimes_top and not (phases[-1].done or phases[-1].running) else 0
    )  # the top rung is timed again before the replicates
    return (
        _running_left(scheduler.running, weights, model, slots, now)
        + remaining_seconds(phases, jobs, model, slots)
        + extra.per_candidate * new
        + extra.per_training * others
        + extra.per_measurement * side_by_side
    )


def _budget(scheduler: Any, records: dict[Key, dict[str, Any]], references: set[int]) -> int:
    """The candidates rung 0 will hold: the budget, or once the sampler's candidates ran out
    (`CandidateFactory.exhausted`) those screened, training or waiting."""
    if not scheduler.factory.exhausted:
        return int(scheduler.settings.budget)
    seed = scheduler.settings.random_seed
    screened = {n for (n, r, s) in records if r == 0 and s == seed} | {n for (n, r, _) in scheduler.running if r == 0}
    waiting = {p.trial.number for p in scheduler.pending}
    return len((screened | waiting) - references)


@dataclass(frozen=True)
class TrainingTime:
    """The wall seconds of one training of ``steps`` steps of a candidate whose MACs are
    ``weight`` times the seed's: ``per_training + steps x (per_step + per_step_macs x weight)``
    (validation and set-up; a step's share that does not scale with the MACs; the rest)."""

    per_training: float
    per_step: float
    per_step_macs: float

    def seconds(self, steps: int, weight: float) -> float:
        return self.per_training + steps * (self.per_step + self.per_step_macs * weight)

    @classmethod
    def fit(cls, records: dict[Key, dict[str, Any]], weights: dict[int, float]) -> TrainingTime | None:
        """Least squares on ``records`` (evaluation key -> record) that ran to the end, with
        coefficients >= 0: the fullest model the records determine (the three terms; then
        without the per-training term, without the MAC-free step; at least time per seed step
        in proportion to the MACs); None without a record."""
        rows, seconds = [], []
        for (number, _, _), rec in records.items():
            took, steps = rec.get("job_seconds"), rec.get("job_iterations")
            if rec.get("shared_from") is None and rec.get("status") == "ok" and took and steps:
                rows.append((1.0, steps, steps * weights.get(number, 1.0)))
                seconds.append(took)
        if not rows:
            return None
        x, y = np.asarray(rows, dtype=float), np.asarray(seconds, dtype=float)
        for terms in ((0, 1, 2), (1, 2), (0, 2), (2,)):
            sub = x[:, terms]
            if np.linalg.matrix_rank(sub) < len(terms):
                continue  # e.g. only the seed's runs so far: one weight, one length
            coef = np.linalg.lstsq(sub, y, rcond=None)[0]
            if np.all(coef >= 0):
                full = dict(zip(terms, coef, strict=False))
                return cls(float(full.get(0, 0.0)), float(full.get(1, 0.0)), float(full.get(2, 0.0)))
        return None


@dataclass(frozen=True)
class Overheads:
    """This run's seconds besides training, from the gap before each of its trainings (from the
    end of those that started before it to its start; side by side, the batch's first has it):
    ``per_candidate`` before a new candidate's first training (the sampler, its measurement,
    bookkeeping), ``per_training`` before any other (the promotion's choice, bookkeeping; a new
    candidate's while no other is timed); ``per_measurement``: the median measurement, for the
    top rung's side-by-side re-timing (taken as one per candidate)."""

    per_candidate: float = 0.0
    per_training: float = 0.0
    per_measurement: float = 0.0

    @classmethod
    def observed(
        cls, records: dict[Key, dict[str, Any]], random_seed: int, measuring: list[tuple[float, float]]
    ) -> Overheads:
        """From this run's evaluation ``records`` (their ``ended`` and ``job_seconds``) and
        measuring intervals (`CandidateFactory.busy`)."""
        timed = sorted(
            (rec["ended"] - rec["job_seconds"], rec["ended"], (rung, seed) == (0, random_seed))
            for (_, rung, seed), rec in records.items()
            if rec.get("ended") is not None and rec.get("job_seconds") is not None and rec.get("shared_from") is None
        )
        gaps: dict[bool, list[float]] = {True: [], False: []}
        latest = timed[0][1] if timed else 0.0  # the first has no gap: before it, Ray's start, the seed's timing
        for start, end, is_new in timed[1:]:
            gaps[is_new].append(max(0.0, start - latest))
            latest = max(latest, end)
        new = sum(gaps[True]) / len(gaps[True]) if gaps[True] else 0.0
        other = sum(gaps[False]) / len(gaps[False]) if gaps[False] else new
        durations = sorted(b - a for a, b in measuring)
        return cls(new, other, durations[len(durations) // 2] if durations else 0.0)


def remaining_seconds(phases: list[Phase], jobs: list[list[float]], model: TrainingTime, slots: int) -> float:
    """The seconds the remaining trainings take: ``jobs[i]`` are the weights (MACs relative to
    the seed's) of the trainings ``phases[i]`` has left, each taking ``model.seconds``; a phase's
    longest first, each on the first of ``slots`` slots to free."""
    total = 0.0
    for phase, weights in zip(phases, jobs, strict=False):
        ends = [0.0] * max(slots, 1)  # a heap: when each slot frees
        for seconds in sorted((model.seconds(phase.iterations, w) for w in weights), reverse=True):
            heapq.heapreplace(ends, ends[0] + seconds)
        total += max(ends)
    return total


def _relative_costs(scheduler: Any) -> tuple[dict[int, float], set[int]]:
    """(trial number -> its MACs over the seed's, the reference points' numbers); no weights
    while the seed's MACs are unknown. A candidate measured and not trained yet is a proposal."""
    found = [
        (t.number, t.user_attrs.get("reference"), (t.user_attrs.get("metrics") or {}).get("macs"))
        for t in scheduler.store.study.get_trials(deepcopy=False)
    ]
    found += [(n, p.trial.user_attrs.get("reference"), p.measured.get("macs")) for n, p in scheduler.proposals.items()]
    macs = {n: m for n, _, m in found if m}
    seed_macs = next((m for _, ref, m in found if ref == "seed" and m), None)
    references = {n for n, ref, _ in found if ref}
    return ({n: m / seed_macs for n, m in macs.items()} if seed_macs else {}), references


def _pool_weight(
    pool_rung: int | None,
    weights: dict[int, float],
    references: set[int],
    seed_number: int | None,
    records: dict[Key, dict[str, Any]],
    random_seed: int,
) -> float:
    """The weight of a training whose candidate is not chosen yet: the mean over the candidates
    recorded at ``pool_rung`` but the seed, whose runs are always known (``None``: the
    sampler's candidates so far); 1 without any."""
    if pool_rung is None:
        numbers = [n for n in weights if n not in references]
    else:
        numbers = [
            n for (n, r, s) in records if r == pool_rung and s == random_seed and n in weights and n != seed_number
        ]
    values = [weights[n] for n in numbers] or list(weights.values())
    return sum(values) / len(values) if values else 1.0


def _job_weights(phase: Phase, weights: dict[int, float], pool: float) -> list[float]:
    """The weights of the trainings ``phase`` has left: its known candidates', the pool's mean
    for the others."""
    known = list(phase.known[: phase.remaining])
    return [weights.get(n, pool) for n in known] + [pool] * (phase.remaining - len(known))


def _running_left(
    running: dict[Key, tuple[Any, float]], weights: dict[int, float], model: TrainingTime, slots: int, now: float
) -> float:
    """What the jobs training now have left: side by side the longest counts, in process the sum."""
    left = [
        max(0.0, model.seconds(job.job_iterations, weights.get(job.number, 1.0)) - (now - started))
        for job, started in running.values()
    ]
    return max(left, default=0.0) if slots > 1 else sum(left)
