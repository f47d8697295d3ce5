"""Everything that touches Ray: the runtime (local or ``--address``) and the Tune executor.

No other module imports ``ray``; a Ray API change touches this file only.

How a search runs on Tune
    One ``Tuner.fit`` runs the whole search (or the rest of it, on resume). Its search
    algorithm, :class:`BatchSearcher`, is a thin Tune adapter around :class:`SlotPlanner`,
    which holds the bookkeeping and needs no Ray (the tests drive it directly):

    * when Tune asks for a trial and a batch is queued, the next job is handed out as the
      trial's config;
    * when a job ends while others train, the planner asks the job source (one that
      ``refills``) for jobs to start beside them: the rest of a rung, the candidates waiting
      to be explored; the source answers none when the next decision needs the running
      results (a promotion) or an idle machine (a measurement);
    * a freed Tune slot that gets no job is taken by a *slot-holding* trial that waits on an
      epoch counter (a tiny Ray actor), so Tune keeps that trial process for reuse instead
      of shutting it down;
    * when nothing trains any more, the planner asks the job source for the next batch --
      the source measures new candidates right then, on an idle machine -- and opens the
      epoch so the slot-holding trials end (so does a refill that finds jobs).

    Each Tune trial trains one job (:func:`roadmap.search.evaluator.run_job`) with the
    evaluator that ``tune.with_parameters`` ships to the workers, and reports its result
    once. ``reuse_actors=True`` keeps trial processes (and their torch import) between
    batches. The Tune folder is a temporary directory: the study directory is the record.

Stopping
    Tune's own SIGINT handler is off (``TUNE_DISABLE_SIGINT_HANDLER``); the search's handler
    sets ``stop_requested`` on the job source, :class:`StopAll` makes Tune stop, and the
    jobs still handed out are given back to the source (:meth:`SlotPlanner.abandoned`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import ray
from ray import tune
from ray.tune.search import Searcher

from roadmap.errors import RoadmapError
from roadmap.search.evaluator import Evaluator, TrainJob, run_job
from roadmap.search.executors import JobSource

__all__ = ["RayRuntime", "SlotPlanner", "BatchSearcher", "run_on_ray", "check_address"]

# Quiet Tune: no console reporter, no result loggers, no SIGINT handler of its own; no periodic
# snapshot of its experiment (every trial so far, pickled: a cost per trial that grows with the
# trials), since a search resumes from its study, never from Tune's folder (a temporary one).
_TUNE_ENV = {
    "TUNE_GLOBAL_CHECKPOINT_S": str(10**9),
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "100000",
    "RAY_DEDUP_LOGS": "0",
}
HOLD_TIMEOUT_S = 6 * 3600


def check_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast (RoadmapError) when nothing listens at a ``host:port`` Ray address."""
    if address in ("auto", "local"):
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise RoadmapError(f"--address {address!r}: expected HOST:PORT of a running Ray head (or 'auto')")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise RoadmapError(f"--address {address}: no Ray cluster reachable there ({exc.strerror or exc})") from None


