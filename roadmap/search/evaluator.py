"""What a search asks of a candidate, split where the device must be exclusive.

An `Evaluator` answers three questions about a spec:

1. ``check`` (cheap, static): MACs, params, predicted peak memory; for the memory limit.
2. ``measure`` (exclusive): latency and measured peak memory of the *untrained* model
   (neither depends on the weights). The search runs it only while nothing trains; once the
   top rung is decided, ``measure_side_by_side`` times its candidates again in one
   interleaved run, so that their latencies compare whatever the machine's speed did.
3. ``train``: one `TrainJob` (a rung of the proxy training, from given weights or fresh),
   then PSNR / SSIM on the validation crops. Jobs train side by side.

The search receives its evaluator as an object (`RoadmapEvaluator` by default; tests pass
`roadmap.search.testing.FakeEvaluator`), and the executor hands the same object to its workers
with each job, so both must pickle.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from roadmap.evaluation.fidelity import Fidelity

__all__ = ["TrainJob", "Evaluator", "RoadmapEvaluator", "run_job", "MEASURE_KEYS", "TRAIN_KEYS"]

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
    rung of ``fidelity.rungs`` the job trains: from ``resume_from`` (the weights the previous
    rung left) when given, else from scratch. A job without ``chain`` is a *screen*: the
    candidate starts from the trained seed's weights (``inherit_from``, a weights file of the
    spec ``seed_yaml``) carried through its steps and fine-tunes ``fidelity.screen_iterations``
    steps. ``save_weights`` is where the trained weights go.

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
    def iterations(self) -> int:
        """The candidate's training steps once this job is done (a screen: its fine-tuning)."""
        if self.chain is None:
            return self.fidelity.screen_iterations
        return self.fidelity.rung_iterations[self.chain[1]]

    @property
    def job_iterations(self) -> int:
        """The steps this job trains."""
        if self.chain is None:
            return self.fidelity.screen_iterations
        first = self.chain[0]
        return self.iterations - (self.fidelity.rung_iterations[first - 1] if first else 0)


class Evaluator(Protocol):
    def check(self, spec: Any) -> dict[str, Any]:
        """Static figures: ``macs``, ``params``, ``peak_memory_predicted_bytes``."""

    def measure(self, spec: Any, device: str) -> dict[str, Any]:
        """Latency and memory of the untrained model: the :data:`MEASURE_KEYS`."""

    def measure_side_by_side(self, specs: list[Any], device: str) -> list[dict[str, Any]]:
        """Latencies of ``specs`` timed in one interleaved measurement (their ratios hold while
        the machine's speed drifts): ``latency_ms`` and ``latency_cv`` per spec."""

    def train(self, job: TrainJob) -> dict[str, Any]:
        """Train and validate one job: the :data:`TRAIN_KEYS` (``status`` ok / diverged / failed)."""


class RoadmapEvaluator:
    """The evaluator of :mod:`roadmap.evaluation` (static analysis, ``measure_spec``,
    ``evaluate_spec``). Training data are loaded once per process and kept.

    ``latency``: the backend ``measure`` times on (a `LatencyConfig`; default eager torch);
    ``threads``: the CPU threads of the measurement (the training's, ``fidelity.threads``);
    ``task``: what the candidates restore (a `Task`; default denoising at sigma 25).
    """

    def __init__(self, latency: Any = None, threads: int | None = 1, task: Any = None) -> None:
        self._data: dict[tuple[Any, ...], Any] = {}
        self.latency = latency
        self.threads = threads
        self.task = task

    @classmethod
    def from_settings(cls, settings: Any) -> RoadmapEvaluator:
        """The evaluator of a search: its latency backend, its training's thread count, its task."""
        return cls(latency=settings.latency, threads=settings.fidelity.threads, task=settings.task)

    def check(self, spec: Any) -> dict[str, Any]:
        from roadmap.analysis import analyze
        from roadmap.build import fold_spec
        from roadmap.evaluation.evaluate import measured_hw

        a = analyze(fold_spec(spec), input_hw=measured_hw(spec))  # what is deployed: RRRBs folded
        return {
            "macs": int(a.macs),
            "params": int(a.params),
            "peak_memory_predicted_bytes": int(a.peak_activation_bytes),
        }

    def measure(self, spec: Any, device: str) -> dict[str, Any]:
        from roadmap.evaluation import measure_spec

        out = measure_spec(spec, device=device, threads=self.threads, latency=self.latency)
        return {k: out.get(k) for k in MEASURE_KEYS}

    def measure_side_by_side(self, specs: list[Any], device: str) -> list[dict[str, Any]]:
        from roadmap.evaluation import measure_latencies

        return measure_latencies(specs, device=device, threads=self.threads, latency=self.latency)

    def load_data(self, data: str | None, fidelity: Fidelity) -> Any:
        """The data of ``data`` (None: the embedded photos) for the evaluator's task, as the
        fidelity crops them; a bad folder raises `RoadmapError` (the search calls this before it
        starts)."""
        from roadmap.evaluation import load_data
        from roadmap.evaluation.tasks import DEFAULT_TASK

        task = self.task or DEFAULT_TASK
        key = (str(data), fidelity.crop, fidelity.val_crop, fidelity.val_count, task)
        if key not in self._data:
            self._data[key] = load_data(
                data, task=task, val_crop=fidelity.val_crop, val_count=fidelity.val_count, train_crop=fidelity.crop
            )
        return self._data[key]

    def train(self, job: TrainJob) -> dict[str, Any]:
        from roadmap.evaluation import evaluate_spec
        from roadmap.spec import load_spec

        spec = load_spec(job.spec_yaml)
        init: dict[str, Any] | str | None  # carried weights, or the checkpoint to resume
        if job.chain is None:  # a screen: inherited weights, a short fine-tuning
            fidelity, init, rungs = job.fidelity.screen_fidelity(), inherited_weights(job, spec), None
        else:
            fidelity, init, rungs = job.fidelity, job.resume_from, job.chain
        out = evaluate_spec(
            spec,
            fidelity=fidelity,
            data=self.load_data(job.data, job.fidelity),
            device=job.device,
            random_seed=job.random_seed,
            measure=False,
            init_weights=init,
            save_weights=job.save_weights,
            rungs=rungs,
        )
        return {k: out.get(k) for k in TRAIN_KEYS}

    def __getstate__(self) -> dict[str, Any]:  # workers load their own data
        return {**self.__dict__, "_data": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:  # pickles of older versions lack the latency fields
        self.__dict__.update({"latency": None, "threads": 1, "task": None, **state})


def inherited_weights(job: TrainJob, spec: Any) -> dict[str, Any] | None:
    """The trained seed's weights carried through the candidate's steps (None when the seed
    has no weights to give: the candidate then starts from scratch)."""
    if job.inherit_from is None or job.seed_yaml is None:
        return None
    from roadmap.evaluation.evaluate import read_weights
    from roadmap.spec import load_spec
    from roadmap.transforms import carry_weights

    seed_state, _ = read_weights(Path(job.inherit_from))
    return carry_weights(load_spec(job.seed_yaml), seed_state, list(spec.provenance.get("steps", [])))


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
