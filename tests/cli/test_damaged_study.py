"""A damaged study is diagnosed as damaged (review commands and a resume alike), and its
resume point -- the last good copy of study.db and settings.json a search keeps -- puts it back
with one command (`roadmap restore`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from roadmap.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def fake_search(study: Path, budget: int):
    from roadmap.search import resolve_settings, run_search
    from roadmap.search.testing import FakeEvaluator

    stored = None
    if (study / "settings.json").exists():
        from roadmap.search.settings_file import read_settings

        stored = read_settings(study)
    options = {"budget": budget, "fidelity": "smoke", "backend": "local"}
    return run_search(resolve_settings(options, study, stored), FakeEvaluator())


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A study searched twice (budget 2, then 3): its resume point is the end of the second run."""
    study = tmp_path_factory.mktemp("good") / "study"
    fake_search(study, 2)
    fake_search(study, 3)
    return study


@pytest.fixture
def study(good, tmp_path) -> Path:
    copy = tmp_path / "study"
    shutil.copytree(good, copy)
    return copy


def trial_count(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]


def test_a_search_keeps_a_resume_point_of_its_last_run(good):
    assert sorted(p.name for p in (good / "resume-point").iterdir()) == ["settings.json", "study.db"]
    assert trial_count(good / "resume-point" / "study.db") == trial_count(good / "study.db")
    assert (good / "resume-point" / "settings.json").read_bytes() == (good / "settings.json").read_bytes()


def damage(study: Path, how: str) -> None:
    db = study / "study.db"
    if how == "truncated":
        os.truncate(db, db.stat().st_size // 2)
    else:
        db.write_bytes(b"not SQLite at all\n" * 200)


WHY = {"truncated": "database disk image is malformed", "overwritten": "file is not a database"}


def refusal(study: Path, why: str, command: str) -> str:
    return (
        f"roadmap {command}: error: study {study}: study.db is not a readable SQLite database (truncated or "
        f"corrupt: {why}); restore the last good copy ({study}/resume-point, saved "
    )


@pytest.mark.parametrize("how", sorted(WHY))
@pytest.mark.parametrize(
    "argv",
    [
        ["pareto"],
        ["pareto", "--failed"],
        ["pareto", "--json"],
        ["plot", "--out", "r.html"],
        ["export", "--out", "w.yaml"],
    ],
)
def test_a_damaged_study_is_diagnosed_by_every_review_command(good, study, how, argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    damage(study, how)
    code, out, err = run(capsys, argv[0], study, *argv[1:])
    assert (code, out, err.count("\n")) == (2, "", 1)
    assert err.startswith(refusal(study, WHY[how], argv[0]))
    assert err.endswith(
        f", {trial_count(good / 'study.db')} trials) with `roadmap restore {study}`, "
        "or to start over, remove the folder\n"
    )
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "w.yaml").exists()


def test_a_resume_refuses_a_damaged_study_and_leaves_it_alone(good, study, capsys):
    damage(study, "truncated")
    before = (study / "study.db").read_bytes()
    code, _, err = run(capsys, "search", "--study", study, "--backend", "local", "--budget", "5")
    assert code == 2 and err.startswith(refusal(study, WHY["truncated"], "search"))
    assert (study / "study.db").read_bytes() == before
    assert trial_count(study / "resume-point" / "study.db") == trial_count(good / "study.db")  # not replaced


def test_restore_puts_the_last_good_copy_back_and_keeps_the_damaged_files(good, study, capsys):
    damage(study, "overwritten")
    code, out, err = run(capsys, "restore", study)
    assert (code, err) == (0, "")
    assert out.startswith(f"restored study.db and settings.json of {study} from {study}/resume-point, saved ")
    assert out.endswith(f", {trial_count(good / 'study.db')} trials; the replaced files are kept as *.damaged\n")
    assert (study / "study.db.damaged").read_bytes().startswith(b"not SQLite")
    code, out, _ = run(capsys, "pareto", study)
    assert code == 0 and out.startswith(f"study {study}: ")
    assert fake_search(study, 4).done == 4  # and the search resumes it


def test_restore_refuses_a_readable_study_unless_forced(study, capsys):
    code, _, err = run(capsys, "restore", study)
    assert code == 2 and err.startswith(
        f"roadmap restore: error: study {study}: study.db and settings.json are "
        "readable, nothing to restore (add --force to go back to the copy of "
    )
    assert run(capsys, "restore", study, "--force")[0] == 0
    assert {"settings.json.damaged", "study.db.damaged"} <= {p.name for p in study.iterdir()}


def test_a_lost_settings_file_says_the_database_is_intact_and_how_to_recover(study, capsys):
    (study / "settings.json").unlink()
    code, _, err = run(capsys, "pareto", study)
    assert code == 2 and err == (
        f"roadmap pareto: error: study {study}: settings.json is missing (study.db is intact, but a study needs the "
        f"settings it was created with); restore it from the last good copy ({study}/resume-point, saved "
        + err.split(", saved ")[1].split(")")[0]
        + f") with `roadmap restore {study}`\n"
    )
    code, out, _ = run(capsys, "restore", study)
    assert code == 0 and out.startswith(f"restored settings.json of {study} from ")
    assert run(capsys, "pareto", study)[0] == 0


def test_without_a_copy_the_refusal_says_to_start_over(study, capsys):
    shutil.rmtree(study / "resume-point")
    damage(study, "truncated")
    code, _, err = run(capsys, "pareto", study)
    assert (code, err) == (
        2,
        f"roadmap pareto: error: study {study}: study.db is not a readable SQLite database "
        f"(truncated or corrupt: database disk image is malformed); there is no good copy to "
        f"restore ({study}/resume-point); to start over, remove the folder\n",
    )
    code, _, err = run(capsys, "restore", study)
    assert (code, err) == (
        2,
        f"roadmap restore: error: study {study}: there is no good copy to restore "
        f"({study}/resume-point); to start over, remove the folder\n",
    )


def test_an_abandoned_creation_is_not_still_being_created(tmp_path, capsys):
    study = tmp_path / "study"
    study.mkdir()
    (study / "settings.json").write_text('{"seed": "nafnet"}')
    (study / "study.db").write_bytes(b"")  # the search died before Optuna wrote its tables
    code, _, err = run(capsys, "pareto", study)
    assert (code, err) == (
        2,
        f"roadmap pareto: error: study {study}: study.db holds no study (the search that "
        "created it stopped before it wrote one); to start over, remove the folder\n",
    )
