"""`roadmap search` on Ray Tune, as a user runs it: Ctrl-C, SIGKILL and resume; an existing
cluster with --address. The command is the real one (``fake_cli.py``) with the fake evaluator,
which keeps trainings short (1 s of "training")."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roadmap.search.results import load_candidates
from roadmap.search.study import open_study
from tests.search.helpers import (
    counted,
    evaluations,
    fake_search_cmd,
    finished_records,
    free_port,
    kill_group,
    subprocess_env,
    trained_by_the_fake,
    trials,
    wait_for,
)

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_ctrl_c_sigkill_and_resume_count_every_trial_once(tmp_path):
    study = tmp_path / "study"
    env = subprocess_env()
    cmd = fake_search_cmd(1.0, "--seed", "nafnet", "--budget", "10", "--study", str(study), "--fidelity", "smoke")
    procs = []
    try:
        # 1. Ctrl-C after 2 finished trials: a clean stop, exit 130, the resume command printed.
        p = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        procs.append(p)
        wait_for(lambda: counted(study) >= 2, p, 120)
        p.send_signal(signal.SIGINT)
        _out, err = p.communicate(timeout=60)
        assert p.returncode == 130, err
        assert f"Resume with: roadmap search --study {study} --budget 10" in err
        assert not [t for t in trials(study) if t.state.name == "RUNNING"]
        # 2. SIGKILL of the command after >= 5 finished trials (trials are left RUNNING).
        p = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        procs.append(p)
        wait_for(lambda: counted(study) >= 5, p, 120)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        kill_group(p)  # Ray's node agents outlive a SIGKILLed driver
        before, evals_before = finished_records(study), evaluations(study)
        assert 5 <= len(before) < 10
        # 3. The same command finishes the study at exactly 10 counted trials.
        done = subprocess.run(
            [*cmd, "--quiet"], env=env, capture_output=True, text=True, timeout=240, start_new_session=True
        )
        assert done.returncode == 0, done.stderr
    finally:
        for p in procs:
            kill_group(p)
    assert counted(study) == 10
    after = finished_records(study)
    assert {n: after[n] for n in before} == before  # earlier trials unchanged
    evals_after = evaluations(study)
    assert {k: evals_after[k] for k in evals_before} == evals_before and trained_by_the_fake(evals_after)
    screened = {n for (n, r, s) in evals_after if (r, s) == (0, 0)}
    assert set(after) <= screened  # every counted trial was trained at rung 0
    states = [t.state.name for t in trials(study)]
    assert "RUNNING" not in states and "WAITING" not in states
    # the trainings Ctrl-C and SIGKILL interrupted were noted, not counted, and queued again
    notes = open_study(study).user_attrs
    interrupted = {int(k.split(":")[1]) for k in notes if k.startswith("interrupted:")}
    by_number = {t.number: t for t in trials(study)}
    assert interrupted and all(by_number[n].state.name == "PRUNED" for n in interrupted)
    requeued = {t.user_attrs.get("requeued_from") for t in trials(study)} - {None}
    assert requeued == interrupted
    # a SIGKILL between storing a rung-0 record and telling Optuna leaves the record of a trial
    # that never counts: its re-queued copy trains again, and the results ignore the record
    assert screened - set(after) <= interrupted
    ignored = {c.number: c.evaluations for c in load_candidates(open_study(study)) if c.number in interrupted}
    assert ignored and not any(ignored.values())


def test_search_on_an_existing_cluster_with_address(tmp_path):
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    env = subprocess_env(HOME=str(home), RAY_USAGE_STATS_ENABLED="0")
    ray_bin = str(Path(sys.executable).with_name("ray"))
    head = subprocess.Popen(
        [
            ray_bin,
            "start",
            "--head",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            "--block",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    study = tmp_path / "study"
    try:
        import socket

        end = time.monotonic() + 90
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None, "ray start failed"
                time.sleep(0.5)
        time.sleep(2)
        done = subprocess.run(
            fake_search_cmd(
                0.5,
                "--seed",
                "nafnet",
                "--budget",
                "4",
                "--study",
                str(study),
                "--fidelity",
                "smoke",
                "--address",
                f"127.0.0.1:{port}",
                "--quiet",
                "--json",
            ),
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["done"] == 4 and counted(study) == 4 and trained_by_the_fake(evaluations(study))
        run = open_study(study).user_attrs["runs"][-1]
        assert run["backend"] == "ray" and run["concurrency"] == 2  # the cluster's 2 CPUs, one a trial
        assert head.poll() is None  # the command left the cluster running
    finally:
        # stop that cluster by its own process ids: `ray start --block` and its children
        kill_group(head)
        head.wait(timeout=30)


def test_screens_on_ray_start_from_the_seeds_weights_with_a_relative_study_path(tmp_path):
    """A Ray Tune trial runs in its own working folder: the seed's weights saved under the
    study's relative path must still be the ones every screen starts from (they once landed in
    the trial folder, and every screen silently trained from scratch)."""
    from roadmap.search.testing import FakeEvaluator
    from roadmap.spec import load_spec

    (tmp_path / "screen.yaml").write_text(
        "rungs: [10, 30, 90]\nscreen_iterations: 5\neta: 3\nbatch: 2\ncrop: 32\nval_crop: 32\nval_count: 2\n"
    )
    cmd = fake_search_cmd(
        0.2, "--seed", "nafnet", "--budget", "3", "--study", "rel", "--fidelity", "screen.yaml", "--quiet"
    )
    done = subprocess.run(
        cmd, env=subprocess_env(), cwd=tmp_path, capture_output=True, text=True, timeout=240, start_new_session=True
    )
    assert done.returncode == 0, done.stderr
    study, fake = tmp_path / "rel", FakeEvaluator()
    assert (study / "trials" / "0" / "rung1-seed0.pt").is_file()
    specs = {t.number: load_spec(t.user_attrs["spec_yaml"]) for t in trials(study)}
    screens = {n: rec for (n, r, s), rec in evaluations(study).items() if r == 0}
    assert len(screens) == 6
    for n, rec in screens.items():  # the fake counts inherited weights as a head start
        assert rec["psnr"] == pytest.approx(fake.psnr(specs[n], 5 + fake.inherited_iterations, 0))
