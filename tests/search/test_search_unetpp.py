"""UNet++ depth candidates in a search: candidates that differ only in their inference depth share
one deep-supervised training, and a pruned candidate's PSNR is read off its sibling's
``psnr_by_depth`` at the same rung and random seed instead of training again."""

from __future__ import annotations

import pytest

from roadmap.search.testing import FakeEvaluator
from roadmap.spec import load_spec
from roadmap.transforms.prune import at_depth
from tests.search.helpers import RUNGS3, evaluations, search, trials

# Every point of this space is a candidate: {seed, pconv} x {depth 3, 2, 1}.
SPACE = """version: 1
seed: unetpp
steps:
  - transform: pconv
    optional: true
    params: {portion: 0.25}
  - transform: prune
    optional: true
    params:
      depth: {choice: [1, 2]}
"""
TRAINED: list[tuple[int, int, int, int | None]] = []  # (trial, rung, random seed, depth scored) per training


class CountingEvaluator(FakeEvaluator):
    """The fake evaluator, remembering every job it really trains (the search runs in process)."""

    def train(self, job):
        TRAINED.append((job.number, job.rung, job.random_seed, job.score_depth))
        return super().train(job)


@pytest.fixture(scope="module", params=["chain", "batched", "screen"])
def unetpp_study(request, tmp_path_factory):
    """A finished search over every point of SPACE: a 3-rung chain (rungs3 fidelity), the same
    with three jobs a batch (siblings meet in one batch: one trains, the others wait for it), or
    the default fidelity (a screen from the trained seed, then the chain from scratch)."""
    folder = tmp_path_factory.mktemp(f"unetpp-{request.param}")
    (folder / "space.yaml").write_text(SPACE)
    fidelity = "default"
    if request.param != "screen":
        (folder / "rungs3.yaml").write_text(RUNGS3)
        fidelity = str(folder / "rungs3.yaml")
    TRAINED.clear()
    # the seed (the one reference point of unetpp, besides the budget) and 5 candidates: all 6 points
    summary = search(
        folder / "s",
        CountingEvaluator(),
        seed="unetpp",
        budget=5,
        fidelity=fidelity,
        space=str(folder / "space.yaml"),
        sampler="random",
        concurrency=3 if request.param == "batched" else 1,
    )
    return folder / "s", summary, list(TRAINED)


def _candidates(study):
    """trial number -> its spec, for the counted candidates."""
    return {t.number: load_spec(t.user_attrs["spec_yaml"]) for t in trials(study) if t.state.name == "COMPLETE"}


def test_depth_candidates_are_scored_without_training(unetpp_study):
    study, summary, trained = unetpp_study
    specs, evals = _candidates(study), evaluations(study)
    assert summary.done == 5 and summary.references == 1
    assert sorted(s.built_levels for s in specs.values()) == [1, 1, 2, 2, 3, 3]
    trained_at = {(n, r, s) for n, r, s, _ in trained}
    assert all(depth == 3 for *_, depth in trained)  # every training is of a whole network
    for (number, rung, seed), record in evals.items():
        depth = specs[number].built_levels
        assert record["depth"] == depth and record["status"] == "ok"
        if depth < 3:  # a pruned candidate never trains: it reads a sibling's scores
            assert (number, rung, seed) not in trained_at and record["train_seconds"] == 0.0
            sibling = record["shared_from"]
            assert (sibling, rung, seed) in trained_at
            assert evals[(sibling, rung, seed)]["training"] == record["training"]
            assert record["psnr"] == evals[(sibling, rung, seed)]["psnr_by_depth"][str(depth)]
        else:
            assert "shared_from" not in record and (number, rung, seed) in trained_at
    # one training per whole network, rung and random seed -- not one per candidate
    assert len(trained) == len({(r["training"], rung, seed) for (_, rung, seed), r in evals.items()})
    assert len([k for k in trained if k[1] == 0]) == 2 < 6  # rung 0: two networks score six candidates


def test_the_shared_score_is_the_pruned_network_and_so_are_its_costs(unetpp_study):
    study, _, _ = unetpp_study
    specs, evals = _candidates(study), evaluations(study)
    fake, rung0 = FakeEvaluator(), {t.number: t for t in trials(study)}
    for number, spec in specs.items():
        key = evals[(number, 0, 0)]["training"]  # the whole network it was cut from
        whole = next(n for n, s in specs.items() if s.built_levels == 3 and evals[(n, 0, 0)]["training"] == key)
        metrics, whole_metrics = rung0[number].user_attrs["metrics"], rung0[whole].user_attrs["metrics"]
        # Optuna is told the pruned network's own PSNR, latency and memory
        assert rung0[number].values[0] == evals[(number, 0, 0)]["psnr"]
        if spec.built_levels < 3:
            assert metrics["latency_ms"] < whole_metrics["latency_ms"]
            assert metrics["peak_memory_measured_bytes"] < whole_metrics["peak_memory_measured_bytes"]
            assert metrics["macs"] < whole_metrics["macs"]
        record = evals[(number, 0, 0)]
        iterations = record["iterations"] + (fake.inherited_iterations if "screen" in str(study) else 0)
        expected = fake.psnr(at_depth(specs[whole], spec.built_levels), iterations, 0)  # its head of the whole
        assert record["psnr"] == pytest.approx(expected)


def test_a_shallower_depth_keeps_no_score_of_the_whole_networks_head():
    """``test_psnr`` and ``psnr_rgb`` are scored on the deepest head only: a shallower depth
    gets none rather than the whole network's; the inputs' PSNRs hold for every depth."""
    from roadmap.search.trainings import score_at_depth

    record = {
        "status": "ok",
        "psnr": 30.0,
        "psnr_by_depth": {1: 28.0, 2: 29.0, 3: 30.0},
        "input_psnr": 20.2,
        "test_psnr": 29.5,
        "test_input_psnr": 20.5,
        "psnr_rgb": 29.0,
    }
    deepest, shallow = score_at_depth(record, 3), score_at_depth(record, 2)
    assert deepest["psnr"] == 30.0 and "test_psnr" not in deepest and "psnr_rgb" not in deepest
    assert shallow["psnr"] == 29.0 and shallow["test_psnr"] is None and shallow["psnr_rgb"] is None
    assert {**record, **shallow}["test_input_psnr"] == 20.5 and {**record, **shallow}["input_psnr"] == 20.2
