"""Slots kept full: a freed slot takes what may start beside the running jobs (the rest of a rung,
candidates already measured), and nothing a running result could change. Searches run on
`SimulatedSlots` (simulated time, trainings that cost what their iterations and MACs say), so
the test sees the schedule itself: the same trainings as batch by batch, in less time, and
measurements only while nothing trains unless no trial shares the measuring machine."""

from __future__ import annotations

import pytest

from roadmap.search.rung_plan import RungPlan
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


def test_free_slots_confirm_the_no_loss_pick_and_the_front_no_longer_than_the_knees_round():
    """The knee and its two runners-up first; then the fastest that lose nothing and the rest of
    the front, only those that train no longer than the longest of the first three."""
    from types import SimpleNamespace as NS

    scheduler = Scheduler.__new__(Scheduler)  # only the choice: no study, no executor
    scheduler.settings, scheduler.trainings = NS(random_seed=0), NS(plan=NS(top_rung=1))
    seconds = {1: 5.0, 2: 9.0, 3: 1.0, 4: 7.0, 5: 3.0, 6: 8.0, 7: 2.0, 8: 4.0}
    scheduler.store = NS(evaluations=lambda: {(n, 1, 0): {"job_seconds": s} for n, s in seconds.items()})
    done = NS(rung=1, random_seed=1)  # trial 4's replicate has trained already
    c = {n: NS(number=n, reference=None, evaluations=[done] if n == 4 else []) for n in seconds}
    ranked = [c[3], c[4], c[1], c[2], c[6], c[7]]  # the front in knee order
    top = NS(no_loss_ranked=lambda: [c[8], c[6], c[5]])
    # first: 3, 1, 2 (4 is confirmed); then no longer than 9 s: 8, 6, 5, then 7
    assert [x.number for x in scheduler._confirmations(top, ranked)] == [3, 1, 2, 8, 6, 5, 7]
    seconds[2] = 4.5  # the first three's longest is now 5 s: 6 (8 s) waits
    assert [x.number for x in scheduler._confirmations(top, ranked)] == [3, 1, 2, 8, 5, 7]


def test_a_cluster_confirms_more_of_the_front_in_the_knees_round(tmp_path):
    """With more slots than `MAX_CONFIRMATIONS` the round that confirms the knee fills its free
    slots, and lasts no longer than its knee-ranked jobs."""
    from roadmap.search.scheduler import MAX_CONFIRMATIONS

    s = settings(tmp_path / "s", budget=BUDGET, sampler="random", concurrency=12)
    cost = FakeEvaluator(seconds_per_iteration=0.01)
    slots = SimulatedSlots(12, cost.job_cost)
    scheduler = search_on_slots(s, FakeEvaluator(), slots)
    top = scheduler.top_rung
    seed = scheduler.trainings.seed_number
    confirmations = [
        (j, a, b) for j, a, b in slots.trained if j.rung == top and j.random_seed == 1 and j.number != seed
    ]
    first = min(a for _, a, _ in confirmations)
    round_one = [(j, a, b) for j, a, b in confirmations if a == first]
    assert len(round_one) > MAX_CONFIRMATIONS
    assert len(round_one) <= RungPlan.of(s, 3, 12).confirmations()
    knees_jobs = round_one[:MAX_CONFIRMATIONS]  # handed out first, in the order chosen
    assert max(b - a for _, a, b in round_one) == max(b - a for _, a, b in knees_jobs)
    knee_ranked = scheduler.results().knee_ranked()
    assert knee_ranked[0].number in {j.number for j, _, _ in confirmations}  # the knee is confirmed
