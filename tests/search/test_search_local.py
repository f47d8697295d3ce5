"""The search in process with the fake evaluator: budget accounting, references, files,
failures, constraints, resume and refused resumes; bad input on the command line (one line,
exit 2, study unchanged)."""

import io
import json
import shutil

import pytest

from roadmap.search.testing import FakeEvaluator
from tests.search.helpers import counted, evaluations, finished_records, pareto_json, run_cli, search, snapshot, trials

METRIC_KEYS = {
    "psnr",
    "ssim",
    "input_psnr",
    "latency_ms",
    "latency_cv",
    "peak_memory_measured_bytes",
    "peak_memory_predicted_bytes",
    "params",
    "macs",
    "train_seconds",
    "status",
    "fidelity",
    "device",
}


def test_budget_references_and_files(tmp_path):
    study = tmp_path / "s"
    summary = search(study, budget=8, fidelity="smoke")
    assert summary.done == 8 and counted(study) == 8 and not summary.interrupted
    assert summary.references == 3  # trained besides the budget: --budget 8 tries 8 candidates
    ts = trials(study)
    assert [t.user_attrs.get("reference") for t in ts[:3]] == ["seed", "mofa", "unet--"]
    assert ts[0].user_attrs["transforms"] == []
    assert [s["transform"] for s in ts[2].user_attrs["transforms"]] == ["msiam"]
    stored = json.loads((study / "settings.json").read_text())
    assert (stored["seed"], stored["variant"], stored["sampler"], stored["budget"]) == ("nafnet", "w16", "tpe", 8)
    evals = evaluations(study)
    complete = [t for t in ts if t.state.name == "COMPLETE"]
    assert len(complete) == 8 + 3
    for t in complete:
        d = study / "trials" / str(t.number)
        metrics = json.loads((d / "metrics.json").read_text())
        stored_evals = metrics.pop("evaluations")
        assert metrics == t.user_attrs["metrics"] and set(metrics) >= METRIC_KEYS
        assert t.values == [metrics["psnr"], metrics["latency_ms"], metrics["peak_memory_measured_bytes"]]
        assert (d / "spec.yaml").read_text() == t.user_attrs["spec_yaml"]
        # every evaluation of the trial, and only those, in metrics.json and the study
        assert stored_evals == {f"rung {r}, seed {s}": rec for (n, r, s), rec in evals.items() if n == t.number}
        assert stored_evals["rung 0, seed 0"]["psnr"] == metrics["psnr"]
    # one rung (smoke): the seed is trained again with random seed 1 (the noise floor)
    assert (ts[0].number, 0, 1) in evals and summary.noise["replicated_candidates"] >= 1
    # the closing summary names the task and the baseline (FakeEvaluator's input PSNR, 20.2 dB)
    from roadmap.cli.search_cmd import _text

    assert summary.task == stored["task"] == {"name": "denoise", "sigma": [25.0, 25.0]}
    assert summary.input_psnr == pytest.approx(20.2) and summary.knee["input_psnr"] == 20.2
    text = _text(summary).splitlines()
    assert text[1] == (
        "task denoise (Gaussian noise sigma 25); degraded input PSNR 20.20 dB on the validation images (the baseline)"
    )
    knee = next(line for line in text if line.startswith("recommended (knee)"))
    assert f"(degraded input 20.20 dB, gain {summary.knee['psnr'] - 20.2:+.2f} dB)" in knee


