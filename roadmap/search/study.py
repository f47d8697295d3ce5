"""The study directory (DESIGN.md section 5): settings, Optuna storage, per-trial files.

::

    <study>/settings.json        the settings the study was created with
    <study>/study.db             Optuna SQLite storage, study name "roadmap"
    <study>/trials/<n>/spec.yaml
    <study>/trials/<n>/metrics.json

Trial states and the budget
    ``COMPLETE``  trained and measured; ``values = [psnr, latency_ms, peak_memory_measured_bytes]``.
    ``FAIL``      an invalid spec, a diverged / failed / crashed training (``failure_reason``).
    ``PRUNED``    never trained: rejected by a constraint before training, a duplicate of an
                  earlier candidate, or interrupted (Ctrl-C, SIGKILL) and queued again.
                  ``failure_reason`` says which.
    The budget counts ``COMPLETE + FAIL`` trials only, so a trial is counted once, when it
    ends; a rejected or interrupted one never is.
"""
from __future__ import annotations

import datetime
import fcntl
import json
import math
import os
from pathlib import Path
from typing import Any

from roadmap.errors import RoadmapError

__all__ = [
    "STUDY_NAME",
    "OBJECTIVES",
    "DIRECTIONS",
    "BINDING_SETTINGS",
    "default_study_dir",
    "read_settings",
    "check_settings",
    "write_settings",
    "open_study",
    "load_or_create_study",
    "close_study",
    "StudyLock",
    "trial_dir",
    "write_json_atomic",
    "count_trials",
]

STUDY_NAME = "roadmap"
OBJECTIVES = ("psnr", "latency_ms", "peak_memory_measured_bytes")
DIRECTIONS = ("maximize", "minimize", "minimize")

# Settings that define what a study measures: resuming with another value is refused.
# (budget, concurrency, address, resources and --quiet may change between runs.)
BINDING_SETTINGS = (
    "seed",
    "variant",
    "space",
    "fidelity",
    "data",
    "sampler",
    "population_size",
    "random_seed",
    "max_latency_ms",
    "max_memory_mb",
    "min_psnr",
    "device",
)


def default_study_dir(seed: str, variant: str | None = None) -> Path:
    """``studies/runs/<seed>`` (``<seed>-<variant>`` when a variant was named)."""
    return Path("studies") / "runs" / (f"{seed}-{variant}" if variant else seed)


# --------------------------------------------------------------------------- settings


def read_settings(directory: Path) -> dict | None:
    """The settings of an existing study, ``None`` when ``directory`` holds no study."""
    path = Path(directory) / "settings.json"
    if not path.exists():
        if (Path(directory) / "study.db").exists():
            raise RoadmapError(f"{directory}: has a study.db but no settings.json; not a roadmap study")
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RoadmapError(f"{path}: unreadable settings ({exc})") from exc
    if not isinstance(data, dict):
        raise RoadmapError(f"{path}: unreadable settings (not a JSON object)")
    return data


def _short(value: Any) -> str:
    if isinstance(value, dict) and "steps" in value:
        return "<search space>"
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 40 else text[:37] + "..."


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def check_settings(directory: Path, stored: dict, wanted: dict) -> None:
    """Refuse to resume the study in ``directory`` with settings other than its own."""
    diffs = []
    for key in BINDING_SETTINGS:
        if key not in stored and key not in wanted:
            continue
        if not _same(stored.get(key), wanted.get(key)):
            label = "space (the search space content)" if key == "space" else key
            diffs.append(f"{label}: study has {_short(stored.get(key))}, command gives {_short(wanted.get(key))}")
    if diffs:
        raise RoadmapError(
            f"study {directory} was created with other settings ({'; '.join(diffs)}); "
            "rerun with the study's settings or use another --study"
        )


def write_settings(directory: Path, settings: dict) -> None:
    data = dict(settings)
    data.setdefault("created", datetime.datetime.now().isoformat(timespec="seconds"))
    write_json_atomic(Path(directory) / "settings.json", data)


# --------------------------------------------------------------------------- storage


def _storage_url(directory: Path) -> str:
    return f"sqlite:///{(Path(directory) / 'study.db').resolve()}"


