"""A study's database checked before it is read, and its resume point: the last good copy.

``study.db`` is SQLite. A file that a full disk, a copy interrupted half-way or an editor has
damaged is diagnosed as damaged (:func:`check_database`), by review commands and by a resume
alike, instead of "the study is still being created" or sqlalchemy's traceback::

    study runs/x: study.db is not a readable SQLite database (truncated or corrupt: database disk
    image is malformed); restore the last good copy (runs/x/resume-point, saved 2025-06-01 10:42,
    12 trials) with `roadmap restore runs/x`, or to start over, remove the folder

The resume point, ``<study>/resume-point/`` (``study.db`` and ``settings.json``), is written at
the safe points of a search (:func:`save_resume_point`): when a run starts on an existing study
and when it ends, each time from a database that passed SQLite's ``quick_check`` (a damaged
database never replaces a good copy). :func:`restore` puts it back in one command; the
damaged files are kept beside it as ``*.damaged``.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
from pathlib import Path
from typing import Any

from roadmap.errors import RoadmapError

__all__ = ["RESUME_POINT", "database_problem", "check_database", "save_resume_point", "resume_point_text", "restore"]

RESUME_POINT = "resume-point"
DB = "study.db"
SETTINGS = "settings.json"
_SIDE_FILES = ("-wal", "-shm")  # SQLite's write-ahead log and its index, beside study.db


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on ``db`` opened read-only (closed afterwards)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return conn.execute(sql).fetchall()


def database_problem(db: Path) -> str | None:
    """Why the SQLite file ``db`` is not readable (``database disk image is malformed``,
    ``file is not a database``, the first line of ``quick_check``), else None."""
    try:
        rows = _query(db, "PRAGMA quick_check")
    except sqlite3.OperationalError:
        # busy, locked, cannot open (a folder it may not write its index in): not damage --
        # the storage's own open reports it, naming the file
        return None
    except sqlite3.DatabaseError as exc:  # SQLITE_CORRUPT, SQLITE_NOTADB: the file itself
        return str(exc)
    first = rows[0][0] if rows else "no answer"
    return None if first == "ok" else str(first)


def _trials(db: Path) -> int | None:
    """How many trials ``db`` holds (None when it has no Optuna tables)."""
    try:
        return int(_query(db, "SELECT COUNT(*) FROM trials")[0][0])
    except sqlite3.Error:
        return None


def resume_point_text(directory: Path) -> str | None:
    """``runs/x/resume-point, saved 2025-06-01 10:42, 12 trials``; None without a usable copy."""
    db = Path(directory) / RESUME_POINT / DB
    if not db.is_file() or database_problem(db) is not None:
        return None
    saved = datetime.datetime.fromtimestamp(db.stat().st_mtime).isoformat(sep=" ", timespec="minutes")
    trials = _trials(db)
    return f"{db.parent}, saved {saved}" + ("" if trials is None else f", {trials} trials")


def recovery_hint(directory: Path) -> str:
    """What to do with a damaged study: restore its resume point, or start over."""
    copy = resume_point_text(directory)
    if copy is None:
        return f"there is no good copy to restore ({Path(directory) / RESUME_POINT}); to start over, remove the folder"
    return (
        f"restore the last good copy ({copy}) with `roadmap restore {directory}`, or to start over, remove the folder"
    )


def check_database(directory: Path) -> None:
    """Refuse a study whose ``study.db`` SQLite cannot read, saying how to recover it."""
    directory = Path(directory)
    problem = database_problem(directory / DB)
    if problem is not None:
        raise RoadmapError(
            f"study {directory}: {DB} is not a readable SQLite database (truncated or corrupt: "
            f"{problem}); {recovery_hint(directory)}"
        )


def save_resume_point(directory: Path) -> bool:
    """Copy ``study.db`` (a consistent snapshot, SQLite's backup API) and ``settings.json`` to
    ``<study>/resume-point/``, each whole or not at all; False (nothing replaced) when the
    database does not pass ``quick_check``. The caller holds the study's lock."""
    from roadmap import files

    directory = Path(directory)
    db = directory / DB
    if not db.is_file() or database_problem(db) is not None:
        return False
    with contextlib.closing(sqlite3.connect(":memory:")) as memory:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)) as source:
            source.backup(memory)
        data = memory.serialize()  # Python >= 3.11 (requires-python)
    target = directory / RESUME_POINT
    files.write_bytes(target / DB, data, "resume point")
    if (directory / SETTINGS).is_file():
        files.write_bytes(target / SETTINGS, (directory / SETTINGS).read_bytes(), "resume point")
    return True


def restore(directory: Path, force: bool = False) -> str:
    """Put the resume point back, what is damaged only: a ``study.db`` SQLite cannot read
    (with ``settings.json``: the copies belong together), or a missing ``settings.json`` beside
    a readable one. The replaced files move aside as ``*.damaged``. ``force``: restore both
    although they are readable (the trials since the copy are lost). Returns what was done."""
    directory = Path(directory)
    if not (directory / DB).exists() and not (directory / RESUME_POINT).is_dir():
        raise RoadmapError(f"study {directory}: not a study folder (no {DB}, no {RESUME_POINT}/)")
    from roadmap.search.study_lock import check_unlocked

    check_unlocked(directory)  # a running search owns the files
    copy = resume_point_text(directory)
    if copy is None:
        raise RoadmapError(f"study {directory}: {recovery_hint(directory)}")
    db_ok = (directory / DB).is_file() and database_problem(directory / DB) is None
    if db_ok and (directory / SETTINGS).is_file() and not force:
        raise RoadmapError(
            f"study {directory}: {DB} and {SETTINGS} are readable, nothing to restore (add --force "
            f"to go back to the copy of {copy.partition(', saved ')[2]}, losing the trials since)"
        )
    names = [SETTINGS] if db_ok and not force else [DB, SETTINGS]
    _put_back(directory, names)
    return f"restored {' and '.join(names)} of {directory} from {copy}"


def _put_back(directory: Path, names: list[str]) -> None:
    """Copy ``names`` from the resume point into ``directory``; what they replace (and a
    replaced database's write-ahead log) is kept as ``<name>.damaged``."""
    from roadmap import files

    point = directory / RESUME_POINT
    for name in names:
        if not (point / name).is_file():
            continue  # a study resumed before it had settings.json: nothing to put back
        data = (point / name).read_bytes()
        aside = [name, *(name + s for s in _SIDE_FILES)] if name == DB else [name]
        for old in aside:
            if (directory / old).exists():
                os.replace(directory / old, directory / f"{old}.damaged")
        files.write_bytes(directory / name, data, "study file")