def test_resume_extends_without_rerunning_and_refuses_other_settings(tmp_path, capsys):
    study = tmp_path / "s"
    search(study, budget=5, fidelity="smoke", sampler="tpe")
    before, evals_before = finished_records(study), evaluations(study)
    assert len(before) == 5 + 3  # and the reference points
    # options left out take the study's settings; 3 more candidates
    summary = search(study, budget=8)
    assert summary.done == 8 and counted(study) == 8 and summary.timing["trials_this_run"] == 3
    after, evals_after = finished_records(study), evaluations(study)
    assert {n: after[n] for n in before} == before
    assert {k: evals_after[k] for k in evals_before} == evals_before
    # the same budget again: nothing is trained and nothing changes
    again = search(study, budget=8)
    assert again.timing["trials_this_run"] == 0 and again.timing["iterations_this_run"] == 0
    assert evaluations(study) == evals_after and finished_records(study) == after
    # other settings are refused on one line naming them, and nothing changes
    snap = snapshot(study)
    code, _, err = run_cli(
        capsys,
        "search",
        "--backend",
        "local",
        "--study",
        str(study),
        "--budget",
        "9",
        "--quiet",
        "--sampler",
        "random",
        "--random-seed",
        "3",
    )
    assert code == 2
    assert err.startswith("roadmap search: error: ") and err.count("\n") == 1
    assert "sampler" in err and "random_seed" in err
    assert snapshot(study) == snap


def test_forced_failure_is_stored_and_the_study_goes_on(tmp_path):
    study = tmp_path / "s"
    doomed = {1, 4, 6}  # trial 1 is the mofa reference; a number may go to a rejected duplicate
    summary = search(study, FakeEvaluator(fail_numbers=frozenset(doomed)), budget=7, fidelity="smoke")
    ts = {t.number: t for t in trials(study)}
    failed = {n for n, t in ts.items() if t.state.name == "FAIL"}
    # every doomed number that became a counted candidate failed; one that went to a rejected
    # duplicate (PRUNED) never trained
    assert 1 in failed and len(failed) >= 2
    assert failed == {n for n in doomed if n in ts and ts[n].state.name != "PRUNED"}
    assert summary.done == counted(study) == 7 and summary.failed == len(failed)
    for n in failed:
        assert "injected failure for trial" in ts[n].user_attrs["failure_reason"]
        metrics = json.loads((study / "trials" / str(n) / "metrics.json").read_text())
        assert metrics["status"] == "failed" and "injected failure" in metrics["reason"]
        assert evaluations(study)[(n, 0, 0)]["status"] == "failed"
    for n in doomed - failed:
        assert ts[n].user_attrs["failure_reason"].startswith("rejected: duplicate")
    # the study went on: every other counted trial completed, and trials after the failures too
    assert all(ts[n].state.name in ("COMPLETE", "PRUNED") for n in ts if n not in failed)
    assert summary.complete == 7 + 3 - len(failed)  # the reference points are trained besides the budget
    assert any(t.state.name == "COMPLETE" for n, t in ts.items() if n > min(failed))


def test_diverged_trials_fail_with_reason(tmp_path):
    study = tmp_path / "s"
    summary = search(study, FakeEvaluator(fail_psnr_below=100), budget=3, fidelity="smoke")
    ts = trials(study)
    assert summary.done == 3 and summary.failed == 3 + 3 and len(ts) == 3 + 3  # and the reference points
    for t in ts:
        assert t.state.name == "FAIL" and t.user_attrs["failure_reason"].startswith("diverged: fake PSNR")
    assert summary.front_size == 0 and summary.knee is None


def test_memory_constraint_rejects_before_training_without_budget(tmp_path, capsys):
    study = tmp_path / "s"
    # the fake seed (w16) predicts ~13.5 MiB; MSIAM / dropped skips go below 12.5
    summary = search(study, budget=6, fidelity="smoke", max_memory_mb=12.5)
    ts = trials(study)
    rejected = [t for t in ts if t.state.name == "PRUNED"]
    assert rejected and all(t.user_attrs["failure_reason"].startswith("rejected: ") for t in rejected)
    assert any("predicted peak memory" in t.user_attrs["failure_reason"] for t in rejected)  # not even measured
    assert summary.done == counted(study) == 6 and len(ts) == 6 + 3 + len(rejected)
    evals = evaluations(study)
    assert not any(n == t.number for t in rejected for (n, _, _) in evals)  # never trained
    complete = [t for t in ts if t.state.name == "COMPLETE"]
    within = [t for t in complete if t.user_attrs.get("reference") is None]
    assert within and all(t.values[2] <= 12.5 * 2**20 for t in within)
    # The seed anchors every comparison: it is trained (and replicated) over the limit, with the
    # violation recorded, and kept off the front.
    seed = ts[0]
    assert seed.user_attrs["reference"] == "seed" and seed.state.name == "COMPLETE"
    assert seed.user_attrs["metrics"]["violations"][0].startswith("predicted peak memory")
    assert (seed.number, 0, 1) in evals and summary.noise["sigma_db"] is not None
    front = pareto_json(capsys, study)
    assert seed.number not in front["front"]
    assert next(t for t in front["trials"] if t["number"] == seed.number)["feasible"] is False


