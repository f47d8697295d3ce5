"""A study's cost in units that travel (`roadmap.search.cost`): the arithmetic of "seed
trainings of the long preset", the totals a study records and adds up over a resume, and the
lines the search and ``pareto`` print."""

import json
from types import SimpleNamespace as NS

import pytest

from roadmap.review.summary import cost_lines
from roadmap.search.cost import LONG_ITERATIONS, study_cost
from roadmap.search.study import open_study
from roadmap.search.testing import FakeEvaluator
from tests.search.helpers import evaluations, pareto_json, search


def fake_study(records: dict, runs: list) -> NS:
    attrs = {f"eval:{n}:{r}:{s}": rec for (n, r, s), rec in records.items()}
    return NS(user_attrs={**attrs, "runs": runs})


def test_the_cost_is_the_trainings_seconds_over_the_seeds_long_training():
    records = {
        (0, 1, 0): {"status": "ok", "job_iterations": 1350, "job_seconds": 54.0, "cpu_seconds": 50.0},
        (0, 1, 1): {"status": "ok", "job_iterations": 1350, "job_seconds": 54.0, "cpu_seconds": 51.0},
        (0, 0, 0): {"status": "ok", "job_iterations": 150, "job_seconds": 6.0, "cpu_seconds": 5.5},
        (4, 0, 0): {"status": "ok", "job_iterations": 150, "job_seconds": 3.0, "cpu_seconds": 2.5},
        (5, 0, 0): {"status": "diverged", "job_iterations": 150, "job_seconds": 1.0, "cpu_seconds": 1.0},
        (6, 1, 0): {"status": "ok", "job_iterations": 1350, "job_seconds": 0.0, "shared_from": 4},
    }
    seed = NS(number=0, reference="seed", latency_ms=127.3)
    cost = study_cost(
        fake_study(records, [{"total_seconds": 100.0}, {"total_seconds": 20.5}]),
        [seed, NS(number=4, reference=None, latency_ms=50.0)],
        "cpu",
    )
    # the seed: 114 s over 2850 steps = 0.04 s a step; a long training of it: 2500 x 0.04 = 100 s
    assert cost.seed_seconds_per_iteration == pytest.approx(0.04) and LONG_ITERATIONS == 2500
    assert cost.train_seconds == pytest.approx(118.0)  # every training's seconds but the shared one's
    assert cost.seed_long_trainings == pytest.approx(118.0 / 100.0)
    assert cost.steps == 2 * 1350 + 2 * 150  # a diverged training's steps are unknown: not counted
    assert (cost.trainings, cost.cpu_trainings, cost.cpu_seconds) == (5, 5, pytest.approx(110.0))
    assert (cost.wall_seconds, cost.runs, cost.gpu_seconds, cost.seed_latency_ms) == (120.5, 2, None, 127.3)
    assert study_cost(fake_study(records, []), [seed], "cuda").gpu_seconds == pytest.approx(118.0)


def test_the_cost_lines_state_the_unit_the_totals_and_the_machine():
    cost = {
        "trainings": 40,
        "steps": 36300,
        "train_seconds": 3012.4,
        "cpu_seconds": 2950.0,
        "cpu_trainings": 40,
        "gpu_seconds": None,
        "wall_seconds": 2988.0,
        "runs": 1,
        "device": "cpu",
        "seed_latency_ms": 127.3,
        "seed_seconds_per_iteration": 0.0826,
        "seed_long_trainings": 14.6,
        "long_iterations": 2500,
    }
    assert cost_lines(cost) == [
        "cost: 14.6 seed trainings of the long preset (2500 steps each): 40 trainings, 36,300 steps, 3,012 s of "
        "training (CPU 2,950 s); wall 49m48s over 1 run",
        "machine reference (cpu): seed latency 127.3 ms, seed training 0.0826 s per step",
    ]


def test_a_study_records_its_cost_and_a_resume_adds_to_it(tmp_path, capsys):
    study = tmp_path / "s"
    evaluator = FakeEvaluator(seconds_per_iteration=1e-4)
    first = search(study, evaluator, budget=4, fidelity="default")
    second = search(study, evaluator, budget=8)
    stored = json.loads((study / "cost.json").read_text())
    assert stored == second.cost == pareto_json(capsys, study)["cost"]  # the search, its folder, the review
    records = evaluations(study).values()
    assert stored["trainings"] == len(records) > first.cost["trainings"] > 0
    assert stored["steps"] == sum(r["job_iterations"] for r in records)
    assert stored["train_seconds"] == pytest.approx(sum(r["job_seconds"] for r in records))
    assert stored["cpu_seconds"] == pytest.approx(sum(r["cpu_seconds"] for r in records))
    runs = open_study(study).user_attrs["runs"]
    assert stored["runs"] == 2 and stored["wall_seconds"] == pytest.approx(sum(r["total_seconds"] for r in runs))
    assert stored["wall_seconds"] > first.cost["wall_seconds"]
    # the unit: the fake sleeps in proportion to steps, so the seed's long training is 2500 of its steps
    assert stored["seed_long_trainings"] == pytest.approx(
        stored["train_seconds"] / (stored["seed_seconds_per_iteration"] * 2500)
    )
    assert stored["seed_latency_ms"] == pytest.approx(evaluator.measure(_seed(), "cpu")["latency_ms"])


def _seed():
    from roadmap.seeds import get_seed

    return get_seed("nafnet")
