"""The progress of ``roadmap search`` written to a log (not a terminal): a line per finished
training, at most one per `LOG_EVERY_S` seconds for anything else (asks, rejections)."""
import io
import time

from roadmap.search import run_search
from roadmap.search.progress import LOG_EVERY_S, Progress
from roadmap.search.testing import FakeEvaluator
from tests.search.helpers import evaluations, settings


def test_a_log_gets_a_line_per_finished_training_and_no_more(tmp_path):
    study, stream = tmp_path / "s", io.StringIO()
    s = settings(study, budget=8, fidelity="smoke")
    t0 = time.monotonic()
    run_search(s, FakeEvaluator(), Progress(s.budget, stream=stream, enabled=True))
    elapsed = time.monotonic() - t0
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("[search]")]
    trainings = len(evaluations(study))
    assert trainings <= len(lines) <= trainings + 1 + int(elapsed // LOG_EVERY_S)
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()  # no redraws in a log
    assert lines[-1].startswith("[search] 8/8 candidates")


class _Counts:
    """The part of a scheduler the progress line reads, frozen mid-search."""

    top_rung = 0
    iterations_this_run = 0  # nothing trained yet: the ETA is "?"

    def __init__(self):
        from types import SimpleNamespace

        from roadmap.evaluation.fidelity import get_fidelity

        self.settings = SimpleNamespace(budget=50, fidelity=get_fidelity("smoke"))
        self.store = SimpleNamespace(evaluations=dict)

    def counts(self):
        return {"budget_used": 3, "failed": 0, "pruned": 5}

    def results(self, rung):
        class Empty:
            def finished(self):
                return []
        return Empty()


def test_events_between_trainings_are_throttled_in_a_log():
    stream = io.StringIO()
    progress = Progress(50, stream=stream, enabled=True)
    for _ in range(100):  # rejected candidates, asks: no training finished
        progress.update(_Counts())
    assert len(stream.getvalue().splitlines()) == 1
    progress.update(_Counts(), finished=True)
    assert len(stream.getvalue().splitlines()) == 2
