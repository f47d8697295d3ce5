"""One study, used by several processes at once.

Two ``roadmap search`` processes on one study: one runs, the other exits 2 naming the first
(pid, host, start time); the study ends consistent. ``roadmap pareto`` reading a study while a
search writes it gets an answer or one error line, never a traceback. The searches are the real
command line with `FakeEvaluator` trainings of half a second (nothing is trained).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.search.helpers import REPO, fake_search_cmd, subprocess_env

BUDGET = 6


def start_search(study: Path, train_seconds: float = 0.5, budget: int = BUDGET) -> subprocess.Popen:
    """The real ``roadmap search`` whose trainings take ``train_seconds`` (tests/search/fake_cli.py)."""
    argv = fake_search_cmd(
        train_seconds,
        "--study",
        str(study),
        "--backend",
        "local",
        "--fidelity",
        "smoke",
        "--budget",
        str(budget),
        "--quiet",
    )
    return subprocess.Popen(
        argv, cwd=REPO, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def assert_consistent(study: Path, budget: int) -> None:
    """Budget exact; every evaluation and trial folder belongs to one counted or pruned trial."""
    from roadmap.search.study import count_trials, open_study, read_evaluations

    s = open_study(study)
    counts = count_trials(s)
    assert counts["budget_used"] == budget and counts["running"] == 0, counts
    numbers = [t.number for t in s.get_trials(deepcopy=False)]
    assert len(numbers) == len(set(numbers))
    assert {n for n, _, _ in read_evaluations(s)} <= set(numbers)
    assert {int(p.name) for p in (study / "trials").iterdir()} <= set(numbers)


def busy_message(study: Path, pid: int) -> re.Pattern:
    return re.compile(
        rf"roadmap search: error: study {re.escape(str(study))} is being searched by another "
        rf"process \(pid {pid} on {re.escape(socket.gethostname())}, since \d{{4}}-\d\d-\d\dT[\d:]+\)\n"
    )


@pytest.mark.slow
def test_two_searches_started_at_once_one_runs_the_other_names_it(tmp_path):
    study = tmp_path / "study"
    first, second = start_search(study), start_search(study)
    (code1, err1), (code2, err2) = finish(first), finish(second)
    assert sorted([code1, code2]) == [0, 2], (err1, err2)
    winner, loser_err = (first, err2) if code1 == 0 else (second, err1)
    assert busy_message(study, winner.pid).fullmatch(loser_err), loser_err
    assert_consistent(study, BUDGET)


@pytest.mark.slow
def test_a_search_started_during_another_names_it_and_leaves_the_study_alone(tmp_path):
    from roadmap.search.study_lock import is_locked, lock_holder

    study = tmp_path / "study"
    first = start_search(study, budget=BUDGET)
    deadline = time.monotonic() + 120
    while not (study.is_dir() and is_locked(study) and lock_holder(study)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lock_holder(study).startswith(f"pid {first.pid} on {socket.gethostname()}, since ")
    code, err = finish(start_search(study, budget=BUDGET + 4))  # another budget: not even checked
    assert code == 2 and busy_message(study, first.pid).fullmatch(err), err
    assert finish(first)[0] == 0
    assert_consistent(study, BUDGET)
    assert not is_locked(study) and lock_holder(study) is None  # the lock file is emptied on exit


@pytest.mark.slow
def test_pareto_reads_a_study_while_a_search_writes_it(tmp_path, capsys):
    from roadmap.cli import main

    study = tmp_path / "study"
    search = start_search(study, train_seconds=0.3, budget=8)
    answers = {"json": 0, "error": 0}
    while search.poll() is None:
        capsys.readouterr()
        code = main(["pareto", str(study), "--json"])  # any exception fails the test
        out, err = capsys.readouterr()
        if code == 0:
            json.loads(out)
            answers["json"] += 1
        else:
            assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
            answers["error"] += 1  # no study yet, still being created, nothing finished yet
        time.sleep(0.1)
    assert finish(search)[0] == 0
    assert main(["pareto", str(study), "--json"]) == 0
    assert answers["json"] + answers["error"] >= 3, answers
