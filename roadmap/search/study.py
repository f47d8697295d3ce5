"""The study directory (DESIGN.md section 5): Optuna storage and per-trial files. Its settings
file is `roadmap.search.settings_file`'s, its lock `roadmap.search.study_lock`'s.

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

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from roadmap.errors import RoadmapError
from roadmap.search.study_lock import is_locked

if TYPE_CHECKING:  # optuna is imported where it is used: the CLI starts faster
    import optuna

__all__ = [
    "StudyStore",
    "read_evaluations",
    "read_latencies",
    "STUDY_NAME",
    "OBJECTIVES",
    "DIRECTIONS",
    "default_study_dir",
    "split_study_attrs",
    "open_study",
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
