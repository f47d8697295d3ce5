"""Everything that touches Ray: the runtime (local or ``--address``) and the Tune run.

No other module imports ``ray``; a Ray API change touches this file only.

How a search runs on Tune
    One ``Tuner.fit`` runs the whole search (or the rest of it, on resume). Its search
    algorithm is :class:`_BatchSearcher`, a thin bridge to the driver
    (:class:`roadmap.search.driver.SearchDriver`), which owns the Optuna study:

    * when Tune asks for a trial and a batch is queued, the next job of the batch is
      handed out as the trial's config;
    * while trials of the batch still run, it answers "not yet" (``None``);
    * when no trial runs any more, it asks the driver for the next batch. The driver
      samples candidates and measures their latency and memory *right then* -- in this
      process, while no Tune trial is training -- so latency is never timed while another
      trial shares the device. Then the batch's trainings start side by side.

    Each Tune trial only trains (:func:`roadmap.search.jobs.run_train_job`) and reports
    one result. ``reuse_actors=True`` keeps the trial processes (and their torch import)
    from batch to batch. The Tune experiment folder is a temporary directory: the study
    directory is the only record, and Optuna's storage is what resumes.

Stopping
    Tune's own SIGINT handler is switched off (``TUNE_DISABLE_SIGINT_HANDLER``); the
    command's handler sets the driver's stop flag, :class:`_StopAll` makes Tune stop the
    running trials, and the driver queues their candidates again for the next run.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from typing import Any

from roadmap.errors import RoadmapError

__all__ = ["RayRuntime", "run_on_ray", "check_address"]

# Quiet Tune: no console reporter, no result loggers, no SIGINT handler of its own.
_TUNE_ENV = {
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "100000",
    "RAY_DEDUP_LOGS": "0",
}


def check_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast (RoadmapError) when nothing listens at a ``host:port`` Ray address."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise RoadmapError(f"--address {address!r}: expected HOST:PORT of a running Ray head (or 'auto')")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise RoadmapError(f"--address {address}: no Ray cluster reachable there ({exc.strerror or exc})") from None


class RayRuntime:
    """A Ray runtime for the duration of a ``with`` block.

    Without ``address`` a local Ray is started with ``num_cpus`` / ``num_gpus`` and no
    dashboard, and shut down at the end; with ``address`` the command connects to that
    cluster and only disconnects.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None, num_gpus: float | None = None):
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.started_seconds = 0.0

    def __enter__(self) -> "RayRuntime":
        for k, v in _TUNE_ENV.items():
            os.environ.setdefault(k, v)
        if self.address:
            check_address(self.address)
        t0 = time.perf_counter()
        import logging

        import ray

        kwargs: dict[str, Any] = dict(
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            configure_logging=True,
        )
        try:
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:
                # "local": always a new runtime, even if `ray start` left an address file
                ray.init(address="local", num_cpus=self.num_cpus, num_gpus=self.num_gpus, **kwargs)
        except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ...
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray runtime"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RoadmapError(f"cannot start or reach {where}: {first}") from exc
        self.started_seconds = time.perf_counter() - t0
        return self

    def resources(self) -> dict:
        import ray

        return dict(ray.cluster_resources())

    def __exit__(self, *exc: Any) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()


def _ray_trial(config: dict) -> None:
    """The Tune trainable: train one job and report its metrics once."""
    from ray import tune

    from roadmap.search.jobs import run_train_job

    if "hold" in config:  # a slot-holding trial: keeps this actor alive until the barrier opens
        import ray

        barrier = ray.get_actor(config["hold"]["barrier"])
        epoch = config["hold"]["epoch"]
        deadline = time.monotonic() + 6 * 3600
        while ray.get(barrier.epoch.remote()) == epoch and time.monotonic() < deadline:
            time.sleep(0.2)
        tune.report({"hold": 1})
        return
    result = run_train_job(config["job"])
    # Tune flattens nested results before the searcher sees them: send one JSON string.
    tune.report({"result_json": json.dumps(result, default=str), "number": config["job"]["number"]})


