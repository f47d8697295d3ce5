"""The study directory (DESIGN.md section 5): settings, Optuna storage, per-trial files.

::

    <study>/settings.json        the settings the study was created with
    <study>/study.db             Optuna SQLite storage, study name "roadmap"
    <study>/search.lock          flock of the running search; "pid host time" while it runs
    <study>/trials/<n>/spec.yaml
    <study>/trials/<n>/metrics.json     measurements and every evaluation of trial n
    <study>/trials/<n>/rung<k>-seed<s>.pt   weights after rung k (the next rung starts there)

One Optuna trial per candidate. Optuna sees the candidate at the first rung (every candidate
at the same fidelity, so the sampler compares like with like): ``values = [psnr at rung 0,
latency_ms, peak_memory_measured_bytes]``. Every training -- the first rung, promotions to
later rungs, replicates with another random seed -- is an *evaluation*, stored as the study
user attribute ``eval:<trial>:<rung>:<random seed>`` (a dict with ``psnr``, ``status``, ...),
which :mod:`roadmap.search.results` reads back.

Trial states and the budget
    ``COMPLETE``  trained at the first rung and measured.
    ``FAIL``      an invalid spec, a diverged / failed / crashed first rung (``failure_reason``).
    ``PRUNED``    never trained: rejected by a constraint before training, a duplicate of an
                  earlier candidate (``failure_reason``), or interrupted (Ctrl-C, SIGKILL) and
                  queued again (study attribute ``interrupted:<trial>``).
    The budget counts ``COMPLETE + FAIL`` candidates only, so a trial is counted once, when it
    ends; a rejected or interrupted one never is, and neither are the reference points (seed,
    mofa, unet--): they are trained besides the budget, so that ``--budget N`` always tries N
    candidates of the sampler.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import math
import os
import socket
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from roadmap.errors import RoadmapError
from roadmap.search.settings import SearchSettings
from roadmap.search.settings_schema import binding_keys, missing_values, stored_types

if TYPE_CHECKING:  # optuna is imported where it is used: the CLI starts faster
    import optuna

__all__ = [
    "StudyStore",
    "read_evaluations",
    "read_latencies",
    "STUDY_NAME",
    "OBJECTIVES",
    "DIRECTIONS",
    "BINDING_SETTINGS",
    "default_study_dir",
    "read_settings",
    "split_study_attrs",
    "study_task",
    "check_settings",
    "write_settings",
    "open_study",
    "StudyLock",
    "is_locked",
    "check_unlocked",
    "lock_holder",
    "trial_dir",
    "write_json_atomic",
    "count_trials",
]

STUDY_NAME = "roadmap"
OBJECTIVES = ("psnr_db", "latency_ms", "peak_memory_bytes")  # Optuna's metric names
MAXIMIZE = (True, False, False)
DIRECTIONS: tuple[Literal["minimize", "maximize"], ...] = tuple("maximize" if m else "minimize" for m in MAXIMIZE)
EVAL_PREFIX = "eval:"
INTERRUPTED_PREFIX = "interrupted:"
LATENCY_PREFIX = "latency:"

# Settings that define what a study measures: resuming with another value is refused; and the
# value a study created before a binding setting existed had (its settings.json lacks it). Both
# are declared on the fields of `SearchSettings` (budget, concurrency, address, resources and
# --quiet may change between runs).
BINDING_SETTINGS = binding_keys(SearchSettings)
BINDING_DEFAULTS = missing_values(SearchSettings)


def default_study_dir(seed: str, variant: str | None = None, task: str | None = None, scale: int | None = None) -> Path:
    """``studies/runs/<seed>`` (``<seed>-<variant>`` when a variant was named; the file name
    without its suffix for a seed given as a spec file), with the task appended unless it is
    denoising: ``nafnet-deblur``, ``nafnet-sr-x2``, ``nafnet-jpeg``."""
    from roadmap.seeds import list_seeds

    name = seed if seed in list_seeds() else Path(seed).stem
    name = f"{name}-{variant}" if variant else name
    if task and task != "denoise":
        name += f"-sr-x{scale or 2}" if task == "sr" else f"-{task}"
    return Path("studies") / "runs" / name


# --------------------------------------------------------------------------- settings


# settings.json: each key and the JSON types it may hold (None = null), from the fields of
# `SearchSettings`, and when it was created. What the values mean is checked by
# `resolve_settings` when a search resumes; this refuses what would crash it.
SETTINGS_TYPES: dict[str, tuple[Any, ...]] = {**stored_types(SearchSettings), "created": (str,)}
SETTINGS_MAX_BYTES = 16 << 20  # the space and a seed's spec YAML: kilobytes


def read_settings(directory: Path) -> dict[str, Any] | None:
    """The settings of an existing study, ``None`` when ``directory`` holds no study.

    Any content gives a dict whose keys and types are those of :data:`SETTINGS_TYPES`, or
    one :class:`RoadmapError` line naming the file and the field (:mod:`roadmap.io`)."""
    from roadmap import io

    path = Path(directory) / "settings.json"
    if not path.exists():
        if (Path(directory) / "study.db").exists():
            raise RoadmapError(_settings_lost(Path(directory)))
        return None
    label = f"study settings {path}"
    data = io.parse_json(io.read_text(path, "study settings", SETTINGS_MAX_BYTES), label)
    if not isinstance(data, dict):
        raise RoadmapError(f"{label}: must be a JSON object, got {type(data).__name__}")
    for key, value in data.items():
        if key not in SETTINGS_TYPES:
            raise RoadmapError(
                f"{label}: {io.one_line(key, 60)}: unknown field (a study stores {', '.join(SETTINGS_TYPES)})"
            )
        types = SETTINGS_TYPES[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise RoadmapError(f"{label}: {key}: must be {_type_names(types)}, got {io.one_line(repr(value), 60)}")
    return data


def _settings_lost(directory: Path) -> str:
    """The refusal of a study.db without its settings.json, with what is intact and what to do."""
    from roadmap.search.resume_point import database_problem, resume_point_text

    intact = "study.db is intact" if database_problem(directory / "study.db") is None else "study.db is damaged too"
    copy = resume_point_text(directory)
    todo = (
        f"restore it from the last good copy ({copy}) with `roadmap restore {directory}`"
        if copy
        else "no copy of it was kept (resume-point/); keep study.db for optuna-dashboard, or to start over, remove "
        "the folder"
    )
    return (
        f"study {directory}: settings.json is missing ({intact}, but a study needs the settings it was created "
        f"with); {todo}"
    )


def study_task(settings: dict[str, Any], directory: Path | str = "") -> Any:
    """The `Task` a study was created with (``settings``: :func:`read_settings`'s dict); a
    study from before the tasks lacks it and was denoising at sigma 25 (:data:`BINDING_DEFAULTS`).
    A damaged entry is one `RoadmapError` line naming the file."""
    from roadmap.evaluation.tasks import Task

    data = settings.get("task", BINDING_DEFAULTS["task"])
    try:
        return Task.from_dict(data)
    except (RoadmapError, TypeError) as exc:
        raise RoadmapError(f"study settings {Path(directory) / 'settings.json'}: task: {exc}") from None


def _type_names(types: tuple[Any, ...]) -> str:
    """``(int, float, NoneType)`` -> ``a number or null``."""
    words = {int: "an integer", float: "a number", str: "text", dict: "an object", type(None): "null"}
    names = [words[t] for t in types if not (t is int and float in types)]
    return " or ".join(names)


def _short(value: Any, key: str = "") -> str:
    if isinstance(value, dict) and "steps" in value:
        return "<search space>"
    if key == "seed_spec":
        return "a spec file's content" if value else "none (a named seed)"
    if key == "task" and isinstance(value, dict):
        from roadmap.evaluation.tasks import Task

        try:
            return Task.from_dict(value).describe()
        except (RoadmapError, TypeError):
            pass  # a damaged entry is shown as it is
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def check_settings(directory: Path, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Refuse to resume the study in ``directory`` with settings other than its own, naming its
    settings.json and, for a setting that is a document (the fidelity, the search space, a seed
    spec file's content), only the fields that differ."""
    diffs = []
    for key in BINDING_SETTINGS:
        if key not in stored and key not in wanted:
            continue
        have = stored.get(key, BINDING_DEFAULTS.get(key))
        if not _same(have, wanted.get(key)):
            diffs += _differences(key, have, wanted.get(key))
    if diffs:
        shown = diffs[:MAX_DIFFERENCES] + (
            [f"... {len(diffs) - MAX_DIFFERENCES} more"] if len(diffs) > MAX_DIFFERENCES else []
        )
        raise RoadmapError(
            f"study {directory} was created with other settings ({Path(directory) / 'settings.json'}: "
            f"{'; '.join(shown)}); rerun with the study's settings or use another --study"
        )


MAX_DIFFERENCES = 6  # differing fields a refusal lists


def _differences(key: str, have: Any, want: Any) -> list[str]:
    """``field: study has X, command gives Y`` for each differing field of one setting: a spec
    file's YAML content is compared as a document, a task by its description."""
    if key == "task" or not (isinstance(have, (dict, str)) and isinstance(want, (dict, str))):
        return [f"{key}: study has {_short(have, key)}, command gives {_short(want, key)}"]
    documents = [_document(v) for v in (have, want)]
    if not all(isinstance(d, (dict, list)) for d in documents):
        return [f"{key}: study has {_short(have, key)}, command gives {_short(want, key)}"]
    return _leaf_differences(key, *documents) or [f"{key}: the same fields in another order or form"]


def _document(value: Any) -> Any:
    """A dict as it is; a spec's YAML text as its data (None when it is not a document)."""
    if isinstance(value, (dict, list)):
        return value
    import yaml

    try:
        return yaml.safe_load(value) if "\n" in value else None
    except yaml.YAMLError:
        return None


_ABSENT = object()


def _leaf_differences(path: str, have: Any, want: Any) -> list[str]:
    """The differing leaves of two documents (mappings by key, equal-length lists by index)."""
    if isinstance(have, dict) and isinstance(want, dict):
        keys = list(have) + [k for k in want if k not in have]
        return [d for k in keys for d in _leaf_differences(f"{path}.{k}", have.get(k, _ABSENT), want.get(k, _ABSENT))]
    if isinstance(have, list) and isinstance(want, list) and len(have) == len(want):
        return [
            d for i, (a, b) in enumerate(zip(have, want, strict=False)) for d in _leaf_differences(f"{path}[{i}]", a, b)
        ]
    if have is not _ABSENT and want is not _ABSENT and _same(have, want):
        return []
    return [f"{path}: study has {_leaf(have)}, command gives {_leaf(want)}"]


def _leaf(value: Any) -> str:
    if value is _ABSENT:
        return "nothing"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def write_settings(directory: Path, settings: dict[str, Any]) -> None:
    data = dict(settings)
    data.setdefault("created", datetime.datetime.now().isoformat(timespec="seconds"))
    write_json_atomic(Path(directory) / "settings.json", data)


# --------------------------------------------------------------------------- storage


def _sqlite_url(directory: Path) -> str:
    return f"sqlite:///{(Path(directory) / 'study.db').resolve()}"


def open_study(directory: str | Path) -> optuna.Study:
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
    from roadmap.search.resume_point import check_database

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    check_database(directory)  # truncated or overwritten: say so, and how to recover
    if not _initialised(db):
        # Opening a half-created storage would make Optuna stamp its schema version too,
        # racing the search that is creating it; with no search running, the creation died.
        if is_locked(directory):
            raise RoadmapError(f"{db}: the study is still being created")
        raise RoadmapError(
            f"study {directory}: study.db holds no study (the search that created it stopped "
            "before it wrote one); to start over, remove the folder"
        )
    try:
        storage = RDBStorage(_sqlite_url(directory), skip_table_creation=True)
        return optuna.load_study(study_name=STUDY_NAME, storage=storage)
    except KeyError as exc:
        raise RoadmapError(f"{db}: no study named {STUDY_NAME!r}") from exc
    except Exception as exc:  # sqlalchemy raises many kinds
        raise RoadmapError(f"{db}: cannot read the Optuna storage ({type(exc).__name__}: {exc})") from exc


def _initialised(db: Path) -> bool:
    """Whether Optuna has finished creating the storage in ``db`` (its schema version is stamped)."""
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return bool(conn.execute("SELECT COUNT(*) FROM alembic_version").fetchone()[0] > 0)
    except sqlite3.Error:
        return False


class StudyStore:
    """The study a search writes: the Optuna study (sampler state, first-rung values), the
    evaluation records and the per-trial files. ``close()`` folds SQLite's write-ahead log into
    ``study.db`` so the folder holds one self-contained file afterwards.

    Every write of the search to the study goes through the store (`ask`, `tell`,
    `set_trial_attr`, `enqueue`, `note_interrupted`, `record`, `record_latency`), which applies
    it to ``view`` too: the study's candidates in memory (`roadmap.search.view`), read from
    the study once, here."""

    def __init__(self, directory: Path, sampler: Any):
        import optuna
        from optuna.storages import RDBStorage
        from sqlalchemy.exc import IntegrityError

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # absolute: the weights paths it hands out are opened by Ray Tune trials, whose working
        # directory is their own trial folder (a relative path there lands in that folder)
        self.directory = Path(directory).resolve()
        url, kwargs = _sqlite_url(directory), {"connect_args": {"timeout": 60}}
        try:
            self.storage = RDBStorage(url, engine_kwargs=kwargs)
        except IntegrityError:  # another process (a reader) stamped the new schema first
            self.storage = RDBStorage(url, engine_kwargs=kwargs)
        _fast_sqlite(self.storage.engine)
        from roadmap.search.storage import WriterCache

        # this process alone writes the study (StudyLock): its trials are served from memory
        self.study = optuna.create_study(
            study_name=STUDY_NAME,
            storage=WriterCache(self.storage),
            sampler=sampler,
            directions=list(DIRECTIONS),
            load_if_exists=True,
        )
        if not self.study.metric_names:
            with warnings.catch_warnings():  # "experimental" since Optuna 3.2, stable in use
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self.study.set_metric_names(list(OBJECTIVES))
        from roadmap.search.view import CandidateView

        self.view = CandidateView(self.study)

    # ------------------------------------------------------------------ trials (and the view)

    def ask(self) -> Any:
        """A new Optuna trial (the next queued one first), RUNNING."""
        trial = self.study.ask()
        self.view.set_trial(trial.number, "RUNNING", trial.user_attrs, stored=True)
        return trial

    def set_trial_attr(self, trial: Any, key: str, value: Any) -> None:
        """One user attribute of a trial being asked or trained."""
        trial.set_user_attr(key, value)
        self.view.set_attr(trial.number, key, value)

    def tell(
        self, trial: Any, values: list[float] | None = None, state: Any = None, skip_if_finished: bool = False
    ) -> None:
        """End a trial (``trial``: an Optuna trial or its number), as ``optuna.Study.tell``."""
        frozen = self.study.tell(trial, values, state=state, skip_if_finished=skip_if_finished)
        self.view.set_trial(frozen.number, frozen.state.name, frozen.user_attrs, frozen.values, stored=True)

    def enqueue(self, params: dict[str, Any], user_attrs: dict[str, Any]) -> None:
        """Queue a trial with these parameters (the next `ask` returns it)."""
        from optuna.trial import TrialState

        self.study.enqueue_trial(params, user_attrs=user_attrs, skip_if_exists=False)
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            if t.number not in self.view.rows:
                self.view.set_trial(t.number, t.state.name, t.user_attrs, t.values, stored=True)

    def note_interrupted(self, number: int, text: str) -> None:
        """Why trial ``number`` ended without a result (study attribute ``interrupted:<n>``)."""
        self.study.set_user_attr(f"{INTERRUPTED_PREFIX}{number}", text)
        self.view.set_interrupted(number, text)

    def counts(self) -> dict[str, int]:
        """`count_trials` of the study, from the view."""
        return self.view.counts()

    # ------------------------------------------------------------------ evaluations and files

    def record(self, number: int, rung: int, random_seed: int, record: dict[str, Any]) -> None:
        """Store one evaluation (study attribute and ``trials/<n>/metrics.json``)."""
        self.study.set_user_attr(f"{EVAL_PREFIX}{number}:{rung}:{random_seed}", record)
        self.view.add_evaluation(number, rung, random_seed, record)
        path = trial_dir(self.directory, number) / "metrics.json"
        try:
            data = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError):  # a human-readable copy: the study.db record is the truth
            data = {}
        data = data if isinstance(data, dict) else {}
        data.setdefault("evaluations", {})[f"rung {rung}, seed {random_seed}"] = record
        write_json_atomic(path, data)

    def evaluations(self) -> Mapping[tuple[int, int, int], dict[str, Any]]:
        """``(trial, rung, random seed) -> record`` of every evaluation (read-only, from the view)."""
        return self.view.evaluation_records()

    def record_latency(self, number: int, figures: dict[str, Any]) -> None:
        """The latency trial ``number`` keeps after it was timed again (study attribute, and
        ``latency_remeasured`` in ``trials/<n>/metrics.json``); it replaces the first one."""
        self.study.set_user_attr(f"{LATENCY_PREFIX}{number}", figures)
        self.view.set_latency(number, figures)
        path = trial_dir(self.directory, number) / "metrics.json"
        try:
            data = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError):
            data = {}
        if isinstance(data, dict):
            write_json_atomic(path, {**data, "latency_remeasured": figures})

    def weights_path(self, number: int, rung: int, random_seed: int) -> Path:
        return trial_dir(self.directory, number) / f"rung{rung}-seed{random_seed}.pt"

    def remove_weights(self, rung: int) -> None:
        """Delete every candidate's weights after ``rung`` (they are only a starting point)."""
        for path in (self.directory / "trials").glob(f"*/rung{rung}-seed*.pt"):
            path.unlink(missing_ok=True)

    def close(self) -> None:
        try:
            from sqlalchemy import text

            with self.storage.engine.connect() as conn:
                conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            self.storage.engine.dispose()
        except Exception:  # noqa: BLE001 - tidiness only; the data is safe either way
            pass


