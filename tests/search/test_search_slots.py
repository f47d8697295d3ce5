"""Slots kept full: a freed slot takes what may start beside the running jobs (the rest of a rung,
candidates already measured), and nothing a running result could change. Searches run on
`SimulatedSlots` (simulated time, trainings that cost what their iterations and MACs say), so
the test sees the schedule itself: the same trainings as batch by batch, in less time, and
measurements only while nothing trains unless no trial shares the measuring machine."""

from __future__ import annotations

import pytest

from roadmap.search.scheduler import Scheduler
from roadmap.search.testing import FakeEvaluator, SimulatedSlots, search_on_slots
from tests.search.helpers import check_promotion_plan, evaluations, settings

SLOTS = 4
BUDGET = 24


class Watched(FakeEvaluator):
    """The fake evaluator, noting how many jobs trained whenever a candidate was measured."""

    def measure(self, spec, device):
        self.timed.setdefault("running at measure", []).append(self.timed["slots"].running)
        return super().measure(spec, device)


def simulate(study, refill: bool, measure_while_training: bool = False, **options) -> tuple[SimulatedSlots, list]:
    """One search of ``study`` on simulated slots: (the slots, the number of jobs training at each
    measurement). Builds what `run_search` builds, with the simulated executor."""
    s = settings(study, budget=BUDGET, sampler="random", concurrency=SLOTS, **options)
    cost = FakeEvaluator(seconds_per_iteration=0.01)
    slots = SimulatedSlots(SLOTS, cost.job_cost, refill=refill)
    evaluator = Watched()
    evaluator.timed["slots"] = slots
    search_on_slots(s, evaluator, slots, measure_while_training)
    return slots, evaluator.timed["running at measure"]


def busy_share(slots: SimulatedSlots) -> float:
    """Busy slot-seconds over slots x the makespan."""
    return sum(b - a for a, b in slots.intervals) / (slots.slots * max(b for _, b in slots.intervals))


@pytest.mark.parametrize("fidelity", ["default", "inherited", "rungs3", "replicated"])
def test_refilled_slots_train_the_same_jobs_sooner_and_measure_only_when_idle(tmp_path, rungs3, fidelity):
    fid = rungs3 if fidelity == "rungs3" else fidelity  # screens promoted, front on the screens, a chain
    batched, _ = simulate(tmp_path / "batched", refill=False, fidelity=fid)
    filled, running = simulate(tmp_path / "filled", refill=True, fidelity=fid)
    # the same trainings (a random sampler proposes the same candidates whatever the timing) ...
    assert set(evaluations(tmp_path / "filled")) == set(evaluations(tmp_path / "batched"))
    check_promotion_plan(tmp_path / "filled")
    # ... in less time, with the slots busier: a promotion's jobs no longer wait for the slowest
    # of a batch. Front on the screens has no promotion, and its screens are measured a batch at
    # a time while nothing trains: its schedule gains nothing, and loses nothing.
    makespan = {name: max(b for _, b in s.intervals) for name, s in (("filled", filled), ("batched", batched))}
    started_beside = any(a < start < b for start, _ in filled.intervals for a, b in filled.intervals)
    if fidelity == "inherited":
        assert makespan["filled"] <= makespan["batched"]
    else:
        assert makespan["filled"] < makespan["batched"] and busy_share(filled) > busy_share(batched)
        assert started_beside
    # every candidate was measured on an idle machine
    assert running and set(running) == {0}
    if fidelity == "replicated":  # every top-rung candidate twice, replicates refilling the slots
        evals = evaluations(tmp_path / "filled")
        assert {n for n, r, s in evals if r == 1 and s == 0} == {n for n, r, s in evals if r == 1 and s == 1}


def test_measuring_beside_trainings_when_no_trial_shares_the_machine(tmp_path):
    filled, _ = simulate(tmp_path / "filled", refill=True)
    apart, running = simulate(tmp_path / "apart", refill=True, measure_while_training=True)
    assert set(evaluations(tmp_path / "apart")) == set(evaluations(tmp_path / "filled"))
    check_promotion_plan(tmp_path / "apart")
    assert max(running) > 0  # new candidates were measured while others trained ...
    assert busy_share(apart) > busy_share(filled)  # ... so exploring left no slot idle


def test_replicates_start_with_the_knee_then_the_longest_first():
    """Every top-rung candidate replicated (``top_seeds`` 2): the knee first (what a stopped search
    recommends), then the others by their top-rung run's seconds, longest first, so that the last
    replicates to start are short ones."""
    from types import SimpleNamespace as NS

    scheduler = Scheduler.__new__(Scheduler)  # only the ordering: no study, no executor
    scheduler.settings, scheduler.trainings = NS(random_seed=0), NS(plan=NS(top_rung=1))
    seconds = {1: 5.0, 2: 9.0, 3: 1.0, 4: 7.0, 5: 3.0, 6: 8.0, 7: 20.0}
    scheduler.store = NS(evaluations=lambda: {(n, 1, 0): {"job_seconds": s} for n, s in seconds.items()})
    done = NS(rung=1, random_seed=1)  # trial 7's replicate has trained already

    def candidate(n, reference=None):
        return NS(number=n, reference=reference, evaluations=[done] if n == 7 else [])

    c, seed = {n: candidate(n) for n in seconds}, candidate(0, "seed")
    top = NS(knee_ranked=lambda: [c[3], c[1], seed, c[2]], finished=lambda: [seed, *c.values()])
    assert [x.number for x in scheduler._unreplicated(top)] == [3, 2, 6, 4, 1, 5]
