"""What a search asks of a candidate, split where the device must be exclusive.

An `Evaluator` answers three questions about a spec:

1. ``check`` (cheap, static): MACs, params, predicted peak memory; for the memory limit.
2. ``measure`` (exclusive): latency and measured peak memory of the *untrained* model
   (neither depends on the weights). The search runs it only while nothing trains; once the
   top rung is decided, ``measure_side_by_side`` times its candidates again in one
   interleaved run, so that their latencies compare whatever the machine's speed did.
3. ``train``: one `TrainJob` (a rung of the proxy training, from given weights or fresh),
   then PSNR / SSIM on the validation crops. Jobs train side by side.

Before any of them, ``check_data`` refuses a ``--data`` folder the jobs could not train on.

The search core knows only this protocol: ``roadmap search`` passes the concrete evaluator
(`roadmap.adapters.evaluator.RoadmapEvaluator`, on :mod:`roadmap.evaluation`), tests pass
`roadmap.search.testing.FakeEvaluator`; the executor hands the same object to its workers with
each job, so every evaluator must pickle.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any, Protocol

from roadmap.evaluation.fidelity import Fidelity
from roadmap.search.rung_plan import RungPlan

__all__ = ["TrainJob", "Evaluator", "run_job", "MEASURE_KEYS", "TRAIN_KEYS"]

# ``write_fault``: the job failed because a file could not be written (a full disk, a read-only
# folder): the machine's fault, not the candidate's, so the search stops instead of recording it.
TRAIN_KEYS = (
    "psnr",
    "ssim",
    "input_psnr",
    "psnr_rgb",
    "test_psnr",
    "test_input_psnr",
    "train_seconds",
    "status",
    "reason",
    "psnr_by_depth",
    "ssim_by_depth",
    "write_fault",
)
MEASURE_KEYS = (
    "latency_ms",
    "latency_cv",
    "peak_memory_measured_bytes",
    "peak_memory_predicted_bytes",
    "params",
    "macs",
)


@dataclass(frozen=True)
class TrainJob:
    """One training of one candidate, as it crosses the process boundary.

    ``rung`` is the search's rung the result is recorded at. ``chain`` is the ``(first, last)``
    rung of ``fidelity.rungs`` the job trains (`RungPlan.chain`'s answer for its rung): from
    ``resume_from`` (the weights the previous rung left) when given, else from scratch. A job
    without ``chain`` is a *screen*: the candidate starts from the trained seed's weights
    (``inherit_from``, a weights file of the spec ``seed_yaml``) carried through its steps and
    fine-tunes ``fidelity.screen_iterations`` steps. ``save_weights`` is where the trained
    weights go.

    ``score_depth`` (deep-supervised UNet++ candidates): ``spec_yaml`` is then the whole network
    the candidate is cut from, whose one training scores every depth (``psnr_by_depth``); the
    candidate is its sub-network of this depth, and the search records that head's PSNR.
    """

    number: int
    rung: int
    random_seed: int
    spec_yaml: str
    fidelity: Fidelity
    data: str | None = None
    device: str = "cpu"
    chain: tuple[int, int] | None = (0, 0)
    resume_from: str | None = None
    save_weights: str | None = None
    inherit_from: str | None = None
    seed_yaml: str | None = None
    score_depth: int | None = None

    @property
    def screen(self) -> bool:
        """Whether the job is a screen: the plan's answer (`RungPlan.chain`), as the job carries it."""
        return self.chain is None

    @property
    def iterations(self) -> int:
        """The candidate's training steps once this job is done (a screen: its fine-tuning)."""
        return RungPlan.of_fidelity(self.fidelity).job_iterations(self.chain)[1]

    @property
    def job_iterations(self) -> int:
        """The steps this job trains."""
        return RungPlan.of_fidelity(self.fidelity).job_iterations(self.chain)[0]


class Evaluator(Protocol):
    """How a search measures and trains a candidate (the module docstring): the one thing the
    search core knows of the evaluation."""

    def check(self, spec: Any) -> dict[str, Any]:
        """Static figures: ``macs``, ``params``, ``peak_memory_predicted_bytes``."""

    def measure(self, spec: Any, device: str) -> dict[str, Any]:
        """Latency and memory of the untrained model: the :data:`MEASURE_KEYS`."""

    def measure_side_by_side(self, specs: list[Any], device: str) -> list[dict[str, Any]]:
        """Latencies of ``specs`` timed in one interleaved measurement (their ratios hold while
        the machine's speed drifts): ``latency_ms`` and ``latency_cv`` per spec."""

    def check_data(self, data: str | None, fidelity: Fidelity) -> None:
        """Refuse, with a `RoadmapError`, the ``--data`` folder the jobs would fail to train on
        (the search asks before it touches the study; ``data`` is never None here)."""

    def train(self, job: TrainJob) -> dict[str, Any]:
        """Train and validate one job: the :data:`TRAIN_KEYS` (``status`` ok / diverged / failed)."""


def _short_reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    reason = (text[0] if text else type(exc).__name__)[:500]
    return f"out of memory ({reason})" if isinstance(exc, MemoryError) or "out of memory" in reason.lower() else reason


def run_job(evaluator: Evaluator, job: TrainJob) -> dict[str, Any]:
    """Train one job (in a worker or in process). Never raises: an exception becomes
    ``status: failed`` with a one-line reason. Adds ``job_seconds`` (wall time) and
    ``cpu_seconds`` (this process's CPU time meanwhile, every thread: `roadmap.search.cost`)."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        result = dict(evaluator.train(job))
        result.setdefault("status", "ok")
    except Exception as exc:  # noqa: BLE001 - a trial must never take the study down
        from roadmap.files import WriteError

        result = {"status": "failed", "reason": _short_reason(exc), "traceback": traceback.format_exc()[-4000:]}
        if isinstance(exc, WriteError):
            result.update(reason=str(exc), write_fault=True)
    result["job_seconds"] = time.perf_counter() - t0
    result["cpu_seconds"] = time.process_time() - cpu0
    return result
