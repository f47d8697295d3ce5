"""`roadmap search --backend local` with the fake evaluator: budget accounting, references,
failures, constraints, resume and refused resumes, bad input (exit 2, study unchanged)."""
import json

import pytest
from conftest import counted, finished_records, snapshot, trials

from roadmap.cli import main


def run(capsys, *argv):
    code = main(["search", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def local(study, *extra):
    return ("--backend", "local", "--study", str(study), "--fidelity", "smoke", "--quiet", *extra)


def test_budget_references_and_files(tmp_path, capsys, fake_env):
    study = tmp_path / "s"
    code, out, _ = run(capsys, *local(study, "--budget", "8", "--json"))
    assert code == 0
    summary = json.loads(out)
    assert summary["done"] == 8 and counted(study) == 8
    ts = trials(study)
    refs = [t.user_attrs.get("reference") for t in ts[:3]]
    assert refs == ["seed", "mofa", "unet--"]
    assert ts[0].user_attrs["transforms"] == []
    assert [s["transform"] for s in ts[2].user_attrs["transforms"]] == ["msiam"]
    settings = json.loads((study / "settings.json").read_text())
    assert settings["seed"] == "nafnet" and settings["variant"] == "w16" and settings["sampler"] == "nsga2"
    for t in ts:
        if t.state.name == "COMPLETE":
            assert len(t.values) == 3
            d = study / "trials" / str(t.number)
            metrics = json.loads((d / "metrics.json").read_text())
            assert metrics == t.user_attrs["metrics"]
            assert t.values == [metrics["psnr"], metrics["latency_ms"], metrics["peak_memory_measured_bytes"]]
            assert (d / "spec.yaml").read_text() == t.user_attrs["spec_yaml"]
            assert {"psnr", "ssim", "noisy_psnr", "latency_ms", "latency_cv", "peak_memory_measured_bytes",
                    "peak_memory_predicted_bytes", "params", "macs", "train_seconds", "status", "fidelity",
                    "device"} <= set(metrics)


def test_resume_extends_without_rerunning_and_refuses_other_settings(tmp_path, capsys, fake_env):
    study = tmp_path / "s"
    assert run(capsys, *local(study, "--budget", "5", "--sampler", "tpe"))[0] == 0
    before = finished_records(study)
    # same study, options left out -> the study's settings; 3 more trials
    code, _, _ = run(capsys, "--backend", "local", "--study", str(study), "--budget", "8", "--quiet")
    assert code == 0 and counted(study) == 8
    after = finished_records(study)
    assert all(after[n] == rec for n, rec in before.items())
    # nothing left to do
    code, out, _ = run(capsys, *local(study, "--budget", "8"))
    assert code == 0 and "nothing to run" in out
    # conflicting settings are refused, naming them, and nothing changes
    snap = snapshot(study)
    code, _, err = run(capsys, *local(study, "--budget", "9", "--sampler", "random", "--random-seed", "3"))
    assert code == 2
    assert err.count("\n") == 1 and "sampler" in err and "random_seed" in err
    assert snapshot(study) == snap


def test_forced_failure_is_stored_and_the_study_goes_on(tmp_path, capsys, fake_env, monkeypatch):
    monkeypatch.setenv("ROADMAP_SEARCH_FAIL_TRIALS", "1,4")
    study = tmp_path / "s"
    assert run(capsys, *local(study, "--budget", "7"))[0] == 0
    ts = {t.number: t for t in trials(study)}
    assert ts[1].state.name == "FAIL" and "injected failure" in ts[1].user_attrs["failure_reason"]
    assert json.loads((study / "trials" / "1" / "metrics.json").read_text())["status"] == "failed"
    assert counted(study) == 7 and sum(t.state.name == "COMPLETE" for t in ts.values()) >= 5


def test_diverged_trials_fail_with_reason(tmp_path, capsys, fake_env, monkeypatch):
    monkeypatch.setenv("ROADMAP_FAKE_FAIL_PSNR_BELOW", "100")
    study = tmp_path / "s"
    assert run(capsys, *local(study, "--budget", "3"))[0] == 0
    for t in trials(study):
        assert t.state.name == "FAIL" and t.user_attrs["failure_reason"].startswith("diverged")


def test_memory_constraint_rejects_before_training_without_budget(tmp_path, capsys, fake_env):
    study = tmp_path / "s"
    # the fake seed (w16) predicts ~13 MB; MSIAM / dropped skips go below 12
    code, out, _ = run(capsys, *local(study, "--budget", "6", "--max-memory-mb", "12.5", "--json"))
    assert code == 0
    ts = trials(study)
    rejected = [t for t in ts if t.state.name == "PRUNED"]
    assert rejected and all("peak memory" in t.user_attrs["failure_reason"]
                            or "duplicate" in t.user_attrs["failure_reason"] for t in rejected)
    assert counted(study) == 6
    for t in ts:
        if t.state.name == "COMPLETE":
            assert t.values[2] <= 12.5 * 2**20 * 1.06


def test_min_psnr_marks_infeasible(tmp_path, capsys, fake_env):
    study = tmp_path / "s"
    assert run(capsys, *local(study, "--budget", "4", "--min-psnr", "29"))[0] == 0
    for t in trials(study):
        if t.state.name == "COMPLETE":
            assert t.user_attrs["constraints"] == [pytest.approx(29 - t.values[0])]


def test_unet_skips_mofa_with_a_note(tmp_path, capsys, fake_env):
    study = tmp_path / "s"
    code, _, err = run(capsys, "--seed", "unet", *local(study, "--budget", "3"))
    assert code == 0 and "reference mofa skipped" in err
    assert [t.user_attrs.get("reference") for t in trials(study)[:2]] == ["seed", "unet--"]


@pytest.mark.parametrize(
    "args,message",
    [
        (("--seed", "nosuch"), "unknown seed 'nosuch'"),
        (("--space", "BAD"), "steps[0].transform"),
        (("--max-memory-mb", "0.01"), "--max-memory-mb 0.01: impossible constraint"),
        (("--max-latency-ms", "-1"), "--max-latency-ms: impossible constraint"),
        (("--max-latency-ms", "0.001"), "--max-latency-ms 0.001: impossible constraint"),
        (("--min-psnr", "150"), "--min-psnr: impossible constraint"),
        (("--fidelity", "nope"), "fidelity: unknown preset 'nope'"),
        (("--data", "/no/such/folder"), "--data /no/such/folder: no such folder"),
        (("--address", "127.0.0.1:1", "--backend", "ray"), "--address 127.0.0.1:1: no Ray cluster reachable"),
    ],
)
@pytest.mark.parametrize("existing", [False, True])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(tmp_path, capsys, fake_env, args, message, existing):
    study = tmp_path / "s"
    if existing:
        assert run(capsys, *local(study, "--budget", "2"))[0] == 0
    before = snapshot(study)
    if "BAD" in args:
        bad = tmp_path / "bad.yaml"
        bad.write_text("version: 1\nsteps:\n  - transform: frobnicate\n")
        args = tuple(str(bad) if a == "BAD" else a for a in args)
    argv = ["--study", str(study), "--budget", "4", "--quiet", *args]
    if "--backend" not in args:
        argv = ["--backend", "local", *argv]
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert err.startswith("roadmap search: error: ") and err.count("\n") == 1
    assert message in err
    assert snapshot(study) == before
    if not existing:
        assert not study.exists()
