"""Reading a study directory: which trials count as finished, failed or neither."""
from __future__ import annotations

import json

import optuna
import pytest
from review_studies import DROP0, PCONV, make_spec, write_study

from roadmap.errors import RoadmapError
from roadmap.review import plots
from roadmap.review.study import load_study_dir, short_transforms


def test_loaded_records(review):
    assert [t.number for t in review.trials] == [0, 1, 2, 3, 4, 6]
    assert review.failed == 2
    assert review.failures[5].startswith("diverged")
    t = review.trial(6)
    assert t.values == (29.0, 50.0, 100 * 2**20)
    assert t.transforms == [PCONV, DROP0]
    assert t.metrics["device"] == "cpu"
    assert review.reference("mofa").number == 1
    assert review.settings["seed"] == "nafnet"


def test_pruned_running_and_diverged_trials(tmp_path):
    d = write_study(tmp_path / "s", {0: (30.0, 10.0, 5.0, "seed", [])}, with_files=True)
    study = optuna.load_study(study_name="roadmap", storage=f"sqlite:///{d / 'study.db'}")
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED,
                                              user_attrs={"failure_reason": "duplicate"}))
    diverged = {"status": "diverged", "reason": "loss became nan", "psnr": float("nan")}
    study.add_trial(optuna.trial.create_trial(values=[1.0, 1.0, 1.0], user_attrs={"metrics": diverged}))
    study.enqueue_trial({})  # WAITING
    review = load_study_dir(d)
    assert [t.number for t in review.trials] == [0]
    assert review.failed == 1 and review.failures == {2: "loss became nan"}
    assert review.unfinished == {1: "pruned: duplicate", 3: "waiting"}
    with pytest.raises(RoadmapError, match="trial 1 did not finish .pruned: duplicate"):
        review.trial(1)


def test_files_stand_in_for_missing_user_attrs(tmp_path):
    d = tmp_path / "s"
    write_study(d, {0: (30.0, 10.0, 5.0, "seed", [])})
    spec = make_spec([PCONV])
    metrics = {"psnr": 29.0, "latency_ms": 8.0, "peak_memory_measured_bytes": 4 * 2**20, "params": 123,
               "status": "ok", "device": "cpu", "fidelity": "smoke"}
    study = optuna.load_study(study_name="roadmap", storage=f"sqlite:///{d / 'study.db'}")
    study.add_trial(optuna.trial.create_trial(values=[29.0, 8.0, 4 * 2**20]))
    (d / "trials" / "1").mkdir(parents=True)
    (d / "trials" / "1" / "spec.yaml").write_text(spec.to_yaml())
    (d / "trials" / "1" / "metrics.json").write_text(json.dumps(metrics))
    t = load_study_dir(d).trial(1)
    assert t.params == 123 and t.transforms == [PCONV] and t.spec_yaml == spec.to_yaml()


def test_roadmap_rows_without_a_seed_trial(tmp_path):
    d = write_study(tmp_path / "s", {0: (29.0, 8.0, 4.0, None, [PCONV, DROP0])}, with_files=False)
    review = load_study_dir(d)
    rows = plots.roadmap_rows(review, review.trial(0), input_hw=(32, 32))
    assert len(rows) == 3 and all(r.params for r in rows)  # seed rebuilt from provenance.seed
    assert [r.trial for r in rows] == [None, None, 0]


def test_short_transforms():
    assert short_transforms([]) == "-"
    steps = [{"transform": "pconv", "params": {"portion": 0.25, "targets": None, "overrides": {"level[0]": 0.5}}},
             {"transform": "msiam", "params": {"target_level": 2}}]
    assert short_transforms(steps) == "pconv(portion=0.25,overrides={level[0]:0.5}) > msiam(target_level=2)"


def test_missing_study_name(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    optuna.create_study(study_name="other", storage=f"sqlite:///{d / 'study.db'}")
    with pytest.raises(RoadmapError, match="roadmap"):
        load_study_dir(d)