def run_on_ray(driver: Any, *, concurrency: int, cpus_per_trial: float, gpus_per_trial: float) -> None:
    """Run the driver's batches as Tune trials until it has no more (or is stopped)."""
    import uuid

    import ray
    from ray import tune
    from ray.tune.search import Searcher

    @ray.remote(num_cpus=0)
    class _Barrier:
        def __init__(self) -> None:
            self.value = 0

        def epoch(self) -> int:
            return self.value

        def open(self) -> int:
            self.value += 1
            return self.value

    barrier_name = f"roadmap-barrier-{uuid.uuid4().hex[:12]}"
    barrier = _Barrier.options(name=barrier_name).remote()
    epoch = [ray.get(barrier.epoch.remote())]

    class _BatchSearcher(Searcher):
        def __init__(self) -> None:
            super().__init__(metric=None, mode=None)
            self.queue: list[dict] = []
            self.in_flight: dict[str, dict] = {}
            self.errored: dict[str, dict] = {}
            self.holds: set[str] = set()
            self.finished = False
            self.error: BaseException | None = None

        def set_search_properties(self, metric, mode, config, **spec) -> bool:  # noqa: ANN001
            return True

        def suggest(self, trial_id: str):  # noqa: ANN201
            if self.finished:
                return Searcher.FINISHED
            self._flush_errors()
            if not self.queue:
                if self.in_flight:
                    # The batch is still training. Hold the freed slot with a slot-holding
                    # trial, so that Tune keeps (and later reuses) this trial process.
                    if len(self.in_flight) + len(self.holds) < concurrency and not driver.stop_requested:
                        self.holds.add(trial_id)
                        return {"hold": {"barrier": barrier_name, "epoch": epoch[0]}}
                    return None
                try:
                    batch = driver.next_batch()  # nothing trains now: exclusive measurement
                except BaseException as exc:  # noqa: BLE001 - re-raised after Tune has stopped
                    self.error = exc
                    batch = None
                if self.holds or not batch:
                    epoch[0] = ray.get(barrier.open.remote())  # slot-holding trials end
                if not batch:
                    self.finished = True
                    return Searcher.FINISHED
                self.queue = list(batch)
            job = self.queue.pop(0)
            self.in_flight[trial_id] = job
            driver.job_started(job)
            return {"job": job}

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            if trial_id in self.holds:
                self.holds.discard(trial_id)
                return
            job = self.in_flight.pop(trial_id, None)
            if job is None:
                return
            if error or not result or "result_json" not in result:
                self.errored[trial_id] = job  # the callback below adds the error text
                return
            driver.complete(job, json.loads(result["result_json"]))

        def record_error(self, trial_id: str, reason: str) -> None:
            job = self.errored.pop(trial_id, None)
            if job is not None:
                driver.complete(job, {"status": "failed", "reason": reason})

        def _flush_errors(self) -> None:
            for trial_id in list(self.errored):
                self.record_error(trial_id, "the trial's Ray worker failed (no error text)")

        def abandoned(self) -> list[dict]:
            self._flush_errors()
            jobs = list(self.in_flight.values()) + list(self.queue)
            self.in_flight.clear()
            self.queue.clear()
            return jobs

        # Tune checkpoints the searcher; the Optuna storage is the real state.
        def save_to_dir(self, *args: Any, **kwargs: Any) -> None:
            return None

        def get_state(self) -> dict:
            return {}

        def set_state(self, state: dict) -> None:
            return None

    class _ErrorText(tune.Callback):
        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            reason = "the trial's Ray worker failed"
            try:
                err = trial.get_error()
                if err is not None:
                    text = str(err).strip().splitlines()
                    tail = [line for line in text if line.strip()][-1:] if text else []
                    reason = f"Ray trial error: {tail[0][:400]}" if tail else reason
            except Exception:  # noqa: BLE001
                pass
            searcher.record_error(trial.trial_id, reason)

    class _StopAll(tune.Stopper):
        def __call__(self, trial_id: str, result: dict) -> bool:
            return False

        def stop_all(self) -> bool:
            return bool(driver.stop_requested)

    searcher = _BatchSearcher()
    resources = {"cpu": cpus_per_trial}
    if gpus_per_trial:
        resources["gpu"] = gpus_per_trial
    trainable = tune.with_resources(_ray_trial, resources)
    tmp = tempfile.mkdtemp(prefix="roadmap-tune-")
    try:
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                num_samples=-1,
                max_concurrent_trials=concurrency,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name="roadmap",
                storage_path=tmp,
                verbose=0,
                stop=_StopAll(),
                callbacks=[_ErrorText()],
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                log_to_file=False,
            ),
        )
        tuner.fit()
        if searcher.error is not None:
            raise searcher.error
    finally:
        driver.abandon(searcher.abandoned())
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            ray.kill(barrier)
        except Exception:  # noqa: BLE001 - Ray may already be down
            pass