class RayRuntime:
    """A Ray runtime for the duration of a ``with`` block: a new local one (``num_cpus``,
    no dashboard), shut down at the end; or, with ``address``, a connection to that cluster."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        self.address, self.num_cpus = address, num_cpus
        self.started_seconds = 0.0

    def __enter__(self) -> RayRuntime:
        for k, v in _TUNE_ENV.items():
            os.environ.setdefault(k, v)
        if self.address:
            check_address(self.address)
        t0 = time.perf_counter()
        self._environ_before = dict(os.environ)
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
            "configure_logging": True,
        }
        try:
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:  # "local": always a new runtime, even if `ray start` left an address file
                ray.init(address="local", num_cpus=self.num_cpus, **kwargs)
        except Exception as exc:  # ConnectionError, RuntimeError, ...
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray runtime"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RoadmapError(f"cannot start or reach {where}: {first}") from exc
        self.started_seconds = time.perf_counter() - t0
        return self

    def resources(self) -> dict[str, Any]:
        return dict(ray.cluster_resources())  # type: ignore[no-untyped-call]  # unannotated in Ray

    def trials_avoid_driver(self, cpus_per_trial: float, gpus_per_trial: float) -> bool:
        """Whether no trial fits on the node this driver runs on (a head started with
        ``--num-cpus 0``): the driver then measures candidates on a machine nothing trains on."""
        here = ray.get_runtime_context().get_node_id()
        for node in ray.nodes():  # type: ignore[no-untyped-call]  # unannotated in Ray
            if node.get("NodeID") == here:
                have = node.get("Resources") or {}
                return have.get("CPU", 0.0) < cpus_per_trial or (
                    gpus_per_trial > 0 and have.get("GPU", 0.0) < gpus_per_trial
                )
        return False

    def __exit__(self, *exc: Any) -> None:
        if ray.is_initialized():
            ray.shutdown()
        # ray.init leaves variables in this process's environment (RAY_AUTH_MODE=token among
        # them) that a later `ray start` in a child process would inherit and fail on
        for key in set(os.environ) - set(getattr(self, "_environ_before", os.environ)):
            del os.environ[key]


class SlotPlanner:
    """Which Tune trial carries which job, and when to ask the source for the next batch.

    ``open_holds()`` ends every slot-holding trial and returns the new epoch they wait on.
    :meth:`suggest` answers ``("job", job)``, ``("hold", epoch)``, ``("wait", None)`` or
    ``("done", None)``.
    """

    def __init__(self, source: JobSource, concurrency: int, open_holds: Callable[[], int], epoch: int = 0):
        self.source, self.concurrency, self.open_holds = source, concurrency, open_holds
        self.epoch = epoch
        self.queue: list[TrainJob] = []
        self.in_flight: dict[str, TrainJob] = {}
        self.errored: dict[str, TrainJob] = {}
        self.holds: set[str] = set()
        self.done = False
        self.error: BaseException | None = None
        self.refill_asked = False  # the source was asked for jobs since the last job ended

    def suggest(self, trial_id: str) -> tuple[str, Any]:
        if self.done:
            return ("done", None)
        self._flush_errors()
        if not self.queue and self.in_flight:
            self._refill()
        if not self.queue:
            if self.in_flight:
                if len(self.in_flight) + len(self.holds) < self.concurrency and not self.source.stop_requested:
                    self.holds.add(trial_id)
                    return ("hold", self.epoch)
                return ("wait", None)
            batch = self._next_batch()
            if self.holds or not batch:
                self.epoch = self.open_holds()
            if not batch:
                self.done = True
                return ("done", None)
            self.queue = list(batch)
        if self.source.stop_requested:  # queued jobs go back through abandoned()
            return ("wait", None)
        job = self.queue.pop(0)
        self.in_flight[trial_id] = job
        self.source.started(job)
        return ("job", job)

    def _refill(self) -> None:
        """A free slot while jobs train: a source that `refills` is asked for jobs to start beside
        them, once per job that ended (asking again before then would give the same answer)."""
        if (
            not getattr(self.source, "refills", False)
            or self.refill_asked
            or self.source.stop_requested
            or len(self.in_flight) >= self.concurrency
        ):
            return
        self.refill_asked = True
        batch = self._next_batch() or []
        if self.error is not None:  # the source failed: hand out nothing more, let the running jobs end
            self.done = True
        if batch:
            self.queue = list(batch)
            if self.holds:  # the held slots take jobs now
                self.epoch = self.open_holds()

    def _next_batch(self) -> list[TrainJob] | None:
        try:
            return self.source.next_batch()  # nothing trains now: exclusive measurement
        except BaseException as exc:  # noqa: BLE001 - re-raised once Tune has stopped
            self.error = exc
            return None

    def complete(self, trial_id: str, result: dict[str, Any] | None) -> None:
        """A Tune trial ended; ``result`` is the job's result (None: it errored)."""
        if trial_id in self.holds:
            self.holds.discard(trial_id)
            return
        job = self.in_flight.pop(trial_id, None)
        if job is None:
            return
        self.refill_asked = False
        if result is None:
            self.errored[trial_id] = job  # the error callback adds the text
            return
        self.source.finished(job, result)

    def record_error(self, trial_id: str, reason: str) -> None:
        job = self.errored.pop(trial_id, None)
        if job is not None:
            self.source.finished(job, {"status": "failed", "reason": reason})

    def _flush_errors(self) -> None:
        for trial_id in list(self.errored):
            self.record_error(trial_id, "the trial's Ray worker failed (no error text)")

    def abandoned(self) -> list[TrainJob]:
        self._flush_errors()
        jobs = list(self.in_flight.values()) + list(self.queue)
        self.in_flight.clear()
        self.queue.clear()
        return jobs


