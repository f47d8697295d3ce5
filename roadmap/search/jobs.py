"""What one search trial runs, split where the device must be exclusive.

A trial has three parts:

1. ``check`` (driver, cheap): static analysis of the candidate (MACs, predicted peak
   activation memory) for the ``--max-memory-mb`` constraint. No model is run.
2. ``measure`` (driver, exclusive): latency and measured peak memory of the *untrained*
   model (neither depends on the weights). The driver runs this step only while no
   trial trains, so no other work shares the device while latency is timed.
3. ``train`` (a Ray Tune trial, or in process): the proxy training and PSNR / SSIM on the
   validation crops. Trials train side by side; nothing is timed for the objectives here.

An *evaluator* implements the three (:class:`RoadmapEvaluator` wraps
:mod:`roadmap.evaluation`). The driver names it by a ``"module:attribute"`` string so
that Ray workers can build the same one; ``ROADMAP_SEARCH_EVALUATOR`` (a test seam) swaps
in another.
"""
from __future__ import annotations

import importlib
import os
import time
import traceback
from typing import Any, Protocol

__all__ = ["Evaluator", "RoadmapEvaluator", "get_evaluator", "evaluator_ref", "run_train_job"]

DEFAULT_EVALUATOR = "roadmap.search.jobs:RoadmapEvaluator"
TRAIN_KEYS = ("psnr", "ssim", "noisy_psnr", "train_seconds", "status", "reason")
MEASURE_KEYS = (
    "latency_ms",
    "latency_cv",
    "peak_memory_measured_bytes",
    "peak_memory_predicted_bytes",
    "params",
    "macs",
)


class Evaluator(Protocol):
    def check(self, spec: Any) -> dict:
        """Cheap static figures: ``macs``, ``peak_memory_predicted_bytes`` (None if unknown)."""

    def measure(self, spec: Any, *, device: str) -> dict:
        """Latency and memory of the untrained model: the :data:`MEASURE_KEYS`."""

    def train(self, spec: Any, *, fidelity: Any, data: Any, device: str, random_seed: int) -> dict:
        """Proxy-train and validate: the :data:`TRAIN_KEYS` (``status`` ok / diverged / failed)."""


def evaluator_ref() -> str:
    return os.environ.get("ROADMAP_SEARCH_EVALUATOR") or DEFAULT_EVALUATOR


_CACHE: dict[str, Any] = {}


def get_evaluator(ref: str | None = None) -> Evaluator:
    """Build (once per process) the evaluator named ``"module:attribute"``."""
    ref = ref or evaluator_ref()
    if ref not in _CACHE:
        module_name, _, attr = ref.partition(":")
        obj = getattr(importlib.import_module(module_name), attr)
        _CACHE[ref] = obj() if isinstance(obj, type) else obj
    return _CACHE[ref]


class RoadmapEvaluator:
    """The evaluator of :mod:`roadmap.evaluation` (``evaluate_spec`` and its parts)."""

    def _input_shape(self) -> tuple[int, ...]:
        try:
            from roadmap.evaluation.latency import DEFAULT_INPUT_SHAPE

            return tuple(DEFAULT_INPUT_SHAPE)
        except ImportError:  # pragma: no cover
            return (1, 3, 256, 256)

    def check(self, spec: Any) -> dict:
        try:
            from roadmap.analysis import analyze
        except ImportError:  # pragma: no cover - analysis not built
            return {"macs": None, "peak_memory_predicted_bytes": None}
        a = analyze(spec, input_hw=self._input_shape()[-2:])
        return {"macs": int(a.macs), "peak_memory_predicted_bytes": int(a.peak_activation_bytes),
                "params": int(a.params)}

    def measure(self, spec: Any, *, device: str) -> dict:
        ev = importlib.import_module("roadmap.evaluation")
        fn = getattr(ev, "measure_spec", None)
        if fn is not None:  # the evaluation package's own: the numbers evaluate_spec reports
            out = dict(fn(spec, device=device))
            return {k: out.get(k) for k in MEASURE_KEYS}
        from roadmap.build import build_model
        from roadmap.evaluation.latency import measure_latency
        from roadmap.evaluation.memory import measure_peak_memory

        shape = self._input_shape()
        model = build_model(spec)
        lat = measure_latency(model, shape, device)
        mem = measure_peak_memory(model, shape, device)
        static = self.check(spec)
        return {
            "latency_ms": float(lat.median_ms),
            "latency_cv": float(getattr(lat, "robust_cv", lat.cv)),
            "peak_memory_measured_bytes": int(mem.peak_bytes),
            "peak_memory_predicted_bytes": static.get("peak_memory_predicted_bytes"),
            "params": static.get("params"),
            "macs": static.get("macs"),
        }

    def __init__(self) -> None:
        self._data: dict[tuple, Any] = {}  # loaded once per process (trial actors are reused)

    def load_data(self, data: Any, fidelity: Any) -> Any:
        from roadmap.evaluation import get_fidelity, load_data

        fid = get_fidelity(fidelity)
        key = (str(data), fid.crop, fid.val_crop, fid.val_count)
        if key not in self._data:
            self._data[key] = load_data(data, val_crop=fid.val_crop, val_count=fid.val_count,
                                        train_crop=fid.crop)
        return self._data[key]

    def train(self, spec: Any, *, fidelity: Any, data: Any, device: str, random_seed: int) -> dict:
        from roadmap.evaluation import evaluate_spec, get_fidelity

        fid = get_fidelity(fidelity)
        out = evaluate_spec(spec, fidelity=fid, data=self.load_data(data, fid), device=device,
                            random_seed=random_seed, measure=False)
        return {k: out.get(k) for k in TRAIN_KEYS}


def _short_reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:500]


def run_train_job(job: dict) -> dict:
    """Train one candidate (inside a Ray trial or in process). Never raises: an exception
    becomes ``status: failed`` with its reason. Adds ``job_seconds`` (wall time)."""
    t0 = time.perf_counter()
    threads = job.get("threads")
    try:
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        if job.get("inject_failure"):
            raise RuntimeError(f"injected failure for trial {job.get('number')} (ROADMAP_SEARCH_FAIL_TRIALS)")
        from roadmap.spec import load_spec

        spec = load_spec(job["spec_yaml"])
        evaluator = get_evaluator(job.get("evaluator"))
        result = dict(
            evaluator.train(
                spec,
                fidelity=job["fidelity"],
                data=job.get("data"),
                device=job.get("device", "cpu"),
                random_seed=int(job.get("random_seed", 0)),
            )
        )
        result.setdefault("status", "ok")
    except MemoryError as exc:
        result = {"status": "failed", "reason": f"out of memory ({_short_reason(exc)})"}
    except Exception as exc:  # noqa: BLE001 - a trial must never take the study down
        reason = _short_reason(exc)
        if "out of memory" in reason.lower():
            reason = f"out of memory ({reason})"
        result = {"status": "failed", "reason": reason, "traceback": traceback.format_exc()[-4000:]}
    result["job_seconds"] = time.perf_counter() - t0
    return result
