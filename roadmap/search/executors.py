"""Executors: who trains a batch of jobs. The in-process one lives here; the Ray Tune one in
:mod:`roadmap.search.ray_backend` (the only module that imports Ray).

An executor pulls batches from a `JobSource` (the search's `Scheduler`) until it returns
``None``, trains each job with :func:`roadmap.search.evaluator.run_job`, and hands every
result back. It asks for the next batch when the whole batch is done, so the source can
measure new candidates while nothing trains; an executor with slots that run side by side
(Ray) also asks a source that ``refills`` whenever a slot frees, and the source answers with
what may start beside the jobs still training (maybe nothing).
"""

from __future__ import annotations

from typing import Any, Protocol

from roadmap.search.evaluator import Evaluator, TrainJob, run_job

__all__ = ["JobSource", "run_local"]


class JobSource(Protocol):
    """What an executor pulls its jobs from and hands their results to (the search's `Scheduler`)."""

    stop_requested: bool
    refills: bool  # may be asked for jobs while jobs it handed out still train (optional, default False)

    def next_batch(self) -> list[TrainJob] | None:
        """Jobs to train side by side now; ``None`` when the search is over (with jobs still
        training, a source that ``refills`` answers a list, maybe empty)."""

    def started(self, job: TrainJob) -> None:
        """A job begins training."""

    def finished(self, job: TrainJob, result: dict[str, Any]) -> None:
        """A job ended (``result["status"]`` says how)."""

    def abandon(self, jobs: list[TrainJob]) -> None:
        """Jobs handed out that will not finish in this run (stop, error)."""


def run_local(source: JobSource, evaluator: Evaluator) -> None:
    """Train every batch in this process, one job at a time (``--backend local``)."""
    while True:
        batch = source.next_batch()
        if not batch:
            return
        for i, job in enumerate(batch):
            try:
                source.started(job)
                result = run_job(evaluator, job)
            except KeyboardInterrupt:
                source.stop_requested = True
                source.abandon(batch[i:])
                return
            source.finished(job, result)
            if source.stop_requested:
                source.abandon(batch[i + 1 :])
                return