def open_study(directory: str | Path):
    """Load the study in ``directory`` for reading (review, tests). Creates nothing.

    Raises:
        RoadmapError: no ``study.db`` there, or it holds no ``roadmap`` study.
    """
    import optuna
    from optuna.storages import RDBStorage

    directory = Path(directory)
    db = directory / "study.db"
    if not db.is_file():
        raise RoadmapError(f"{directory}: not a study directory (no study.db)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not _initialised(db):
        # Opening a half-created storage would make Optuna stamp its schema version too,
        # racing the search that is creating it.
        raise RoadmapError(f"{db}: the study is still being created")
    try:
        storage = RDBStorage(_storage_url(directory), skip_table_creation=True)
        return optuna.load_study(study_name=STUDY_NAME, storage=storage)
    except KeyError as exc:
        raise RoadmapError(f"{db}: no study named {STUDY_NAME!r}") from exc
    except Exception as exc:  # noqa: BLE001 - sqlalchemy raises many kinds
        raise RoadmapError(f"{db}: cannot read the Optuna storage ({type(exc).__name__}: {exc})") from exc


def _initialised(db: Path) -> bool:
    """Whether Optuna has finished creating the storage in ``db`` (its schema version is stamped)."""
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute("SELECT COUNT(*) FROM alembic_version").fetchone()[0] > 0
    except sqlite3.Error:
        return False


def load_or_create_study(directory: Path, sampler: Any):
    """The study in ``directory`` (created when new) driven by ``sampler``."""
    import optuna
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import IntegrityError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, kwargs = _storage_url(directory), {"connect_args": {"timeout": 60}}
    try:
        storage = RDBStorage(url, engine_kwargs=kwargs)
    except IntegrityError:  # another process (a reader) stamped the new schema first
        storage = RDBStorage(url, engine_kwargs=kwargs)
    _fast_sqlite(storage)
    return optuna.create_study(
        study_name=STUDY_NAME,
        storage=storage,
        sampler=sampler,
        directions=list(DIRECTIONS),
        load_if_exists=True,
    )


def close_study(study: Any) -> None:
    """Fold the SQLite write-ahead log into ``study.db`` and close the connections, so the
    folder holds one self-contained file and later readers change no byte of it."""
    try:
        from sqlalchemy import text

        engine = study._storage._backend.engine if hasattr(study._storage, "_backend") else study._storage.engine
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        engine.dispose()
    except Exception:  # noqa: BLE001 - tidiness only; the data is safe either way
        pass


def _fast_sqlite(storage: Any) -> None:
    """SQLite in WAL mode with ``synchronous=NORMAL``: no fsync per write (a trial writes
    ~30 parameters; an fsync costs ~17 ms here). A killed process loses nothing; a power cut
    could lose the last writes, never corrupt the file. (``study.db-wal`` / ``-shm`` exist
    while a search runs.)"""
    try:
        from sqlalchemy import event

        engine = storage.engine

        def _pragma(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        event.listen(engine, "connect", _pragma)
        engine.dispose()
    except Exception:  # noqa: BLE001 - only a speed-up
        pass


class StudyLock:
    """An exclusive ``flock`` on the study directory: one search per study at a time.

    The lock belongs to the process and goes away with it (also on SIGKILL).
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._fd: int | None = None

    def __enter__(self) -> "StudyLock":
        self._fd = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise RoadmapError(f"study {self.directory} is being searched by another process") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def is_locked(directory: Path) -> bool:
    """Whether another process holds :class:`StudyLock` on ``directory``."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


# --------------------------------------------------------------------------- files


def trial_dir(directory: Path, number: int) -> Path:
    return Path(directory) / "trials" / str(number)


def write_json_atomic(path: Path, data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def count_trials(study: Any) -> dict[str, int]:
    """``complete``, ``failed``, ``pruned`` (rejected / interrupted), ``running``, ``waiting``
    and ``budget_used`` (= complete + failed)."""
    from optuna.trial import TrialState

    counts = {"complete": 0, "failed": 0, "pruned": 0, "running": 0, "waiting": 0}
    key = {
        TrialState.COMPLETE: "complete",
        TrialState.FAIL: "failed",
        TrialState.PRUNED: "pruned",
        TrialState.RUNNING: "running",
        TrialState.WAITING: "waiting",
    }
    for t in study.get_trials(deepcopy=False):
        counts[key[t.state]] += 1
    counts["budget_used"] = counts["complete"] + counts["failed"]
    return counts
