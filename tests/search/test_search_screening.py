"""The default plan of a search, with the fake evaluator: the seed trains through every rung
first, every candidate is *screened* from the seed's trained weights (rung 0), and the best
``1 / eta`` train from scratch (rung 1), where the front is declared."""

import math

import pytest

from roadmap.search.testing import FakeEvaluator
from roadmap.spec import load_spec
from tests.search.helpers import check_promotion_plan, counted, evaluations, search, trials

BUDGET = 12
SCREEN = "rungs: [10, 30, 90]\nscreen_iterations: 5\neta: 3\nbatch: 2\ncrop: 32\nval_crop: 32\nval_count: 2\n"


@pytest.fixture(scope="module")
def fidelity_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fidelity") / "screen.yaml"
    path.write_text(SCREEN)
    return str(path)


def screened_study(tmp_path_factory, fidelity_file, evaluator):
    study = tmp_path_factory.mktemp("screen") / "s"
    return study, search(study, evaluator, budget=BUDGET, fidelity=fidelity_file)


@pytest.fixture(scope="module")
def screen_study(tmp_path_factory, fidelity_file):
    return screened_study(tmp_path_factory, fidelity_file, FakeEvaluator())


def spec_of(study, number):
    return load_spec(next(t for t in trials(study) if t.number == number).user_attrs["spec_yaml"])


def test_every_candidate_is_screened_from_the_trained_seed(screen_study):
    study, summary = screen_study
    assert summary.done == counted(study) == BUDGET and summary.top_rung == 1 and not summary.interrupted
    evals, fake = evaluations(study), FakeEvaluator()
    # the seed trained the whole chain from scratch, with its replicate: the noise floor
    assert (evals[(0, 1, 0)]["iterations"], evals[(0, 1, 0)]["job_iterations"]) == (90, 90)
    assert (0, 1, 1) in evals
    screens = {n: rec for (n, r, s), rec in evals.items() if r == 0}
    assert set(screens) == {t.number for t in trials(study) if t.state.name == "COMPLETE"}
    for n, rec in screens.items():
        assert (rec["iterations"], rec["job_iterations"]) == (5, 5)
        # the fake counts inherited weights as a head start: every screen had them
        assert rec["psnr"] == pytest.approx(fake.psnr(spec_of(study, n), 5 + fake.inherited_iterations, 0))
    # the seed's trained weights stay (they start the screens of a resumed search); nothing else
    assert [p.relative_to(study).as_posix() for p in study.glob("trials/*/*.pt")] == ["trials/0/rung1-seed0.pt"]


def test_the_best_third_train_from_scratch_and_carry_the_front(screen_study):
    study, summary = screen_study
    plan = check_promotion_plan(study)  # best ceil(n / eta) by NDS + the reference points
    refs = {t.number for t in trials(study) if t.user_attrs.get("reference")}
    assert refs == {0, 1, 2} and refs <= plan[1]["trained"] < plan[0]["trained"]
    assert len(plan[1]["trained"] - refs) <= math.ceil((BUDGET + len(refs)) / 3)  # references: besides the budget
    evals = evaluations(study)
    for n in plan[1]["trained"]:
        assert (evals[(n, 1, 0)]["iterations"], evals[(n, 1, 0)]["job_iterations"]) == (90, 90)
    assert summary.knee is not None and summary.knee["runs"] == 2 and (summary.knee["number"], 1, 1) in evals
    assert summary.front_size >= 1 and summary.knee["number"] in plan[1]["trained"]


def test_a_resumed_screening_search_trains_nothing_again(screen_study, fidelity_file):
    study, _ = screen_study
    before = evaluations(study)
    again = search(study, budget=BUDGET, fidelity=fidelity_file)
    assert evaluations(study) == before and again.done == BUDGET


def test_a_seed_that_fails_leaves_every_screen_from_scratch(tmp_path_factory, fidelity_file):
    study, summary = screened_study(tmp_path_factory, fidelity_file, FakeEvaluator(fail_numbers=frozenset({0})))
    evals, fake = evaluations(study), FakeEvaluator()
    assert evals[(0, 1, 0)]["status"] == "failed" and summary.done == BUDGET
    screens = {n: rec for (n, r, s), rec in evals.items() if r == 0 and rec["status"] == "ok"}
    assert len(screens) == BUDGET + 3 - 1  # the candidates and the references but the seed
    for n, rec in screens.items():
        assert rec["psnr"] == pytest.approx(fake.psnr(spec_of(study, n), 5, 0))
    assert not list(study.glob("trials/*/*.pt"))


def test_two_slots_confirm_the_knee_and_its_runner_up_together(tmp_path, fidelity_file):
    from roadmap.search.scheduler import MAX_CONFIRMATIONS

    study = tmp_path / "s"
    summary = search(study, budget=BUDGET, fidelity=fidelity_file, concurrency=2)
    evals = evaluations(study)
    replicated = {n for (n, r, s) in evals if s == 1} - {0}
    assert summary.knee["number"] in replicated and summary.knee["runs"] == 2
    assert 2 <= len(replicated) <= MAX_CONFIRMATIONS
    assert all((n, 1, 0) in evals for n in replicated)


