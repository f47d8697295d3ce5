"""The search driver: sampler + evaluator + constraints + storage, independent of Ray.

The driver hands out *batches* of at most ``concurrency`` jobs. For each candidate of a
batch it, in order:

1. asks the Optuna study for a trial (reference trials were enqueued first) and turns the
   suggested parameters into transform steps (:func:`roadmap.search.space.suggest`);
2. applies the steps to the seed; an invalid combination is a failed trial (it counts);
3. rejects duplicates of earlier candidates and candidates whose *predicted* peak memory
   breaks ``--max-memory-mb`` (PRUNED: no budget used);
4. measures latency and peak memory of the untrained model -- while nothing trains -- and
   rejects candidates over ``--max-latency-ms`` / ``--max-memory-mb`` (no budget used).

The executor (:func:`run_local` or :func:`roadmap.search.ray_backend.run_on_ray`) trains
the batch's jobs, side by side on Ray, and calls :meth:`SearchDriver.complete` for each;
only when the whole batch is done does it ask for the next one, so measurement never
overlaps training.

Budget: ``COMPLETE + FAIL`` trials (see :mod:`roadmap.search.study`).
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from roadmap.errors import RoadmapError, SpecError
from roadmap.search import study as st
from roadmap.search.hypervolume import study_hypervolume
from roadmap.search.jobs import MEASURE_KEYS, TRAIN_KEYS, get_evaluator
from roadmap.search.space import SearchSpace, params_for_steps, suggest

__all__ = ["SearchConfig", "SearchDriver", "run_local", "make_sampler", "REFERENCES"]

REFERENCES = ("seed", "mofa", "unet--")
MAX_REJECTIONS_IN_A_ROW = 100
INTERRUPTED = "interrupted before it finished; queued again"


@dataclass
class SearchConfig:
    """Everything a search needs (resolved and validated by the command)."""

    seed_spec: Any
    space: SearchSpace
    fidelity: Any  # preset name or Fidelity dict
    study_dir: Path
    budget: int
    data: str | None = None
    sampler: str = "nsga2"
    population_size: int = 10
    random_seed: int = 0
    concurrency: int = 1
    max_latency_ms: float | None = None
    max_memory_mb: float | None = None
    min_psnr: float | None = None
    device: str = "cpu"
    threads_per_trial: int | None = None
    evaluator: str | None = None
    fail_trials: frozenset[int] = frozenset()
    references: dict[str, list[dict]] = field(default_factory=dict)  # name -> steps


def make_sampler(name: str, seed: int, population_size: int, constrained: bool = False):
    """The Optuna sampler of ``--sampler`` (nsga2, tpe, random). ``--min-psnr`` reaches
    NSGA-II and TPE through ``Trial.set_constraint`` (Optuna 5), not a constraints_func."""
    import optuna

    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=population_size, seed=seed)
    if name == "tpe":
        import warnings

        with warnings.catch_warnings():  # multivariate / group are "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed, multivariate=True, group=True,
                n_startup_trials=population_size,
            )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise RoadmapError(f"--sampler: unknown sampler {name!r} (choose from nsga2, tpe, random)")


def _canonical(spec: Any) -> str:
    data = spec.to_dict()
    data.pop("provenance", None)
    data.pop("name", None)
    return json.dumps(data, sort_keys=True)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


class SearchDriver:
    """Owns the study for one run of ``roadmap search`` (see the module docstring)."""

    def __init__(self, cfg: SearchConfig, study: Any, progress: Any = None,
                 apply_steps: Callable | None = None, apply_transform: Callable | None = None):
        self.cfg = cfg
        self.study = study
        self.progress = progress
        self.evaluator = get_evaluator(cfg.evaluator)
        if apply_steps is None or apply_transform is None:
            from roadmap import transforms as _t  # type: ignore[attr-defined]

            apply_steps = apply_steps or _t.apply_steps
            apply_transform = apply_transform or _t.apply_transform
        self.apply_steps = apply_steps
        self.apply_transform = apply_transform
        self.stop_requested = False
        self.trials: dict[int, Any] = {}  # number -> optuna Trial (asked, not told)
        self.jobs_started: dict[int, float] = {}
        self.seen: dict[str, int] = {}  # canonical spec -> trial number
        self.rows: list[dict] = []  # finished metric rows (for the hypervolume)
        counts = st.count_trials(study)
        self.used = counts["budget_used"]
        self.used_at_start = self.used
        self.failed = counts["failed"]
        self.rejected = counts["pruned"]
        self.rejected_in_a_row = 0
        # timing: for the overhead figure and the ETA
        self.t0 = time.perf_counter()
        self.measure_seconds = 0.0
        self.train_job_seconds = 0.0  # sum over jobs
        self.busy: list[tuple[float, float]] = []  # (start, end) of measurements and trainings
        self.batches = 0
        self.notes: list[str] = []

    # ------------------------------------------------------------------ start-up

    def prepare(self, new_study: bool) -> None:
        """Recover trials a killed run left RUNNING, enqueue the reference points of a new
        study, and load what finished (duplicates, hypervolume)."""
        from optuna.trial import TrialState

        for ft in self.study.get_trials(deepcopy=False):
            if ft.state == TrialState.RUNNING:
                self._requeue(ft.number, ft.params, ft.user_attrs, ft._trial_id)
            elif ft.state in (TrialState.COMPLETE, TrialState.FAIL):
                spec_yaml = ft.user_attrs.get("spec_yaml")
                if spec_yaml:
                    try:
                        from roadmap.spec import load_spec

                        self.seen.setdefault(_canonical(load_spec(spec_yaml)), ft.number)
                    except Exception:  # noqa: BLE001 - an old or foreign spec: no dedup
                        pass
                if ft.state == TrialState.COMPLETE and ft.values and all(_finite(v) for v in ft.values):
                    self.rows.append(self._row(ft.values, ft.user_attrs))
        counts = st.count_trials(self.study)
        self.used, self.failed, self.rejected = counts["budget_used"], counts["failed"], counts["pruned"]
        self.used_at_start = self.used
        if new_study:
            for name in REFERENCES:
                if name not in self.cfg.references:
                    continue
                steps = self.cfg.references[name]
                params = params_for_steps(self.cfg.space, steps)
                if params is None:  # not a point of the space: switch every optional step off
                    params = {s.name: False for s in self.cfg.space.steps if s.optional}
                self.study.enqueue_trial(params, user_attrs={"reference": name}, skip_if_exists=False)

    def _requeue(self, number: int, params: dict, attrs: dict, trial_id: int) -> None:
        """Mark an interrupted trial PRUNED (not counted) and enqueue its candidate again."""
        import optuna
        from optuna.trial import TrialState

        trial = optuna.trial.Trial(self.study, trial_id)
        trial.set_user_attr("failure_reason", INTERRUPTED)
        self.study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
        extra = {"requeued_from": number}
        if attrs.get("reference"):
            extra["reference"] = attrs["reference"]
        self.study.enqueue_trial(dict(params), user_attrs=extra, skip_if_exists=False)
        metrics_path = st.trial_dir(self.cfg.study_dir, number) / "metrics.json"
        st.write_json_atomic(metrics_path, {"status": "interrupted", "reason": INTERRUPTED})

    # ------------------------------------------------------------------ batches

    @property
    def remaining(self) -> int:
        return max(0, self.cfg.budget - self.used)

    def next_batch(self) -> list[dict] | None:
        """Up to ``concurrency`` measured jobs to train now; ``None`` when done or stopped."""
        jobs: list[dict] = []
        while not self.stop_requested and len(jobs) < min(self.cfg.concurrency, self.remaining):
            job = self._next_candidate()
            if job is not None:
                jobs.append(job)
        if self.stop_requested:
            self.abandon(jobs)
            return None
        if jobs:
            self.batches += 1
        return jobs or None

    def _next_candidate(self) -> dict | None:
        if self.rejected_in_a_row >= MAX_REJECTIONS_IN_A_ROW:
            raise RoadmapError(
                f"{self.rejected_in_a_row} candidates in a row were rejected (constraints or duplicates); "
                f"the constraints leave too little of the search space, or it is exhausted. "
                f"Loosen the constraints or widen the space; the study keeps its {self.used} trials"
            )
        cfg = self.cfg
        trial = self.study.ask()
        number = trial.number
        self.trials[number] = trial
        reference = trial.user_attrs.get("reference")
        steps: list[dict] = []
        skipped: list[dict] = []
        try:
            steps = suggest(trial, cfg.space, cfg.seed_spec, self.apply_transform, skipped)
            if reference:
                steps, skipped = copy.deepcopy(cfg.references.get(reference, [])), []
            spec = self.apply_steps(cfg.seed_spec, steps)
        except SpecError as exc:
            self._fail(number, steps, None, f"invalid spec: {exc}")
            return None
        trial.set_user_attr("transforms", steps)
        trial.set_user_attr("reference", reference)
        if skipped:
            trial.set_user_attr("skipped_steps", skipped)
        spec_yaml = spec.to_yaml()
        trial.set_user_attr("spec_yaml", spec_yaml)
        st.write_text_atomic(st.trial_dir(cfg.study_dir, number) / "spec.yaml", spec_yaml)
        key = _canonical(spec)
        if key in self.seen:
            self._reject(number, f"duplicate of trial {self.seen[key]}", {})
            return None
        try:
            static = dict(self.evaluator.check(spec))
        except SpecError as exc:
            self._fail(number, steps, spec_yaml, f"invalid spec: {exc}")
            return None
        predicted = static.get("peak_memory_predicted_bytes")
        if cfg.max_memory_mb is not None and _finite(predicted) and predicted > cfg.max_memory_mb * 2**20:
            self._reject(number, f"predicted peak memory {predicted / 2**20:.1f} MB > --max-memory-mb "
                                 f"{cfg.max_memory_mb:g}", static)
            return None
        t0 = time.perf_counter()
        try:
            measured = dict(self.evaluator.measure(spec, device=cfg.device))
        except Exception as exc:  # noqa: BLE001 - a candidate must never stop the study
            self.measure_seconds += time.perf_counter() - t0
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:400]
            if "out of memory" in reason.lower():
                reason = f"out of memory ({reason})"
            self._fail(number, steps, spec_yaml, f"measurement failed: {reason}", static)
            return None
        self.measure_seconds += time.perf_counter() - t0
        self.busy.append((t0, time.perf_counter()))
        for k, v in static.items():
            if measured.get(k) is None:
                measured[k] = v
        lat, mem = measured.get("latency_ms"), measured.get("peak_memory_measured_bytes")
        if cfg.max_latency_ms is not None and _finite(lat) and lat > cfg.max_latency_ms:
            self._reject(number, f"latency {lat:.1f} ms > --max-latency-ms {cfg.max_latency_ms:g}", measured)
            return None
        if cfg.max_memory_mb is not None and _finite(mem) and mem > cfg.max_memory_mb * 2**20:
            self._reject(number, f"measured peak memory {mem / 2**20:.1f} MB > --max-memory-mb "
                                 f"{cfg.max_memory_mb:g}", measured)
            return None
        self.seen[key] = number
        self.rejected_in_a_row = 0
        return {
            "number": number,
            "spec_yaml": spec_yaml,
            "fidelity": cfg.fidelity,
            "data": cfg.data,
            "device": cfg.device,
            "random_seed": cfg.random_seed,
            "threads": cfg.threads_per_trial,
            "evaluator": cfg.evaluator,
            "inject_failure": number in cfg.fail_trials,
            "measured": {k: measured.get(k) for k in MEASURE_KEYS},
        }

    # ------------------------------------------------------------------ outcomes

    def job_started(self, job: dict) -> None:
        self.jobs_started[job["number"]] = time.perf_counter()

    def complete(self, job: dict, result: dict) -> None:
        """Store one trained job: COMPLETE with its three values, or FAIL with its reason."""
        number = job["number"]
        trial = self.trials.pop(number, None)
        seconds = float(result.get("job_seconds") or 0.0)
        self.train_job_seconds += seconds
        now = time.perf_counter()
        self.busy.append((now - seconds, now))
        metrics: dict[str, Any] = {k: result.get(k) for k in TRAIN_KEYS}
        metrics.update(job.get("measured") or {})
        metrics["fidelity"] = result.get("fidelity") or (
            job["fidelity"] if isinstance(job["fidelity"], str) else job["fidelity"].get("name", "custom"))
        metrics["device"] = job.get("device", "cpu")
        metrics["job_seconds"] = seconds
        status = metrics.get("status") or "failed"
        values = [metrics.get("psnr"), metrics.get("latency_ms"), metrics.get("peak_memory_measured_bytes")]
        if status == "ok" and not all(_finite(v) for v in values):
            status, metrics["reason"] = "failed", metrics.get("reason") or "no finite PSNR / latency / memory"
        metrics["status"] = status
        if metrics.get("reason") is None:
            metrics.pop("reason", None)
        st.write_json_atomic(st.trial_dir(self.cfg.study_dir, number) / "metrics.json", metrics)
        if trial is None:  # pragma: no cover - a result for a trial this run did not ask
            return
        trial.set_user_attr("metrics", metrics)
        if status == "ok":
            if self.cfg.min_psnr is not None:
                margin = float(self.cfg.min_psnr - metrics["psnr"])  # <= 0: feasible
                trial.set_user_attr("constraints", [margin])
                if hasattr(trial, "set_constraint"):
                    trial.set_constraint("min_psnr", margin)
            self.study.tell(trial, [float(v) for v in values])
            self.rows.append(self._row(values, {"metrics": metrics, "reference": trial.user_attrs.get("reference")}))
        else:
            reason = metrics.get("reason") or status
            trial.set_user_attr("failure_reason", f"{status}: {reason}" if status != "failed" else str(reason))
            self.study.tell(trial, state=_state("FAIL"))
            self.failed += 1
        self.used += 1
        self._show()

    def abandon(self, jobs: list[dict]) -> None:
        """Jobs handed out but not finished (Ctrl-C): PRUNED and queued again."""
        for job in jobs:
            trial = self.trials.pop(job["number"], None)
            if trial is not None:
                self._requeue(trial.number, trial.params, trial.user_attrs, trial._trial_id)

    def close(self) -> None:
        """Trials asked but neither handed out nor told (an error mid-batch): queued again."""
        for number, trial in list(self.trials.items()):
            self.trials.pop(number)
            self._requeue(number, trial.params, trial.user_attrs, trial._trial_id)

    def _fail(self, number: int, steps: list, spec_yaml: str | None, reason: str, extra: dict | None = None) -> None:
        trial = self.trials.pop(number)
        trial.set_user_attr("transforms", steps)
        trial.set_user_attr("reference", trial.user_attrs.get("reference"))
        if spec_yaml:
            trial.set_user_attr("spec_yaml", spec_yaml)
        self._close_unsuccessful(trial, "FAIL", reason, {"status": "failed", "reason": reason, **(extra or {})})
        self.used += 1
        self.failed += 1
        self._show()

    def _close_unsuccessful(self, trial: Any, state: str, failure_reason: str, metrics: dict) -> None:
        """Store why a trial ends without values (user attrs and metrics.json), then tell Optuna."""
        trial.set_user_attr("metrics", metrics)
        trial.set_user_attr("failure_reason", failure_reason)
        st.write_json_atomic(st.trial_dir(self.cfg.study_dir, trial.number) / "metrics.json", metrics)
        self.study.tell(trial, state=_state(state))

    def _reject(self, number: int, reason: str, measured: dict) -> None:
        trial = self.trials.pop(number)
        metrics = {"status": "rejected", "reason": reason, **{k: v for k, v in measured.items() if v is not None}}
        self._close_unsuccessful(trial, "PRUNED", f"rejected: {reason}", metrics)
        self.rejected += 1
        self.rejected_in_a_row += 1
        self._show()

    # ------------------------------------------------------------------ reporting

    @staticmethod
    def _row(values: Any, attrs: dict) -> dict:
        m = attrs.get("metrics") or {}
        return {
            "psnr": float(values[0]),
            "latency_ms": float(values[1]),
            "peak_memory_measured_bytes": float(values[2]),
            "noisy_psnr": m.get("noisy_psnr"),
            "reference": attrs.get("reference"),
        }

    def hypervolume(self) -> tuple[float, int]:
        return study_hypervolume(self.rows)

    def timing(self) -> dict:
        """Wall time split: time when a measurement or at least one training ran
        (``work_seconds``), and the rest (``overhead_seconds``: sampling, Ray, storage)."""
        wall = time.perf_counter() - self.t0
        work, end = 0.0, -math.inf
        for a, b in sorted(self.busy):
            a = max(a, end)
            if b > a:
                work += b - a
                end = b
        return {
            "wall_seconds": wall,
            "work_seconds": work,
            "measure_seconds": self.measure_seconds,
            "train_job_seconds": self.train_job_seconds,
            "overhead_seconds": max(0.0, wall - work),
            "overhead_share": max(0.0, wall - work) / wall if wall > 0 else 0.0,
            "batches": self.batches,
            "trials_this_run": self.used - self.used_at_start,
        }

    def _show(self) -> None:
        if self.progress is not None:
            self.progress.update(self)


def _state(name: str) -> Any:
    from optuna.trial import TrialState

    return getattr(TrialState, name)


def run_local(driver: SearchDriver) -> None:
    """The in-process executor (``--backend local``): one job at a time, no Ray."""
    from roadmap.search.jobs import run_train_job

    while True:
        batch = driver.next_batch()
        if not batch:
            return
        for i, job in enumerate(batch):
            try:
                driver.job_started(job)
                result = run_train_job(job)
            except KeyboardInterrupt:
                driver.stop_requested = True
                driver.abandon(batch[i:])
                return
            driver.complete(job, result)
            if driver.stop_requested:
                driver.abandon(batch[i + 1:])
                return
