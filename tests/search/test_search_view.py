"""The running search's candidates in memory (`roadmap.search.view`) and the trials its sampler
sees (`roadmap.search.storage.WriterCache`) against the study on disk: at every batch, after a
stop and when a stopped study resumes, they hold exactly what a fresh read of study.db gives
(`load_candidates`, `count_trials`, `read_evaluations`, Optuna's trials)."""

from __future__ import annotations

import pytest

from roadmap.search.results import load_candidates
from roadmap.search.scheduler import Scheduler
from roadmap.search.study import count_trials, open_study, read_evaluations
from roadmap.search.testing import FakeEvaluator
from tests.search.helpers import check_promotion_plan, search


def assert_view_is_the_study(store) -> None:
    """What the scheduler judges from memory is what the study holds: its candidates, and the
    trials the sampler sees (`WriterCache`) against a fresh read of study.db."""
    on_disk = open_study(store.directory)
    assert store.study.get_trials(deepcopy=False) == on_disk.get_trials(deepcopy=False)
    assert store.view.candidates() == load_candidates(on_disk)
    assert store.counts() == count_trials(on_disk)
    assert dict(store.evaluations()) == read_evaluations(on_disk)


@pytest.fixture
def watched(monkeypatch):
    """Checks the view against the study before every batch and after the scheduler closes;
    ``stop_at``: the finished training after which a stop is requested (as the first Ctrl-C)."""
    calls = {"batches": 0, "finished": 0, "stop_at": None, "closed": None, "opened": None}
    next_batch, finished, close, prepare = Scheduler.next_batch, Scheduler.finished, Scheduler.close, Scheduler.prepare

    def checked_next_batch(self):
        assert_view_is_the_study(self.store)
        calls["batches"] += 1
        return next_batch(self)

    def stopping_finished(self, job, result):
        finished(self, job, result)
        calls["finished"] += 1
        if calls["finished"] == calls["stop_at"]:
            self.stop_requested = True

    def checked_close(self):
        close(self)
        assert_view_is_the_study(self.store)
        calls["closed"] = self.store.view.candidates()

    def checked_prepare(self, new_study):
        calls["opened"] = self.store.view.candidates()  # read from the study, before anything runs
        prepare(self, new_study)
        assert_view_is_the_study(self.store)

    monkeypatch.setattr(Scheduler, "next_batch", checked_next_batch)
    monkeypatch.setattr(Scheduler, "finished", stopping_finished)
    monkeypatch.setattr(Scheduler, "close", checked_close)
    monkeypatch.setattr(Scheduler, "prepare", checked_prepare)
    return calls


def test_view_equals_the_study_at_every_batch_with_failures_and_rejections(tmp_path, rungs3, watched):
    # failures at rung 0, a memory limit that rejects some candidates, promotions and replicates
    evaluator = FakeEvaluator(fail_numbers=frozenset(range(4, 9)), unsteady_first=True)
    summary = search(tmp_path / "study", evaluator, budget=10, fidelity=rungs3, max_memory_mb=12.5, concurrency=3)
    counts = count_trials(open_study(tmp_path / "study"))
    assert summary.done == 10 and counts["failed"] >= 1 and counts["pruned"] >= 1
    assert watched["batches"] > 10 and watched["closed"] is not None
    check_promotion_plan(tmp_path / "study")


def test_a_stopped_search_resumes_with_the_candidates_it_stopped_with(tmp_path, rungs3, watched):
    study = tmp_path / "study"
    watched["stop_at"] = 7  # the first of a batch of rung 0: the other one is queued again
    first = search(study, budget=9, fidelity=rungs3, concurrency=2)
    assert first.interrupted and first.done < 9
    stopped_with = watched["closed"]
    assert any(c.state == "PRUNED" for c in stopped_with)  # an interrupted trial, queued again

    watched.update(stop_at=None)
    resumed = search(study)
    assert watched["opened"] == stopped_with  # the resumed scheduler starts from what the first one held
    assert resumed.done == 9 and not resumed.interrupted
    assert watched["closed"] == load_candidates(open_study(study))
    check_promotion_plan(study)
