"""The search's evaluator on :mod:`roadmap.evaluation`: static analysis, ``measure_spec``,
``evaluate_spec``.

The search core (`roadmap.search`) knows only the `Evaluator` protocol; ``roadmap search`` builds
a `RoadmapEvaluator` from its settings and passes it in. The executors hand the object to their
workers with each job, so it pickles (without the data it loaded: each worker loads its own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from roadmap.evaluation.fidelity import Fidelity
from roadmap.search.evaluator import MEASURE_KEYS, TRAIN_KEYS, TrainJob

__all__ = ["RoadmapEvaluator", "inherited_weights"]


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

    def check_data(self, data: str | None, fidelity: Fidelity) -> None:
        """Load ``data`` as the fidelity crops it, and let it go: a bad folder raises `RoadmapError`
        before the study is touched. Not kept: on Ray the workers train, and load their own."""
        _load(data, self.task, fidelity)

    def load_data(self, data: str | None, fidelity: Fidelity) -> Any:
        """The data of ``data`` (None: the embedded photos) for the evaluator's task, as the
        fidelity crops them, loaded once per process; a bad folder raises `RoadmapError`."""
        from roadmap.evaluation.tasks import DEFAULT_TASK

        task = self.task or DEFAULT_TASK
        key = (str(data), fidelity.crop, fidelity.val_crop, fidelity.val_count, task)
        if key not in self._data:
            self._data[key] = _load(data, task, fidelity)
        return self._data[key]

    def train(self, job: TrainJob) -> dict[str, Any]:
        from roadmap.evaluation import evaluate_spec
        from roadmap.spec import load_spec

        spec = load_spec(job.spec_yaml)
        init: dict[str, Any] | str | None  # carried weights, or the checkpoint to resume
        if job.screen:  # inherited weights, a short fine-tuning
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


def _load(data: str | None, task: Any, fidelity: Fidelity) -> Any:
    from roadmap.evaluation import load_data
    from roadmap.evaluation.tasks import DEFAULT_TASK

    fid = fidelity
    return load_data(
        data, task=task or DEFAULT_TASK, val_crop=fid.val_crop, val_count=fid.val_count, train_crop=fid.crop
    )


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
