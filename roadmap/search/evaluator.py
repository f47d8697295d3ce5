"""What a search asks of a candidate, split where the device must be exclusive.

An `Evaluator` answers three questions about a spec:

1. ``check`` (cheap, static): MACs, params, predicted peak memory; for the memory limit.
2. ``measure`` (exclusive): latency and measured peak memory of the *untrained* model
   (neither depends on the weights). The search runs it only while nothing trains.
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
from typing import Any, Protocol

from roadmap.evaluation.fidelity import Fidelity

__all__ = ["TrainJob", "Evaluator", "RoadmapEvaluator", "run_job", "MEASURE_KEYS", "TRAIN_KEYS"]

TRAIN_KEYS = ("psnr", "ssim", "noisy_psnr", "train_seconds", "status", "reason")
MEASURE_KEYS = ("latency_ms", "latency_cv", "peak_memory_measured_bytes", "peak_memory_predicted_bytes",
                "params", "macs")


@dataclass(frozen=True)
class TrainJob:
    """One training of one candidate, as it crosses the process boundary.

    It ends at rung ``rung`` of ``fidelity`` (the study's fidelity, rungs included). With
    ``resume_from`` (the weights file rung ``rung - 1`` left) it trains that rung alone;
    without, rungs 0 to ``rung`` from scratch (a replicate with another random seed).
    ``save_weights`` is where the trained weights go (the next rung starts there).
    """

    number: int
    rung: int
    random_seed: int
    spec_yaml: str
    fidelity: Fidelity
    data: str | None = None
    device: str = "cpu"
    resume_from: str | None = None
    save_weights: str | None = None

    @property
    def first_rung(self) -> int:
        return self.rung if self.resume_from else 0

    @property
    def iterations(self) -> int:
        """The candidate's training steps in total once this job is done."""
        return self.fidelity.rung_iterations[self.rung]

    @property
    def job_iterations(self) -> int:
        """The steps this job trains."""
        start = self.fidelity.rung_iterations[self.first_rung - 1] if self.first_rung else 0
        return self.iterations - start


class Evaluator(Protocol):
    def check(self, spec: Any) -> dict:
        """Static figures: ``macs``, ``params``, ``peak_memory_predicted_bytes``."""

    def measure(self, spec: Any, device: str) -> dict:
        """Latency and memory of the untrained model: the :data:`MEASURE_KEYS`."""

    def train(self, job: TrainJob) -> dict:
        """Train and validate one job: the :data:`TRAIN_KEYS` (``status`` ok / diverged / failed)."""


class RoadmapEvaluator:
    """The evaluator of :mod:`roadmap.evaluation` (static analysis, ``measure_spec``,
    ``evaluate_spec``). Training data are loaded once per process and kept.

    ``latency``: the backend ``measure`` times on (a `LatencyConfig`; default eager torch);
    ``threads``: the CPU threads of the measurement (the training's, ``fidelity.threads``).
    """

    def __init__(self, latency: Any = None, threads: int | None = 1) -> None:
        self._data: dict[tuple, Any] = {}
        self.latency = latency
        self.threads = threads

    @classmethod
    def from_settings(cls, settings: Any) -> "RoadmapEvaluator":
        """The evaluator of a search: its latency backend, its training's thread count."""
        return cls(latency=settings.latency, threads=settings.fidelity.threads)

    def check(self, spec: Any) -> dict:
        from roadmap.analysis import analyze
        from roadmap.build import fold_spec
        from roadmap.evaluation.evaluate import LATENCY_HW

        a = analyze(fold_spec(spec), input_hw=LATENCY_HW)  # what is deployed: RRRBs folded
        return {"macs": int(a.macs), "params": int(a.params),
                "peak_memory_predicted_bytes": int(a.peak_activation_bytes)}

    def measure(self, spec: Any, device: str) -> dict:
        from roadmap.evaluation import measure_spec

        out = measure_spec(spec, device=device, threads=self.threads, latency=self.latency)
        return {k: out.get(k) for k in MEASURE_KEYS}

    def load_data(self, data: str | None, fidelity: Fidelity) -> Any:
        """The data of ``data`` (None: the embedded photos) as the fidelity crops them; a bad
        folder raises `RoadmapError` (the search calls this before it starts)."""
        from roadmap.evaluation import load_data

        key = (str(data), fidelity.crop, fidelity.val_crop, fidelity.val_count)
        if key not in self._data:
            self._data[key] = load_data(data, val_crop=fidelity.val_crop, val_count=fidelity.val_count,
                                        train_crop=fidelity.crop)
        return self._data[key]

    def train(self, job: TrainJob) -> dict:
        from roadmap.evaluation import evaluate_spec
        from roadmap.spec import load_spec

        out = evaluate_spec(load_spec(job.spec_yaml), fidelity=job.fidelity,
                            data=self.load_data(job.data, job.fidelity), device=job.device,
                            random_seed=job.random_seed, measure=False, init_weights=job.resume_from,
                            save_weights=job.save_weights, rungs=(job.first_rung, job.rung))
        return {k: out.get(k) for k in TRAIN_KEYS}

    def __getstate__(self) -> dict:  # workers load their own data
        return {**self.__dict__, "_data": {}}

    def __setstate__(self, state: dict) -> None:  # pickles of older versions lack the latency fields
        self.__dict__.update({"latency": None, "threads": 1, **state})


def _short_reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    reason = (text[0] if text else type(exc).__name__)[:500]
    return f"out of memory ({reason})" if isinstance(exc, MemoryError) or "out of memory" in reason.lower() \
        else reason


def run_job(evaluator: Evaluator, job: TrainJob) -> dict:
    """Train one job (in a worker or in process). Never raises: an exception becomes
    ``status: failed`` with a one-line reason. Adds ``job_seconds`` (wall time)."""
    t0 = time.perf_counter()
    try:
        result = dict(evaluator.train(job))
        result.setdefault("status", "ok")
    except Exception as exc:  # noqa: BLE001 - a trial must never take the study down
        result = {"status": "failed", "reason": _short_reason(exc), "traceback": traceback.format_exc()[-4000:]}
    result["job_seconds"] = time.perf_counter() - t0
    return result
