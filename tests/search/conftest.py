"""Shared helpers of the search tests: the fake evaluator and study inspection."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAKE = "roadmap.search.testing:FakeEvaluator"


@pytest.fixture
def fake_env(monkeypatch):
    """The fake evaluator (no training, no timing) for in-process runs."""
    monkeypatch.setenv("ROADMAP_SEARCH_EVALUATOR", FAKE)
    monkeypatch.delenv("ROADMAP_SEARCH_FAIL_TRIALS", raising=False)
    monkeypatch.delenv("ROADMAP_FAKE_TRAIN_SECONDS", raising=False)
    from roadmap.search import jobs

    jobs._CACHE.clear()
    yield
    jobs._CACHE.clear()


def subprocess_env(tmp_path: Path, **extra: str) -> dict:
    env = dict(os.environ)
    env.pop("ROADMAP_SEARCH_FAIL_TRIALS", None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def snapshot(study_dir: Path) -> dict:
    """Every file of a study directory and its bytes (to prove nothing changed)."""
    if not study_dir.exists():
        return {}
    # SQLite's -wal / -shm files come and go with open connections; their content is in study.db
    return {str(p.relative_to(study_dir)): p.read_bytes() for p in sorted(study_dir.rglob("*"))
            if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def trials(study_dir: Path):
    from roadmap.search.study import open_study

    return open_study(study_dir).get_trials(deepcopy=False)


def counted(study_dir: Path) -> int:
    from optuna.trial import TrialState

    from roadmap.errors import RoadmapError

    try:
        trials(study_dir)
    except RoadmapError:  # not created yet
        return 0
    return sum(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials(study_dir))


def finished_records(study_dir: Path) -> dict:
    """number -> (state, values, metrics.json text) of the counted trials."""
    from optuna.trial import TrialState

    out = {}
    for t in trials(study_dir):
        if t.state in (TrialState.COMPLETE, TrialState.FAIL):
            metrics = (study_dir / "trials" / str(t.number) / "metrics.json").read_text()
            out[t.number] = (t.state.name, t.values, json.dumps(t.user_attrs.get("metrics"), sort_keys=True), metrics)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def search_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "roadmap", "search", *args]


def kill_group(proc: subprocess.Popen) -> None:
    """Kill what a test started in its own session: the process and the Ray processes it
    spawned (all share the session's process group unless Ray moved them)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
