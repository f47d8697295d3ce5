"""Acceptance: SIGKILL after >= 5 finished trials, then the same command finishes the study at
exactly the budget with every earlier trial unchanged -- with the real evaluator at the
`smoke` fidelity (in-process backend: the Ray path is covered in test_search_ray.py)."""
import os
import signal
import subprocess
import time

import pytest
from conftest import counted, finished_records, kill_group, search_cmd, subprocess_env, trials

pytestmark = pytest.mark.slow


def test_sigkill_then_same_command_finishes_at_exactly_the_budget(tmp_path):
    study = tmp_path / "study"
    env = subprocess_env(tmp_path)
    env.pop("ROADMAP_SEARCH_EVALUATOR", None)
    cmd = search_cmd("--seed", "nafnet", "--budget", "7", "--study", str(study), "--fidelity", "smoke",
                     "--backend", "local", "--quiet")
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        end = time.monotonic() + 180
        while time.monotonic() < end:
            assert p.poll() is None, p.stderr.read().decode()[-2000:]
            try:
                if counted(study) >= 5:
                    break
            except Exception:
                pass
            time.sleep(0.2)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        kill_group(p)
    before = finished_records(study)
    assert 5 <= len(before) < 7
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert counted(study) == 7
    after = finished_records(study)
    assert {n: after[n] for n in before} == before
    assert all(t.state.name in ("COMPLETE", "FAIL", "PRUNED") for t in trials(study))
    seed = [t for t in trials(study) if t.user_attrs.get("reference") == "seed"][0]
    assert seed.state.name == "COMPLETE" and seed.user_attrs["metrics"]["fidelity"] == "smoke"