class _Epoch:
    """A counter the slot-holding trials poll (run as a Ray actor)."""

    def __init__(self) -> None:
        self.value = 0

    def get(self) -> int:
        return self.value

    def bump(self) -> int:
        self.value += 1
        return self.value


class BatchSearcher(Searcher):
    """Tune's view of a :class:`SlotPlanner` (Optuna's storage is the real state)."""

    def __init__(self, planner: SlotPlanner, epoch_actor_name: str):
        super().__init__(metric=None, mode=None)
        self.planner, self.epoch_actor_name = planner, epoch_actor_name

    def set_search_properties(self, metric: Any, mode: Any, config: Any, **spec: Any) -> bool:
        return True

    def suggest(self, trial_id: str) -> Any:
        kind, value = self.planner.suggest(trial_id)
        if kind == "done":
            return Searcher.FINISHED
        if kind == "wait":
            return None
        if kind == "hold":
            return {"hold": {"actor": self.epoch_actor_name, "epoch": value}}
        return {"job": value}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        ok = not error and result and "result_json" in result
        self.planner.complete(trial_id, json.loads(result["result_json"]) if ok and result else None)

    def save_to_dir(self, *args: Any, **kwargs: Any) -> None:
        return None

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        return None


class ErrorText(tune.Callback):
    """Turns a crashed Tune trial into a failed job with the error's last line."""

    def __init__(self, planner: SlotPlanner):
        self.planner = planner

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        reason = "the trial's Ray worker failed"
        err = trial.get_error() if hasattr(trial, "get_error") else None
        lines = [line for line in str(err or "").splitlines() if line.strip()]
        if lines:
            reason = f"Ray trial error: {lines[-1][:400]}"
        self.planner.record_error(trial.trial_id, reason)


class StopAll(tune.Stopper):
    """Stops the whole Tune run once the job source asks to stop."""

    def __init__(self, source: JobSource):
        self.source = source

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return bool(self.source.stop_requested)


def _ray_trial(config: dict[str, Any], evaluator: Evaluator) -> None:
    """The Tune trainable: hold a slot until the epoch moves on, or train one job."""
    if "hold" in config:
        actor = ray.get_actor(config["hold"]["actor"])
        deadline = time.monotonic() + HOLD_TIMEOUT_S
        while ray.get(actor.get.remote()) == config["hold"]["epoch"] and time.monotonic() < deadline:
            time.sleep(0.2)
        tune.report({"hold": 1})
        return
    result = run_job(evaluator, config["job"])
    # Tune flattens nested results before the searcher sees them: send one JSON string.
    tune.report({"result_json": json.dumps(result, default=str)})


def run_on_ray(
    source: JobSource, evaluator: Evaluator, *, concurrency: int, cpus_per_trial: float, gpus_per_trial: float
) -> None:
    """Train the source's batches as Tune trials until it has no more (or is stopped)."""
    actor_name = f"roadmap-epoch-{uuid.uuid4().hex[:12]}"
    epoch: Any = ray.remote(num_cpus=0)(_Epoch).options(name=actor_name).remote()  # a Ray actor handle
    planner = SlotPlanner(source, concurrency, lambda: ray.get(epoch.bump.remote()))
    resources = {"cpu": cpus_per_trial, **({"gpu": gpus_per_trial} if gpus_per_trial else {})}
    trainable = tune.with_resources(tune.with_parameters(_ray_trial, evaluator=evaluator), resources)
    tmp = tempfile.mkdtemp(prefix="roadmap-tune-")
    try:
        tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=BatchSearcher(planner, actor_name),
                num_samples=-1,
                max_concurrent_trials=concurrency,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name="roadmap",
                storage_path=tmp,
                verbose=0,
                stop=StopAll(source),
                callbacks=[ErrorText(planner)],
                log_to_file=False,
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            ),
        ).fit()
        if planner.error is not None:
            raise planner.error
    finally:
        source.abandon(planner.abandoned())
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(Exception):  # Ray may already be down
            ray.kill(epoch)
