"""The progress of ``roadmap search`` written to a log (not a terminal): a line per finished
training, at most one per `LOG_EVERY_S` seconds for anything else (asks, rejections)."""

import io
import time

import pytest

from roadmap.search import run_search
from roadmap.search.progress import LOG_EVERY_S, Progress, eta_seconds, format_seconds
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


# --------------------------------------------------------------------------- the ETA of a known state

# A search of the default fidelity (screen 150 steps, then 1350 from scratch), budget 8, on Ray
# with 2 slots. Every training took 2 s + steps x (0.01 s + 0.03 s x MACs / seed MACs), which
# the ETA's least squares recovers exactly from the four weights and two lengths below.
MACS = {0: 100, 1: 50, 2: 200, 3: 150}  # trial 0 the seed, 1 and 2 reference points, 3 a candidate


def took(steps: int, number: int) -> float:
    return 2.0 + steps * (0.01 + 0.03 * MACS.get(number, 100) / MACS[0])


def record(steps: int, number: int, start: float = 0.0) -> dict:
    return {
        "status": "ok",
        "job_iterations": steps,
        "job_seconds": took(steps, number),
        "ended": start + took(steps, number),
    }


class _Known:
    """The parts of a scheduler the ETA reads: the seed's two base runs and four screens done
    (trials 0-3), nothing promoted yet. The base runs one after the other with a gap of 1 s;
    the screens two by two, 1 s before each batch (its two candidates measured in 0.5 s each)."""

    concurrency = 2
    top_rung = 1
    iterations_this_run = 3000

    def __init__(self):
        from types import SimpleNamespace as NS

        from roadmap.evaluation.fidelity import get_fidelity

        self.settings = NS(budget=8, fidelity=get_fidelity("default"), random_seed=0, execution=NS(backend="ray"))
        self.records = {
            (0, 1, 0): record(1350, 0, 0.0),
            (0, 1, 1): record(1350, 0, 57.0),  # ends 56 and 113
            (0, 0, 0): record(150, 0, 114.0),
            (1, 0, 0): record(150, 1, 114.0),  # ends 122, 119.75
            (2, 0, 0): record(150, 2, 123.0),
            (3, 0, 0): record(150, 3, 123.0),
        }
        references = {0: "seed", 1: "mofa", 2: "unet--"}
        trials = [
            NS(number=n, user_attrs={"metrics": {"macs": m}, "reference": references.get(n)}) for n, m in MACS.items()
        ]
        self.store = NS(evaluations=lambda: dict(self.records), study=NS(get_trials=lambda deepcopy: trials))
        self.factory = NS(
            references={"seed": [], "mofa": [], "unet--": []}, busy=[(113.0, 113.5), (122.0, 122.5)], exhausted=None
        )
        self.trainings = NS(seed_number=0)
        self.proposals, self.pending, self.promoted, self.running, self.done_at_start = {}, [], {}, {}, set()

    def counts(self):
        return {"budget_used": 1, "failed": 0, "pruned": 0}

    def results(self, rung):
        from types import SimpleNamespace as NS

        return NS(finished=list, front=list)


# The gaps: 1 s before the seed's second run (a training that is not a new candidate's); 1 s
# before each batch of screens, 0 for its second: 0.5 s per new candidate. A measurement: 0.5 s.
PER_CANDIDATE, PER_TRAINING, PER_MEASUREMENT = 0.5, 1.0, 0.5


def test_the_eta_of_a_known_state_counts_every_planned_training():
    from roadmap.search.progress import eta_seconds

    # screens left: 8 + 3 - 4 = 7, of the candidates' mean weight 1.5 (10.25 s), 2 at a time: 4 batches
    screens = 4 * took(150, 3)
    # promotions, not decided yet: ceil(11 / 4) + 3 = 6 but the seed's (its base run) = 5, of the mean
    # weight of the screened but the seed (0.5, 2, 1.5 -> 4/3: 69.5 s each), 2 at a time: 3 batches
    promotions = 3 * (2.0 + 1350 * (0.01 + 0.03 * 4 / 3))
    # confirmations: the knee and its runner-up side by side, of the mean weight of all (1.25)
    confirmations = 1 * (2.0 + 1350 * (0.01 + 0.03 * 1.25))
    gaps = PER_CANDIDATE * 7 + PER_TRAINING * (5 + 2)
    side_by_side = PER_MEASUREMENT * 6  # the top rung's 6 candidates timed again before the confirmations
    expected = screens + promotions + confirmations + gaps + side_by_side
    assert expected == pytest.approx(329.125)
    assert eta_seconds(_Known(), now=136.0) == pytest.approx(expected)


