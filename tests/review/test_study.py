"""Reading a study directory: which trials count as finished, failed or neither."""

from __future__ import annotations

import optuna
import pytest

from roadmap.errors import RoadmapError
from roadmap.review import plots
from roadmap.review.study import load_study_dir, short_transforms
from tests.review.review_studies import DROP0, PCONV, write_study


def test_loaded_records(review):
    assert [t.number for t in review.trials] == [0, 1, 2, 3, 4, 6, 8, 9]
    assert review.failed == 2
    assert review.failures[5] == "diverged: loss became nan at iteration 12"
    assert review.failures[7].startswith("invalid spec")
    t = review.trial(6)
    assert t.values == (29.0, 50.0, 100 * 2**20)
    assert t.psnr_runs == [29.0]
    assert t.transforms == [PCONV, DROP0]
    assert t.metrics["device"] == "cpu"
    assert review.trial(0).psnr_runs == [30.06, 29.94]
    assert review.reference("mofa").number == 1
    assert review.settings["seed"] == "nafnet"
    assert review.top_rung == 0 and review.screened == {}


def test_pruned_running_and_diverged_trials(tmp_path):
    d = write_study(
        tmp_path / "s", {0: (30.0, 10.0, 5.0, "seed", []), 1: ("FAIL", "loss became nan", "diverged")}, with_files=False
    )
    study = optuna.load_study(study_name="roadmap", storage=f"sqlite:///{d / 'study.db'}")
    study.add_trial(
        optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, user_attrs={"failure_reason": "duplicate"})
    )
    study.ask()  # RUNNING: left so by a search that was killed (SIGKILL)
    study.enqueue_trial({})  # WAITING
    review = load_study_dir(d)
    assert [t.number for t in review.trials] == [0]
    assert review.failed == 1 and review.failures == {1: "diverged: loss became nan"}
    assert review.unfinished == {
        2: "rejected: duplicate",
        3: "interrupted: its search stopped (killed?) before it finished; the next search of this study trains it "
        "again",
        4: "waiting: queued for the next run of the search",
    }
    with pytest.raises(RoadmapError, match=r"trial 2 did not finish .rejected: duplicate"):
        review.trial(2)
    from roadmap.search.study_lock import StudyLock

    with StudyLock(d):  # a search holds the study: its RUNNING trial trains now
        assert load_study_dir(d).unfinished[3] == "running: a search trains it now"
    with pytest.raises(RoadmapError, match=r"trial 1 failed .diverged: loss became nan"):
        review.trial(1)


def test_a_study_from_before_rungs_still_loads(tmp_path):
    """No eval attributes, the fidelity as a preset name: each trial's value is one run at
    rung 0, and without a second run there is no noise floor to judge PSNR differences."""
    d = write_study(tmp_path / "old", evals=False, with_files=False, legacy=True)
    study = optuna.load_study(study_name="roadmap", storage=f"sqlite:///{d / 'study.db'}")
    assert not any(k.startswith("eval:") for k in study.user_attrs)
    review = load_study_dir(d)
    assert [t.number for t in review.trials] == [0, 1, 2, 3, 4, 6, 8, 9]
    assert review.trial(0).psnr == pytest.approx(30.0) and review.trial(0).psnr_runs == [pytest.approx(30.0)]
    assert review.noise.sigma is None and review.top_rung == 0
    assert review.trial(3).psnr_band is None
    assert review.trial(3).versus_seed["psnr"]["verdict"] == "unknown"
    assert review.trial(3).versus_seed["overall"] == "unknown"
    assert sorted(review.front_numbers) == [0, 1, 2, 3, 6, 8, 9]
    assert review.failed == 2


def test_roadmap_rows_without_a_seed_trial(tmp_path):
    d = write_study(tmp_path / "s", {0: (29.0, 8.0, 4.0, None, [PCONV, DROP0])}, with_files=False)
    review = load_study_dir(d)
    rows = plots.roadmap_rows(review, review.trial(0), input_hw=(32, 32))
    assert len(rows) == 3 and all(r.params for r in rows)  # seed rebuilt from provenance.seed
    assert [r.trial for r in rows] == [None, None, 0]


def test_short_transforms():
    assert short_transforms([]) == "-"
    steps = [
        {"transform": "pconv", "params": {"portion": 0.25, "targets": None, "overrides": {"level[0]": 0.5}}},
        {"transform": "msiam", "params": {"target_level": 2}},
    ]
    assert short_transforms(steps) == "pconv(portion=0.25,overrides={level[0]:0.5}) > msiam(target_level=2)"


def test_missing_study_name(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    optuna.create_study(study_name="other", storage=f"sqlite:///{d / 'study.db'}")
    with pytest.raises(RoadmapError, match="roadmap"):
        load_study_dir(d)
