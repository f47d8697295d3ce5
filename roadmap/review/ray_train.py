"""``roadmap train --workers N [--address HOST:PORT] [--gpus-per-worker G]`` on Ray Train.

The one module of `roadmap.review` that imports Ray. A ``TorchTrainer`` starts ``N`` workers
(Ray actors) with a torch process group -- gloo on CPUs, NCCL on GPUs -- and each runs
`roadmap.review.train.run_replica` with its `ddp_replica`: the same function that trains in this
process when there is one worker. The job (spec, loaded data, settings, the checkpoint or
carried weights to start from) travels in ``train_loop_config``, so the workers read no input
file; rank 0 writes every output file, so on a cluster of several machines ``--out`` must be
on storage that rank 0's machine and this one share (as Ray's own checkpoints must be).

Rank 0's progress lines come back through a Ray queue and are printed here. A worker's
`RoadmapError` (a diverged loss, a full disk) is raised here as it was raised there.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from roadmap.errors import RoadmapError

__all__ = ["run_on_ray", "check_resources"]

LogFn = Callable[[str], None]


def run_on_ray(job: Any, log: LogFn | None) -> None:
    """Train ``job`` on ``job.settings.workers`` Ray Train workers and wait for them: on a new
    local Ray runtime, or on the cluster at ``settings.address`` (its CPUs and GPUs checked
    first). Raises `RoadmapError` for a runtime that cannot start or be reached, missing
    resources, or a worker's failure."""
    from roadmap.search.ray_backend import RayRuntime

    settings = job.settings
    with RayRuntime(address=settings.address) as runtime:
        check_resources(settings, runtime.resources())
        _fit(job, log or (lambda line: None))


def check_resources(settings: Any, resources: dict) -> None:
    """RoadmapError when the Ray runtime has fewer CPUs or GPUs than the workers reserve (Ray
    would wait for them for ever)."""
    where = f"the Ray cluster at {settings.address}" if settings.address else "this machine's Ray runtime"
    need = settings.workers * settings.cpus_per_worker
    if need > resources.get("CPU", 0):
        raise RoadmapError(f"--workers {settings.workers}: needs {need} CPUs, {where} has {resources.get('CPU', 0):g}")
    gpus = settings.workers * settings.gpus_per_worker
    if gpus > resources.get("GPU", 0):
        raise RoadmapError(
            f"--gpus-per-worker {settings.gpus_per_worker}: {settings.workers} worker(s) need {gpus} "
            f"GPU(s), {where} has {resources.get('GPU', 0):g}"
        )


def _fit(job: Any, log: LogFn) -> None:
    """Build the ``TorchTrainer`` and run it, relaying rank 0's lines to ``log``."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.util.queue import Queue

    s = job.settings
    queue = Queue(actor_options={"num_cpus": 0})
    resources = {"CPU": s.cpus_per_worker, **({"GPU": s.gpus_per_worker} if s.gpus_per_worker else {})}
    # Ray's run folder holds no checkpoint of ours (rank 0 writes them beside --out): a
    # temporary one, removed afterwards.
    storage = tempfile.mkdtemp(prefix="roadmap-train-")
    try:
        trainer = TorchTrainer(
            _worker,
            train_loop_config={"job": job, "queue": queue},
            torch_config=TorchConfig(backend="nccl" if s.gpus_per_worker else "gloo"),
            scaling_config=ScalingConfig(
                num_workers=s.workers, use_gpu=bool(s.gpus_per_worker), resources_per_worker=resources
            ),
            run_config=RunConfig(name="roadmap-train", storage_path=storage),
        )
        _fit_relaying(trainer, queue, log)
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def _fit_relaying(trainer: Any, queue: Any, log: LogFn) -> None:
    """``trainer.fit()`` in a daemon thread (Ctrl-C reaches this one, and the runtime's exit
    then stops Ray) while this thread prints what rank 0 queues."""
    from ray.util.queue import Empty

    failure: list[BaseException] = []

    def fit() -> None:
        try:
            result = trainer.fit()
            if getattr(result, "error", None) is not None:  # Ray Train v1 returns, v2 raises
                failure.append(result.error)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            failure.append(exc)

    thread = threading.Thread(target=fit, name="roadmap-train-fit", daemon=True)
    thread.start()
    while thread.is_alive():
        with contextlib.suppress(Empty):
            log(queue.get(block=True, timeout=0.5))
    while not queue.empty():
        log(queue.get_nowait())
    if failure:
        raise _roadmap_error(failure[0]) from None


def _roadmap_error(exc: BaseException) -> RoadmapError:
    """A worker's own `RoadmapError` (rank 0's first), else one line naming the worker and
    the exception."""
    failures = dict(getattr(exc, "worker_failures", None) or {})
    for rank in sorted(failures):
        if isinstance(failures[rank], RoadmapError):
            return failures[rank]
    if failures:  # the worker's own exception: its message's first line
        rank = min(failures)
        failure = failures[rank]
        text = str(failure).strip().splitlines()
        return RoadmapError(
            f"worker {rank} of the Ray training failed: {type(failure).__name__}: {text[0] if text else ''}".rstrip(
                ": "
            )
        )
    text = str(exc).strip().splitlines()  # Ray's own summary ends with the error's last line
    return RoadmapError(f"the Ray training failed: {type(exc).__name__}: {text[-1] if text else ''}".rstrip(": "))


def _worker(config: dict) -> None:
    """One Ray Train worker: its device, its `Replica` in the process group Ray set up, then
    the training (rank 0's progress lines go into the queue)."""
    import torch
    from ray.train.torch import get_device

    from roadmap.evaluation.parallel import ddp_replica
    from roadmap.review.train import run_replica

    job, queue = config["job"], config["queue"]
    device = get_device() if job.settings.gpus_per_worker else torch.device("cpu")
    replica = ddp_replica(device)
    run_replica(job, replica, device, queue.put if replica.rank == 0 else None)