def split_study_attrs(
    attrs: dict[str, Any],
) -> tuple[dict[tuple[int, int, int], dict[str, Any]], dict[int, dict[str, Any]], dict[int, Any]]:
    """The study attributes the candidates are built from: ``(evaluations, latencies,
    interrupted)``, i.e. ``(trial, rung, random seed) -> record``, trial -> the latency it keeps
    after a second measurement, trial -> why it was interrupted."""
    evaluations: dict[tuple[int, int, int], dict[str, Any]] = {}
    latencies: dict[int, dict[str, Any]] = {}
    interrupted: dict[int, Any] = {}
    for key, value in attrs.items():
        if key.startswith(EVAL_PREFIX) and isinstance(value, dict):
            number, rung, seed = (int(x) for x in key[len(EVAL_PREFIX) :].split(":"))
            evaluations[(number, rung, seed)] = value
        elif key.startswith(LATENCY_PREFIX) and isinstance(value, dict):
            latencies[int(key[len(LATENCY_PREFIX) :])] = value
        elif key.startswith(INTERRUPTED_PREFIX) and key[len(INTERRUPTED_PREFIX) :].isdigit():
            interrupted[int(key[len(INTERRUPTED_PREFIX) :])] = value
    return evaluations, latencies, interrupted


def read_latencies(study: Any) -> dict[int, dict[str, Any]]:
    """Trial number -> the latency figures it keeps after a second measurement."""
    return split_study_attrs(study.user_attrs)[1]


