"""`SlotPlanner`, the bookkeeping of the Ray Tune executor, driven by hand (no Ray runtime):
which Tune trial carries which job, when a freed slot is held, when the next batch is asked
for, how errors and a stop end up at the job source."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")  # roadmap.search.ray_backend imports it; no runtime is started

from roadmap.evaluation.fidelity import get_fidelity
from roadmap.search.evaluator import TrainJob
from roadmap.search.ray_backend import SlotPlanner

SMOKE = get_fidelity("smoke")
OK = {"status": "ok", "psnr": 30.0}


def job(number: int) -> TrainJob:
    return TrainJob(number, 0, 0, f"spec {number}", SMOKE)


class Source:
    """A job source handing out the given batches, then ``None``. It records every call and
    fails the test when asked for a batch while a job it handed out is unfinished."""

    def __init__(self, *batches: list[TrainJob]):
        self.batches = list(batches)
        self.stop_requested = False
        self.asked = 0
        self.started_numbers: list[int] = []
        self.results: dict[int, dict] = {}

    def next_batch(self) -> list[TrainJob] | None:
        unfinished = set(self.started_numbers) - set(self.results)
        assert not unfinished, f"next batch asked while {sorted(unfinished)} train"
        self.asked += 1
        return self.batches.pop(0) if self.batches else None

    def started(self, j: TrainJob) -> None:
        self.started_numbers.append(j.number)

    def finished(self, j: TrainJob, result: dict) -> None:
        assert j.number not in self.results, f"job {j.number} finished twice"
        self.results[j.number] = result

    def abandon(self, jobs: list[TrainJob]) -> None:
        raise AssertionError("the planner hands abandoned jobs back through abandoned()")


class Holds:
    """The ``open_holds`` callback: counts its calls and returns the new epoch."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def test_two_batches_with_holds_then_done():
    source, holds = Source([job(1), job(2)], [job(3), job(4)]), Holds()
    planner = SlotPlanner(source, 2, holds)
    # batch 1 fills both slots
    assert planner.suggest("t1") == ("job", job(1))
    assert planner.suggest("t2") == ("job", job(2))
    assert source.asked == 1 and source.started_numbers == [1, 2]
    assert planner.suggest("t3") == ("wait", None)  # no free slot
    # job 1 ends while job 2 trains: the freed slot is held, the source is not asked
    planner.complete("t1", OK)
    assert source.results == {1: OK}
    assert planner.suggest("t4") == ("hold", 0)
    assert planner.suggest("t5") == ("wait", None)  # one training + one hold = concurrency
    assert source.asked == 1 and holds.calls == 0
    # job 2 ends: nothing trains, the next batch is asked for and the hold is opened
    planner.complete("t2", OK)
    assert planner.suggest("t6") == ("job", job(3))
    assert source.asked == 2 and holds.calls == 1 and planner.epoch == 1
    planner.complete("t4", {"hold": 1})  # the held slot ends; it was no job
    assert set(source.results) == {1, 2}
    assert planner.suggest("t7") == ("job", job(4))
    # job 3's trial errors: Tune reports the end first, the error text after
    planner.complete("t6", None)
    assert 3 not in source.results
    planner.record_error("t6", "Ray trial error: boom")
    assert source.results[3] == {"status": "failed", "reason": "Ray trial error: boom"}
    planner.record_error("t6", "again")  # a second report changes nothing
    assert source.results[3]["reason"] == "Ray trial error: boom"
    planner.complete("t7", OK)
    # no batch left: done, and any hold still waiting is opened
    assert planner.suggest("t8") == ("done", None)
    assert source.asked == 3 and holds.calls == 2 and planner.done
    assert planner.suggest("t9") == ("done", None) and source.asked == 3
    assert source.started_numbers == [1, 2, 3, 4] and set(source.results) == {1, 2, 3, 4}
    assert planner.abandoned() == []


def test_an_error_without_text_is_a_failed_job_before_the_next_suggestion():
    source = Source([job(1)])
    planner = SlotPlanner(source, 1, Holds())
    assert planner.suggest("t1") == ("job", job(1))
    planner.complete("t1", None)  # errored; no error callback came
    assert planner.suggest("t2") == ("done", None)
    assert source.results[1]["status"] == "failed" and "Ray worker failed" in source.results[1]["reason"]