def test_latencies_timed_on_a_busy_machine_are_timed_again_when_it_is_idle(tmp_path, fidelity_file):
    from roadmap.search.results import load_candidates
    from roadmap.search.study import open_study

    study = tmp_path / "s"
    fake = FakeEvaluator(unsteady_first=True)
    summary = search(study, fake, budget=BUDGET, fidelity=fidelity_file)
    steady = FakeEvaluator()
    candidates = [c for c in load_candidates(open_study(study)) if c.state == "COMPLETE"]
    assert len(candidates) == BUDGET + 3  # and the reference points
    for c in candidates:  # each timed again once, the steadier figure kept, the earlier one on record
        assert c.metrics["latency_cv"] == 0.01 and c.metrics["latency_before"]["latency_cv"] in (0.2, 0.01)
        assert c.metrics["latency_ms"] == pytest.approx(steady.measure(load_spec(c.spec_yaml), "cpu")["latency_ms"])
    assert all(n == 2 for key, n in fake.timed.items() if key != "side by side")
    # the top rung's candidates were timed again together, once
    top = {n for (n, r, s) in evaluations(study) if r == 1}
    assert fake.timed["side by side"] == 1
    assert {c.number for c in candidates if "side by side" in c.metrics["latency_how"]} == top
    assert {c.metrics.get("latency_side_by_side") for c in candidates if c.number in top} == {len(top)}
    assert {c.metrics["latency_how"] for c in candidates if c.number not in top} == {"timed again: its CV was over 5 %"}
    assert summary.knee is not None


# --------------------------------------------------------------------------- screens as the top rung


class RecordingEvaluator(FakeEvaluator):
    """The fake, noting which weights each job started from: (trial, rung, random seed) -> file name."""

    def train(self, job):
        self.timed.setdefault("inherit", {})[(job.number, job.rung, job.random_seed)] = (
            job.inherit_from and job.inherit_from.rsplit("/", 1)[-1]
        )
        return super().train(job)


@pytest.fixture(scope="module")
def screens_top_study(tmp_path_factory):
    path = tmp_path_factory.mktemp("fidelity") / "screens_top.yaml"
    path.write_text(SCREEN + "front_on_screens: true\n")
    study, fake = tmp_path_factory.mktemp("top") / "s", RecordingEvaluator()
    return study, search(study, fake, budget=BUDGET, fidelity=str(path)), fake.timed["inherit"]


def test_screens_as_the_top_rung_train_nobody_but_the_seed_from_scratch(screens_top_study):
    study, summary, _ = screens_top_study
    evals, fake = evaluations(study), FakeEvaluator()
    assert summary.top_rung == 0 and summary.done == counted(study) == BUDGET and not summary.interrupted
    # the seed's base runs, one per random seed, are the only trainings from scratch (rung 1)
    assert {k for k in evals if k[1] == 1} == {(0, 1, 0), (0, 1, 1)}
    assert evals[(0, 1, 0)]["job_iterations"] == 90
    # every candidate is screened with the main random seed, the seed too, and nothing is promoted
    complete = {t.number for t in trials(study) if t.state.name == "COMPLETE"}
    assert {n for (n, r, s) in evals if r == 0 and s == 0} == complete and 0 in complete
    for (n, r, s), rec in evals.items():
        if r == 0:
            assert (rec["iterations"], rec["job_iterations"]) == (5, 5)
            assert rec["psnr"] == pytest.approx(fake.psnr(spec_of(study, n), 5 + fake.inherited_iterations, s))
    # the seed and the knee are confirmed by screening again with the second random seed
    assert (0, 0, 1) in evals and (summary.knee["number"], 0, 1) in evals and summary.knee["runs"] == 2
    assert [p.relative_to(study).as_posix() for p in sorted(study.glob("trials/*/*.pt"))] == [
        "trials/0/rung1-seed0.pt",
        "trials/0/rung1-seed1.pt",
    ]


def test_each_random_seed_screens_from_its_own_base_run(screens_top_study):
    _, _, started_from = screens_top_study
    screens = {key: name for key, name in started_from.items() if key[1] == 0}
    assert screens and all(name == f"rung1-seed{seed}.pt" for (_, _, seed), name in screens.items())
    assert {seed for (_, _, seed) in screens} == {0, 1}
    assert started_from[(0, 1, 0)] is None and started_from[(0, 1, 1)] is None  # the base: from scratch


def test_a_resumed_search_with_screens_on_top_trains_nothing_again(screens_top_study, tmp_path):
    study, _, _ = screens_top_study
    before = evaluations(study)
    again = search(study, budget=BUDGET)
    assert evaluations(study) == before and again.done == BUDGET and again.top_rung == 0
