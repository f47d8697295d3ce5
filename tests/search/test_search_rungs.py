"""Multi-fidelity search with the fake evaluator: MO-ASHA promotions rung by rung, the top-rung
replicates, ``roadmap search`` and ``roadmap pareto`` agreeing on the front, ``--min-psnr``;
and the selection functions of :mod:`roadmap.pareto` the promotions use, on hand-made arrays."""

import re

import numpy as np
import optuna
import pytest

from roadmap import pareto
from roadmap.search.study import OBJECTIVES, STUDY_NAME
from tests.search.helpers import (
    RUNGS3,
    check_promotion_plan,
    counted,
    dominates,
    evaluations,
    pareto_json,
    run_cli,
    search,
    trials,
)

BUDGET = 18  # enough for candidates dominated at rung 0 that are not reference points


@pytest.fixture(scope="module")
def fidelity_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fidelity") / "rungs3.yaml"
    path.write_text(RUNGS3)
    return str(path)


@pytest.fixture(scope="module")
def rung_study(tmp_path_factory, fidelity_file):
    """A finished 3-rung search of BUDGET candidates (the tests only read it)."""
    study = tmp_path_factory.mktemp("rungs") / "s"
    summary = search(study, budget=BUDGET, fidelity=fidelity_file)
    return study, summary


# --------------------------------------------------------------------------- promotions


def test_promotions_follow_mo_asha_rung_by_rung(rung_study):
    study, summary = rung_study
    assert summary.done == counted(study) == BUDGET and summary.top_rung == 2 and not summary.interrupted
    plan = check_promotion_plan(study)
    # every rung was trained; each later rung is a strict subset of the one below
    assert len(plan[0]["trained"]) == BUDGET + 3  # the reference points are trained besides the budget
    assert plan[2]["trained"] < plan[1]["trained"] < plan[0]["trained"]
    refs = {t.number for t in trials(study) if t.user_attrs.get("reference")}
    assert refs == {0, 1, 2} and refs <= plan[2]["trained"]  # the reference points reach the top
    # the checks on merit had something to check at rung 1: a candidate of rung 0's front was
    # left behind, and so was every dominated candidate that is not a reference point
    ranks, trained = plan[1]["ranks"], plan[1]["trained"]
    assert any(ranks[n] == 0 for n in trained - refs)
    assert any(ranks[n] == 0 for n in plan[1]["pool"] - trained)
    dominated = {n for n in plan[1]["pool"] - refs if ranks[n] > 0}
    assert dominated and not dominated & trained
    # a promotion continues from the weights of the rung below: it trains its own segment only
    segment = {0: 10, 1: 20, 2: 60}
    for (n, r, s), rec in evaluations(study).items():
        assert (rec["iterations"], rec["job_iterations"]) == ((10, 30, 90)[r], segment[r] if s == 0 else 90), (n, r, s)


def test_top_rung_replicates_the_seed_and_the_knee(rung_study):
    study, summary = rung_study
    evals = evaluations(study)
    replicated = {n for (n, r, s) in evals if s == 1}
    assert {r for (n, r, s) in evals if s == 1} == {2}  # replicates only at the top rung
    assert 0 in replicated  # the seed: the noise floor
    assert summary.knee is not None and summary.knee["number"] in replicated and summary.knee["runs"] == 2
    assert replicated <= {n for (n, r, s) in evals if r == 2 and s == 0}
    assert summary.noise["replicated_candidates"] == len(replicated) and summary.noise["sigma_db"] > 0
    # every rung's weights were only a starting point: none is left
    assert not list(study.glob("trials/*/*.pt"))


