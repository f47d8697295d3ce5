"""Acceptance with the real evaluator at the `smoke` fidelity (3 training steps a candidate):
SIGKILL after >= 5 finished trials, then the same command finishes the study at exactly the
budget with every earlier trial unchanged; ``roadmap search`` and ``roadmap pareto`` report the
same front. In-process backend: the Ray path is covered in test_search_ray.py."""

import os
import re
import signal
import subprocess
import time

import pytest

from tests.search.helpers import (
    counted,
    evaluations,
    finished_records,
    kill_group,
    pareto_json,
    search_cmd,
    subprocess_env,
    trials,
)

pytestmark = pytest.mark.slow


def test_sigkill_then_same_command_finishes_at_exactly_the_budget(tmp_path, capsys):
    study = tmp_path / "study"
    env = subprocess_env()
    cmd = search_cmd(
        "--seed",
        "nafnet",
        "--budget",
        "7",
        "--study",
        str(study),
        "--fidelity",
        "smoke",
        "--backend",
        "local",
        "--quiet",
    )
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        end = time.monotonic() + 180
        while time.monotonic() < end:
            assert p.poll() is None, p.stderr.read().decode()[-2000:]
            try:
                if counted(study) >= 5:
                    break
            except Exception:  # noqa: BLE001 - the study is being written: read it again
                pass
            time.sleep(0.2)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        kill_group(p)
    before, evals_before = finished_records(study), evaluations(study)
    assert 5 <= counted(study) < 7
    assert len(before) == counted(study) + 3  # the reference points train first, besides the budget
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert counted(study) == 7
    after = finished_records(study)
    assert {n: after[n] for n in before} == before
    evals_after = evaluations(study)
    assert {k: evals_after[k] for k in evals_before} == evals_before
    assert all(t.state.name in ("COMPLETE", "FAIL", "PRUNED") for t in trials(study))
    seed = next(t for t in trials(study) if t.user_attrs.get("reference") == "seed")
    assert seed.state.name == "COMPLETE" and seed.user_attrs["metrics"]["fidelity"] == "smoke"
    assert (seed.number, 0, 1) in evals_after  # trained again with random seed 1: the noise floor
    # what the search printed is what `roadmap pareto` shows
    printed = re.search(r"Pareto front (\d+) at rung 0", done.stdout)
    assert printed, done.stdout
    front = pareto_json(capsys, study)["front"]
    assert int(printed.group(1)) == len(front) >= 1
