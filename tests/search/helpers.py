"""Shared helpers of the search tests (and of tests/cli): in-process searches with the fake
evaluator, the promotion plan a study must follow, and study inspection. Imported as
``tests.search.helpers``; the fixtures are in this folder's conftest.py.

In process, a test calls `search(...)` (``run_search`` with `FakeEvaluator`); a test that
needs a process to kill runs ``fake_cli.py``, the real ``roadmap`` command line whose search
trains with `FakeEvaluator` (see that file).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAKE_CLI = Path(__file__).resolve().with_name("fake_cli.py")
# Three rungs of 10, 30 and 90 iterations (cumulative); the fake evaluator never trains them.
RUNGS3 = "iterations: 90\nrungs: [10, 30, 90]\nbatch: 2\ncrop: 32\nval_crop: 32\nval_count: 2\n"


# --------------------------------------------------------------------------- running searches


def settings(study: Path, **options):
    """`SearchSettings` for ``study`` as ``roadmap search --backend local`` resolves them
    (options left out take the study's settings)."""
    from roadmap.search import resolve_settings
    from roadmap.search.settings_file import read_settings

    stored = read_settings(study) if Path(study).is_dir() else None
    return resolve_settings({"backend": "local", **options}, Path(study), stored)


def search(study: Path, evaluator=None, messages: io.StringIO | None = None, **options):
    """Run (or resume) a search in process with ``evaluator`` (default: a `FakeEvaluator`);
    returns its `SearchSummary`. The lines a user would see are written to ``messages``."""
    from roadmap.search import run_search
    from roadmap.search.progress import Progress
    from roadmap.search.testing import FakeEvaluator

    s = settings(study, **options)
    progress = Progress(s.budget, stream=messages if messages is not None else io.StringIO(), enabled=False)
    return run_search(s, evaluator if evaluator is not None else FakeEvaluator(), progress)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``roadmap ARGV`` in process: (exit code, stdout, stderr)."""
    from roadmap.cli import main

    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def pareto_json(capsys, study: Path) -> dict:
    code, out, err = run_cli(capsys, "pareto", str(study), "--json")
    assert code == 0, err
    return json.loads(out)


def subprocess_env(**extra: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def search_cmd(*args: str) -> list[str]:
    """The real ``roadmap search`` (real evaluator)."""
    return [sys.executable, "-m", "roadmap", "search", *args]


def fake_search_cmd(train_seconds: float, *args: str) -> list[str]:
    """``roadmap search`` whose trainings are `FakeEvaluator(train_seconds=...)`."""
    return [sys.executable, str(FAKE_CLI), str(train_seconds), "search", *args]


def kill_group(proc: subprocess.Popen) -> None:
    """Kill what a test started in its own session: the process and the Ray processes it
    spawned (all share the session's process group unless Ray moved them)."""
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- reading studies


def snapshot(study_dir: Path) -> dict:
    """Every file of a study directory and its bytes (to prove nothing changed)."""
    if not study_dir.exists():
        return {}
    # SQLite's -wal / -shm files come and go with open connections; their content is in study.db
    return {
        str(p.relative_to(study_dir)): p.read_bytes()
        for p in sorted(study_dir.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def trials(study_dir: Path):
    from roadmap.search.study import open_study

    return open_study(study_dir).get_trials(deepcopy=False)


def evaluations(study_dir: Path) -> dict[tuple[int, int, int], dict]:
    """``(trial, rung, random seed) -> record`` of every training the study stored."""
    from roadmap.search.study import open_study, read_evaluations

    return read_evaluations(open_study(study_dir))


def trained_by_the_fake(evals: dict) -> bool:
    """Whether every evaluation came from `FakeEvaluator` (its fixed ``input_psnr``): proves
    ``fake_cli.py`` did replace the real evaluator."""
    return bool(evals) and all(rec.get("input_psnr") == 20.2 for rec in evals.values())


def counted(study_dir: Path) -> int:
    """COMPLETE + FAIL candidates (the budget: the reference points are trained besides it);
    0 while the study does not exist yet."""
    from optuna.trial import TrialState

    from roadmap.errors import RoadmapError

    try:
        ts = trials(study_dir)
    except RoadmapError:  # not created yet
        return 0
    return sum(t.state in (TrialState.COMPLETE, TrialState.FAIL) and not t.user_attrs.get("reference") for t in ts)


def finished_records(study_dir: Path) -> dict:
    """number -> (state, values, metrics attr, metrics.json without its evaluations) of the
    counted trials; evaluations are compared separately (a later rung adds to metrics.json, and
    so does a second latency measurement of a trial timed on a busy machine)."""
    from optuna.trial import TrialState

    out = {}
    for t in trials(study_dir):
        if t.state in (TrialState.COMPLETE, TrialState.FAIL):
            metrics = json.loads((study_dir / "trials" / str(t.number) / "metrics.json").read_text())
            metrics.pop("evaluations", None)
            metrics.pop("latency_remeasured", None)
            out[t.number] = (
                t.state.name,
                t.values,
                json.dumps(t.user_attrs.get("metrics"), sort_keys=True),
                json.dumps(metrics, sort_keys=True),
            )
    return out


def check_promotion_plan(study_dir: Path) -> dict[int, dict]:
    """Assert the study followed the MO-ASHA plan; returns, for every rung ``k``, ``trained``
    (trial numbers trained there with the study's random seed) and, for ``k >= 1``, ``pool``
    (candidates with a rung ``k - 1`` result) and ``ranks`` (their non-dominated rank there).

    At every rung ``k >= 1``: each candidate trained there had an ``ok`` result at ``k - 1``;
    exactly the best ``ceil(n / eta)`` of the ``n`` candidates with a rung ``k - 1`` result
    (non-dominated sorting + crowding distance on PSNR at ``k - 1``, latency, memory) plus the
    reference points were trained; no candidate was promoted on merit while one of a better
    rank was not, and none while a candidate that dominates it was not.
    """
    from roadmap import pareto
    from roadmap.evaluation.fidelity import Fidelity
    from roadmap.search.results import load_candidates
    from roadmap.search.settings_file import read_settings
    from roadmap.search.study import open_study, read_evaluations

    stored = read_settings(study_dir)
    fidelity, seed = Fidelity.from_dict(stored["fidelity"]), stored["random_seed"]
    study = open_study(study_dir)
    evals = read_evaluations(study)
    candidates = load_candidates(study)
    top = fidelity.search_top_rung
    plan: dict[int, dict] = {k: {"trained": {n for (n, r, s) in evals if r == k and s == seed}} for k in range(top + 1)}
    assert plan[0]["trained"], "nothing trained at rung 0"
    for k in range(1, top + 1):
        trained = plan[k]["trained"]
        for n in trained:
            assert evals.get((n, k - 1, seed), {}).get("status") == "ok", f"{n}: rung {k} without rung {k - 1}"
        pool = [c for c in candidates if c.runs(k - 1) and c.measured]
        loss = pareto.to_loss([(c.psnr(k - 1), c.latency_ms, c.memory_bytes) for c in pool], (True, False, False))
        count = math.ceil(len(pool) / fidelity.eta)
        best = {pool[i].number for i in pareto.select_best(loss, count)}
        references = {c.number for c in pool if c.reference}
        assert trained == best | references, f"rung {k}"
        assert len(trained) == count + len(references - best), f"rung {k}"
        ranks = dict(zip((c.number for c in pool), pareto.non_dominated_ranks(loss).tolist(), strict=False))
        on_merit, left = trained - references, {c.number for c in pool} - trained
        if on_merit and left:
            assert max(ranks[n] for n in on_merit) <= min(ranks[n] for n in left), f"rung {k}"
        for i, a in enumerate(pool):
            for j, b in enumerate(pool):
                if b.number in on_merit and dominates(loss[i], loss[j]):
                    assert a.number in trained, f"rung {k}: {b.number} promoted, {a.number} dominates it"
        plan[k].update(pool={c.number for c in pool}, ranks=ranks)
    return plan


def dominates(a, b) -> bool:
    """Loss vector ``a`` dominates ``b``: no worse anywhere, better somewhere."""
    import numpy as np

    return bool(np.all(a <= b) and np.any(a < b))


def wait_for(pred, proc, timeout: float, poll: float = 0.2) -> None:
    """Wait until ``pred()`` is true while ``proc`` runs (errors of ``pred`` count as not yet:
    the study may not exist yet); fail when the process exits first or time runs out."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"search exited early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        try:
            if pred():
                return
        except Exception:  # noqa: BLE001
            pass
        time.sleep(poll)
    raise AssertionError("timed out waiting for the search")