def test_study_metric_names(rung_study):
    study, _ = rung_study
    loaded = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{study / 'study.db'}")
    assert loaded.metric_names == ["psnr_db", "latency_ms", "peak_memory_bytes"] == list(OBJECTIVES)
    # Optuna sees every candidate at rung 0 (like with like)
    evals = evaluations(study)
    complete = [t for t in loaded.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    assert len(complete) == BUDGET + 3
    for t in complete:
        assert t.values[0] == evals[(t.number, 0, 0)]["psnr"]


# --------------------------------------------------------------------------- front and min-psnr


def test_search_and_pareto_report_the_same_front(rung_study, capsys):
    from roadmap.cli.search_cmd import _text

    study, summary = rung_study
    front = pareto_json(capsys, study)
    assert summary.front_size >= 2 and summary.front_size == len(front["front"])
    assert f"Pareto front {summary.front_size} at rung 2" in _text(summary)  # what `roadmap search` prints
    printed = re.search(r"(\d+) on the front", _pareto_text(capsys, study))  # what `roadmap pareto` prints
    assert printed and int(printed.group(1)) == summary.front_size
    assert summary.knee["number"] in front["front"]
    # `pareto` judges the top rung: its trials are the candidates trained there
    top = {n for (n, r, s) in evaluations(study) if r == 2}
    assert {t["number"] for t in front["trials"]} == top


def _pareto_text(capsys, study):
    code, out, err = run_cli(capsys, "pareto", str(study))
    assert code == 0, err
    return out


def test_min_psnr_keeps_candidates_below_it_off_the_front(rung_study, fidelity_file, tmp_path, capsys):
    study, _ = rung_study
    plain = pareto_json(capsys, study)
    # a threshold between the two lowest PSNRs of the plain front: its lowest point is cut off
    front_psnr = sorted({t["psnr"] for t in plain["trials"] if t["number"] in plain["front"]})
    assert len(front_psnr) >= 2
    threshold = (front_psnr[0] + front_psnr[1]) / 2
    cut = {t["number"] for t in plain["trials"] if t["number"] in plain["front"] and t["psnr"] < threshold}
    assert cut

    constrained = tmp_path / "min-psnr"
    summary = search(constrained, budget=BUDGET, fidelity=fidelity_file, min_psnr=threshold)
    # the constraint changes no sampling and no promotion, only what may be on the front
    base, now = evaluations(study), evaluations(constrained)
    assert {k: v["psnr"] for k, v in now.items() if k[2] == 0} == {k: v["psnr"] for k, v in base.items() if k[2] == 0}
    result = pareto_json(capsys, constrained)
    by_number = {t["number"]: t for t in result["trials"]}
    infeasible = {n for n, t in by_number.items() if not t["feasible"]}
    assert infeasible and infeasible != set(by_number)
    for t in by_number.values():
        assert t["feasible"] == (t["psnr"] >= threshold), t["number"]
    assert cut <= infeasible and not infeasible & set(result["front"])
    # the front is exactly the non-dominated feasible candidates, and the search agrees
    feasible = [t for t in result["trials"] if t["feasible"]]
    loss = pareto.to_loss(
        [(t["psnr"], t["latency_ms"], t["peak_memory_measured_bytes"]) for t in feasible], (True, False, False)
    )
    expected = {t["number"] for t, keep in zip(feasible, pareto.is_non_dominated(loss), strict=False) if keep}
    assert set(result["front"]) == expected
    assert summary.front_size == len(result["front"])
    assert summary.knee["number"] in expected


# --------------------------------------------------------------------------- roadmap.pareto


def test_select_best_prefers_fronts_then_extremes():
    loss = np.array(
        [
            [4.0, 4.0, 4.0],  # 0: dominated by 4 and 5 -> rank 2
            [0.0, 3.0, 3.0],  # 1: front, extreme in objective 0
            [3.0, 0.0, 3.0],  # 2: front, extreme in objective 1
            [3.0, 3.0, 0.0],  # 3: front, extreme in objective 2
            [1.0, 1.0, 1.0],  # 4: front, in the middle
            [2.0, 2.0, 2.0],  # 5: dominated by 4 -> rank 1
        ]
    )
    assert pareto.non_dominated_ranks(loss).tolist() == [2, 0, 0, 0, 0, 1]
    crowd = pareto.crowding_distance(loss[[1, 2, 3, 4]])
    assert np.isinf(crowd[:3]).all() and np.isfinite(crowd[3])
    assert pareto.select_best(loss, 3) == [1, 2, 3]  # the extremes of the front first
    assert sorted(pareto.select_best(loss, 4)) == [1, 2, 3, 4]
    assert sorted(pareto.select_best(loss, 5)) == [1, 2, 3, 4, 5]
    assert sorted(pareto.select_best(loss, 6)) == [0, 1, 2, 3, 4, 5]
    assert sorted(pareto.select_best(loss, 10)) == [0, 1, 2, 3, 4, 5]
    assert pareto.select_best(loss, 1) == [1] and pareto.select_best(loss, 0) == []
    assert pareto.select_best(np.empty((0, 3)), 2) == []


def test_crowding_distance_values():
    # a 2-objective front: the extremes are infinite, the inner points sum normalised gaps
    loss = np.array([[0.0, 4.0], [1.0, 3.0], [2.0, 2.0], [4.0, 0.0]])
    crowd = pareto.crowding_distance(loss)
    assert np.isinf(crowd[[0, 3]]).all()
    assert crowd[1] == pytest.approx(2 / 4 + 2 / 4) and crowd[2] == pytest.approx(3 / 4 + 3 / 4)
    assert pareto.select_best(loss, 3) == [0, 3, 2]  # the widest gap after the extremes
    assert np.isinf(pareto.crowding_distance(loss[:2])).all()  # two points: both extremes


@pytest.mark.parametrize("seed", range(5))
def test_select_best_never_takes_a_dominated_row_before_a_non_dominated_one(seed):
    rng = np.random.default_rng(seed)
    loss = rng.integers(0, 6, size=(30, 3)).astype(float)  # small integers: ties and duplicates
    ranks = pareto.non_dominated_ranks(loss)
    assert ranks.max() >= 2  # several fronts to order
    fronts_cut = 0
    for count in range(31):
        chosen = pareto.select_best(loss, count)
        assert len(chosen) == len(set(chosen)) == count
        left = sorted(set(range(30)) - set(chosen))
        if 0 < count < 30:
            assert max(ranks[chosen]) <= min(ranks[left])
        for i in left:
            for j in chosen:
                assert not dominates(loss[i], loss[j]), (count, i, j)
        # inside the front that was cut, the chosen rows are the least crowded (extremes first)
        last = ranks[chosen].max(initial=-1)
        cut = np.flatnonzero(ranks == last)
        if set(cut) - set(chosen):
            fronts_cut += 1
            crowd = dict(zip(cut.tolist(), pareto.crowding_distance(loss[cut]), strict=False))
            assert min(crowd[j] for j in chosen if ranks[j] == last) >= max(crowd[i] for i in cut if i not in chosen)
    assert fronts_cut >= 10