def test_unet_skips_mofa_with_a_note(tmp_path):
    study, messages = tmp_path / "s", io.StringIO()
    summary = search(study, messages=messages, seed="unet", budget=3, fidelity="smoke")
    assert any("reference mofa skipped" in note for note in summary.notes)
    assert "roadmap search: note: reference mofa skipped" in messages.getvalue()
    assert [t.user_attrs.get("reference") for t in trials(study)[:3]] == ["seed", "unet--", None]


# One line, exit 2, nothing created or changed. An impossible constraint is called impossible,
# new study or not (the third column: another message on an existing study, where one differs).


BAD_INPUT = [
    pytest.param(
        ("--seed", "nosuch"), "unknown seed 'nosuch'", 'seed: study has "nafnet", command gives "nosuch"', id="seed"
    ),
    pytest.param(("--space", "BAD"), "steps[0].transform", None, id="space"),
    pytest.param(
        ("--max-memory-mb", "0.01"), "--max-memory-mb 0.01: impossible constraint", None, id="memory-impossible"
    ),
    pytest.param(("--max-latency-ms", "-1"), "--max-latency-ms: impossible constraint", None, id="latency-negative"),
    pytest.param(
        ("--max-latency-ms", "0.001"), "--max-latency-ms 0.001: impossible constraint", None, id="latency-impossible"
    ),
    pytest.param(("--min-psnr", "150"), "--min-psnr: impossible constraint", None, id="min-psnr"),
    pytest.param(("--fidelity", "nope"), "fidelity: unknown preset 'nope'", None, id="fidelity"),
    pytest.param(("--data", "/no/such/folder"), "--data /no/such/folder: no such folder", None, id="data"),
    pytest.param(
        ("--address", "127.0.0.1:1", "--backend", "ray"),
        "--address 127.0.0.1:1: no Ray cluster reachable",
        None,
        id="address",
    ),
]


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    """A finished 2-candidate study (smoke fidelity), copied by the tests that need one."""
    study = tmp_path_factory.mktemp("small") / "s"
    search(study, budget=2, fidelity="smoke")
    return study


@pytest.mark.parametrize("args,message,on_existing", BAD_INPUT)
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    tmp_path, capsys, small_study, args, message, on_existing, existing
):
    study = tmp_path / "s"
    if existing:
        shutil.copytree(small_study, study)
        message = on_existing or message
    before = snapshot(study)
    if "BAD" in args:
        bad = tmp_path / "bad.yaml"
        bad.write_text("version: 1\nsteps:\n  - transform: frobnicate\n")
        args = tuple(str(bad) if a == "BAD" else a for a in args)
    argv = ["search", "--study", str(study), "--budget", "4", "--quiet", *args]
    if "--backend" not in args:
        argv += ["--backend", "local"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, err
    assert err.startswith("roadmap search: error: ") and err.count("\n") == 1
    assert message in err
    assert out == ""
    assert snapshot(study) == before
    if existing:
        assert len(before) > 3  # settings.json, study.db, trials/*: there was a study to protect
    else:
        assert not study.exists()


def test_a_changed_constraint_is_refused_on_resume(tmp_path, capsys, small_study):
    study = tmp_path / "s"
    shutil.copytree(small_study, study)
    before = snapshot(study)
    code, _out, err = run_cli(
        capsys,
        "search",
        "--study",
        str(study),
        "--budget",
        "4",
        "--quiet",
        "--backend",
        "local",
        "--max-memory-mb",
        "500",
    )
    assert code == 2 and err.count("\n") == 1
    assert "max_memory_mb: study has null, command gives 500" in err
    assert snapshot(study) == before