def test_once_the_sampler_runs_out_the_eta_plans_no_more_candidates():
    from roadmap.search.progress import eta_seconds

    known = _Known()
    known.factory.exhausted = "100 candidates in a row were rejected"
    # rung 0 holds the 4 screened: ceil(4 / 4) + 3 = 4 promoted, 3 but the seed's, 2 at a time
    promotions = 2 * (2.0 + 1350 * (0.01 + 0.03 * 4 / 3))
    confirmations = 2.0 + 1350 * (0.01 + 0.03 * 1.25)
    expected = promotions + confirmations + PER_TRAINING * (3 + 2) + PER_MEASUREMENT * 4
    assert eta_seconds(known, now=136.0) == pytest.approx(expected)


def test_the_eta_at_the_end_is_what_the_last_confirmation_has_left():
    from roadmap.search.evaluator import TrainJob
    from roadmap.search.progress import eta_seconds

    known = _Known()
    known.promoted = {1: [0, 1, 2, 3]}
    known.records.update({(n, 0, 0): record(150, n, 140.0 + n) for n in range(4, 11)})  # every screen
    known.records.update({(n, 1, 0): record(1350, n, 200.0 + 80 * n) for n in (1, 2, 3)})  # every promotion
    known.records[(1, 1, 1)] = record(1350, 1, 500.0)  # the runner-up's confirmation
    knee = TrainJob(3, 1, 1, "", known.settings.fidelity, chain=(0, 2))  # the whole chain: 1350 steps
    known.running = {(3, 1, 1): (knee, 100.0)}  # the knee's, 30 s in
    assert eta_seconds(known, now=130.0) == pytest.approx(took(1350, 3) - 30.0)


def test_the_progress_line_shows_the_eta(monkeypatch):
    monkeypatch.setattr(time, "perf_counter", lambda: 0.0)
    progress = Progress(8, stream=io.StringIO())
    monkeypatch.setattr(time, "perf_counter", lambda: 136.0)  # the state's time
    assert progress.line(_Known()).endswith("| 2m16s | ETA ~5m29s")  # 329.1 s


def test_the_eta_counts_down_between_estimates(monkeypatch):
    from roadmap.search.progress import STUDY_FIGURES_EVERY_S

    monkeypatch.setattr(time, "perf_counter", lambda: 0.0)
    progress, known = Progress(8, stream=io.StringIO()), _Known()
    monkeypatch.setattr(time, "perf_counter", lambda: 136.0)
    assert progress.line(known).endswith("ETA ~5m29s")  # 329.1 s, worked out
    known.records[(4, 0, 0)] = record(150, 4, 126.0)  # a screen ends: the estimate would change
    monkeypatch.setattr(time, "perf_counter", lambda: 136.0 + STUDY_FIGURES_EVERY_S / 2)
    assert progress.line(known).endswith(f"ETA ~{format_seconds(329.125 - STUDY_FIGURES_EVERY_S / 2)}")  # counted down
    monkeypatch.setattr(time, "perf_counter", lambda: 136.0 + STUDY_FIGURES_EVERY_S)
    worked_out = eta_seconds(known, now=136.0 + STUDY_FIGURES_EVERY_S)
    assert progress.line(known).endswith(f"ETA ~{format_seconds(worked_out)}")  # worked out again


def test_a_phase_on_refilled_slots_takes_its_longest_first_each_on_the_first_free_slot():
    from roadmap.search.progress import TrainingTime, remaining_seconds
    from roadmap.search.rung_plan import Phase

    model = TrainingTime(per_training=0.0, per_step=0.0, per_step_macs=1.0)  # a training lasts its weight
    phase = Phase("rung 1", 1, iterations=1, total=3, done=0)
    # 3 on one slot, 2 and 2 on the other: 4 s (batches of two would take 3 + 2)
    assert remaining_seconds([phase], [[2.0, 3.0, 2.0]], model, slots=2) == pytest.approx(4.0)
    assert remaining_seconds([phase], [[2.0, 3.0, 2.0]], model, slots=1) == pytest.approx(7.0)
