"""SIGKILL in the middle of a rung, then resume: no finished training is lost or repeated,
and the study ends with the rungs the promotion plan asks for. The search runs in a process
of its own (the real command line, in-process backend, fake trainings of 0.5 s)."""

import os
import signal
import subprocess

import pytest

from tests.search.helpers import (
    check_promotion_plan,
    counted,
    evaluations,
    fake_search_cmd,
    kill_group,
    search,
    subprocess_env,
    trained_by_the_fake,
    trials,
    wait_for,
)

pytestmark = pytest.mark.slow

TRAIN_SECONDS = 0.5
BUDGET = 9


def test_sigkill_in_the_middle_of_a_rung_loses_no_finished_rung(tmp_path, rungs3):
    study = tmp_path / "study"
    cmd = fake_search_cmd(
        TRAIN_SECONDS,
        "--backend",
        "local",
        "--study",
        str(study),
        "--fidelity",
        rungs3,
        "--budget",
        str(BUDGET),
        "--quiet",
    )
    p = subprocess.Popen(
        cmd, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        wait_for(lambda: any(r == 1 for (_, r, _) in evaluations(study)), p, 120)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        kill_group(p)
    before = evaluations(study)
    assert counted(study) == BUDGET  # rung 0 was done before any promotion
    # the candidates and the three reference points, trained besides the budget
    assert sum(r == 0 for (_, r, _) in before) == BUDGET + 3 and not any(r == 2 for (_, r, _) in before)
    assert trained_by_the_fake(before) and all(rec["train_seconds"] >= TRAIN_SECONDS for rec in before.values())

    # resume with the study's settings; these trainings take no time, so a repeat would show
    summary = search(study)
    after = evaluations(study)
    assert {k: after[k] for k in before} == before  # every finished training kept, unchanged
    new = {k: rec for k, rec in after.items() if k not in before}
    assert new and all(rec["train_seconds"] < TRAIN_SECONDS for rec in new.values())
    # nothing trained twice: this run trained exactly the steps of the evaluations it added
    assert summary.timing["iterations_this_run"] == sum(rec["job_iterations"] for rec in new.values())
    assert summary.timing["trials_this_run"] == 0 and summary.done == BUDGET
    # the rung-0 weights survived the kill: rung 1 went on from them (20 steps, not 30)
    assert all(rec["job_iterations"] == {1: 20, 2: 60}[r] for (_, r, s), rec in new.items() if s == 0)

    plan = check_promotion_plan(study)
    rung1_before = {n for (n, r, _) in before if r == 1}
    assert rung1_before < plan[1]["trained"]  # the kill did land in the middle of rung 1
    assert plan[0]["trained"] > plan[1]["trained"] > plan[2]["trained"] and plan[2]["trained"]
    assert summary.knee is not None and (summary.knee["number"], 2, 1) in after  # replicated at the top
    assert {t.state.name for t in trials(study)} <= {"COMPLETE", "FAIL", "PRUNED"}