def test_abandoned_returns_the_jobs_in_flight_and_queued():
    source = Source([job(1), job(2), job(3), job(4)])
    planner = SlotPlanner(source, 2, Holds())
    assert planner.suggest("t1") == ("job", job(1))
    assert planner.suggest("t2") == ("job", job(2))
    planner.complete("t2", None)  # errored, no text yet: it fails, it is not abandoned
    source.stop_requested = True  # Ctrl-C: Tune stops
    assert [j.number for j in planner.abandoned()] == [1, 3, 4]
    assert source.results[2]["status"] == "failed"
    assert planner.abandoned() == []  # handed back once
    assert source.started_numbers == [1, 2]


def test_no_hold_once_a_stop_is_requested():
    source = Source([job(1), job(2)])
    planner = SlotPlanner(source, 2, Holds())
    planner.suggest("t1"), planner.suggest("t2")
    planner.complete("t1", OK)
    source.stop_requested = True
    assert planner.suggest("t3") == ("wait", None)  # job 2 still trains; no new slot is held
    assert [j.number for j in planner.abandoned()] == [2]


def test_an_error_in_next_batch_ends_the_plan_and_is_kept():
    class Broken(Source):
        def next_batch(self):
            raise RuntimeError("the study is locked")

    holds = Holds()
    planner = SlotPlanner(Broken(), 2, holds)
    assert planner.suggest("t1") == ("done", None)
    assert isinstance(planner.error, RuntimeError) and holds.calls == 1


class Refilling(Source):
    """A source that `refills`: asked while jobs train, it answers the next of ``refills`` (a list
    per call, maybe empty); asked with nothing training, its batches as `Source` does."""

    refills = True

    def __init__(self, *batches: list[TrainJob], refills: list[list[TrainJob]]):
        super().__init__(*batches)
        self.refills_left = list(refills)
        self.refilled = 0

    def next_batch(self) -> list[TrainJob] | None:
        if set(self.started_numbers) - set(self.results):
            self.refilled += 1
            return self.refills_left.pop(0) if self.refills_left else []
        return super().next_batch()


def test_a_freed_slot_takes_a_refill_once_per_ended_job():
    source, holds = Refilling([job(1), job(2)], refills=[[job(3)], [], [job(4), job(5)]]), Holds()
    planner = SlotPlanner(source, 2, holds)
    assert planner.suggest("t1") == ("job", job(1)) and planner.suggest("t2") == ("job", job(2))
    assert planner.suggest("t3") == ("wait", None) and source.refilled == 0  # no free slot yet
    planner.complete("t1", OK)  # job 2 still trains: the source is asked what may start beside it
    assert planner.suggest("t3") == ("job", job(3)) and source.refilled == 1
    planner.complete("t2", OK)  # job 3 trains: asked again, nothing may start: the slot is held
    assert planner.suggest("t4") == ("hold", 0) and source.refilled == 2
    assert planner.suggest("t5") == ("wait", None) and source.refilled == 2  # not asked again before a job ends
    planner.complete("t3", OK)  # nothing trains: the next batch as before (none left), and the hold opens
    assert planner.suggest("t6") == ("done", None) and holds.calls == 1
    assert source.refills_left == [[job(4), job(5)]] and source.asked == 2 and source.refilled == 2
    assert source.started_numbers == [1, 2, 3] and set(source.results) == {1, 2, 3}


def test_a_refill_opens_the_held_slots():
    source, holds = Refilling([job(1), job(2), job(3)], refills=[[], [job(4), job(5)]]), Holds()
    planner = SlotPlanner(source, 3, holds)
    for t in ("t1", "t2", "t3"):
        planner.suggest(t)
    planner.complete("t1", OK)
    assert planner.suggest("h1") == ("hold", 0)  # asked, nothing yet
    planner.complete("t2", OK)
    assert planner.suggest("t4") == ("job", job(4)) and holds.calls == 1 and planner.epoch == 1
    planner.complete("h1", {"hold": 1})  # the held slot ends and takes the next job
    assert planner.suggest("t5") == ("job", job(5))
    assert source.started_numbers == [1, 2, 3, 4, 5] and source.asked == 1