def read_evaluations(study: Any) -> dict[tuple[int, int, int], dict[str, Any]]:
    """Every evaluation of ``study``: ``(trial, rung, random seed) -> record``."""
    return split_study_attrs(study.user_attrs)[0]


def _fast_sqlite(engine: Any) -> None:
    """SQLite in WAL mode with ``synchronous=NORMAL``: no fsync per write (a trial writes
    ~30 parameters; an fsync costs ~17 ms here). A killed process loses nothing; a power cut
    could lose the last writes, never corrupt the file."""
    from sqlalchemy import event

    def _pragma(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", _pragma)
    engine.dispose()


LOCK_FILE = "search.lock"


class StudyLock:
    """An exclusive ``flock`` on ``<study>/search.lock``: one search per study at a time.

    The lock belongs to the process and the OS frees it when the process ends, SIGKILL
    included, so a stale lock cannot exist: a left-over ``search.lock`` file is only text. The
    holder writes ``pid host time`` into it, so that a second search can name it::

        study DIR is being searched by another process (pid 4242 on box, since 2025-01-01T10:00:00)
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._fd: int | None = None

    def __enter__(self) -> StudyLock:
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RoadmapError(busy_message(self.directory)) from None
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {stamp}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            # Emptied, never deleted: a process that opened the file just before could
            # otherwise lock a deleted inode while a third locks a new file.
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock_holder(directory: Path) -> str | None:
    """``pid N on HOST, since TIME`` of the search that holds the study's lock (``None``
    when the file does not say: the holder may not have written it yet)."""
    try:
        text = (Path(directory) / LOCK_FILE).read_text(errors="replace").split()
    except OSError:
        return None
    if len(text) != 3 or not text[0].isdigit():
        return None
    return f"pid {text[0]} on {text[1]}, since {text[2]}"


def busy_message(directory: Path) -> str:
    """The refusal of a second search: names the one that runs (waits up to a second for it
    to write its line: it takes the lock first, then writes)."""
    holder = None
    for _ in range(20):
        holder = lock_holder(directory)
        if holder is not None or not is_locked(directory):
            break
        time.sleep(0.05)
    who = f" ({holder})" if holder else ""
    return f"study {directory} is being searched by another process{who}"


def is_locked(directory: Path) -> bool:
    """Whether another process holds :class:`StudyLock` on ``directory``."""
    try:
        fd = os.open(Path(directory) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False  # no lock file: no search ever ran here
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return False


def check_unlocked(directory: Path) -> None:
    """Raise the one-line refusal (naming the running search) when ``directory`` is locked."""
    if Path(directory).is_dir() and is_locked(directory):
        raise RoadmapError(busy_message(directory))


# --------------------------------------------------------------------------- files


def trial_dir(directory: Path, number: int) -> Path:
    return Path(directory) / "trials" / str(number)


def write_json_atomic(path: Path, data: Any) -> None:
    """A study file as JSON, whole or not at all (`roadmap.files`: a failure names the file)."""
    from roadmap import files

    files.write_json(path, data, "study file")


def write_text_atomic(path: Path, text: str) -> None:
    """A study file, whole or not at all (`roadmap.files`: a failure names the file)."""
    from roadmap import files

    files.write_text(path, text, "study file")


def count_trials(study: Any) -> dict[str, int]:
    """``complete``, ``failed``, ``pruned`` (rejected / interrupted), ``running``, ``waiting``,
    ``references`` (the reference points among complete + failed) and ``budget_used`` (= complete
    + failed - references: the reference points are trained besides the budget)."""
    from roadmap.search.view import tally

    return tally((t.state.name, t.user_attrs.get("reference")) for t in study.get_trials(deepcopy=False))
