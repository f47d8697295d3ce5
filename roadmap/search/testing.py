"""A fast, deterministic stand-in evaluator for tests and benchmarks of the search machinery.

Pass ``FakeEvaluator(...)`` to :func:`roadmap.search.run_search`. Its figures are a smooth
function of the spec (portions, widths, skips, depth) and of the training steps, so samplers
and promotions have something to learn, but nothing is trained or timed. Like the real
evaluator, a deep-supervised UNet++ reports ``psnr_by_depth`` / ``ssim_by_depth``: the fake PSNR
of the network pruned to each depth.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FakeEvaluator", "step_cost", "SimulatedSlots", "search_on_slots"]


def _stages(spec: Any) -> list[tuple[Any, int]]:
    """(stage, down-scaling) of every stage the network runs: a UNet++ runs ``decoder[i]`` once
    per node of level ``i`` and, pruned, only the levels its depth keeps."""
    if spec.nested is None:
        stages = [(s, 2**i) for i, s in enumerate(spec.encoder)] + [(s, 2**i) for i, s in enumerate(spec.decoder)]
        return stages + [(s, 2**spec.levels) for s in spec.middle]
    d = spec.built_levels
    stages = [(spec.encoder[i], 2**i) for i in range(min(d + 1, spec.levels))]
    stages += [(spec.decoder[i], 2**i) for i in range(d) for _ in range(d - i)]
    return stages + ([(s, 2**spec.levels) for s in spec.middle] if d == spec.levels else [])


def _cost(spec: Any) -> tuple[float, float, float]:
    """(relative compute, relative memory, capacity) of a spec, from its structure."""
    compute = memory = capacity = 0.0
    stages = _stages(spec)
    for stage, scale in stages:
        conv = stage.conv
        portion = 1.0
        if conv is not None and getattr(conv, "portion", None):
            portion = float(conv.portion)
            if getattr(conv, "dw_threshold", None) is not None:
                portion *= 0.6
        work = max(stage.depth, 1) * stage.width**2 / scale**2
        compute += work * (0.3 + 0.7 * portion)
        capacity += work * (0.5 + 0.5 * portion) ** 0.5
    for i, skip in enumerate(spec.skips):
        nodes = 1 if spec.nested is None else max(spec.built_levels - i, 0)  # UNet++: a skip per node
        if skip.type != "none":
            memory += nodes * spec.encoder[i].width / 4**i
            capacity += nodes * 40.0 / 2**i
    if spec.aggregate is not None:
        memory *= 0.3
        capacity *= 0.97
    for sampler in list(spec.down) + list(spec.up):
        if sampler.type in ("pool_conv", "conv_interp"):
            compute *= 0.97
            capacity *= 0.995
    memory += spec.encoder[0].width * 1.5
    return compute, memory, capacity


# A step's share that does not scale with the model (data, optimiser): a fake training's cost is
# then not exactly proportional to its MACs, as a real one's is not.
FIXED_STEP_SHARE = 0.2


def step_cost(spec: Any) -> float:
    """A fake training step's cost relative to the nafnet seed's: ``FIXED_STEP_SHARE`` plus the
    rest in proportion to the fake MACs (`FakeEvaluator.check`)."""
    return FIXED_STEP_SHARE + (1 - FIXED_STEP_SHARE) * _cost(spec)[0] / _seed_compute()


@functools.lru_cache(maxsize=1)
def _seed_compute() -> float:
    from roadmap.seeds import get_seed

    return _cost(get_seed("nafnet"))[0]


@dataclass(frozen=True)
class FakeEvaluator:
    """See the module docstring. ``train_seconds`` / ``measure_seconds``: sleep that long;
    ``fail_numbers``: trials whose training raises; ``fail_psnr_below``: report ``diverged``
    below this PSNR; ``noise_db``: spread of the PSNR between random seeds;
    ``inherited_iterations``: the head start, in training steps, that a screen's inherited
    weights are worth (a screen without them starts from scratch); ``unsteady_first``: the
    first time a spec is timed, its latency reads 30 % high with a CV of 20 % (a busy machine);
    ``seconds_per_iteration``: a training also sleeps that long per step it trains, times the
    spec's cost relative to the nafnet seed's (`step_cost`; `job_cost` says how long)."""

    train_seconds: float = 0.0
    measure_seconds: float = 0.0
    fail_numbers: frozenset[int] = frozenset()
    fail_psnr_below: float | None = None
    noise_db: float = 0.05
    inherited_iterations: int = 60
    unsteady_first: bool = False
    seconds_per_iteration: float = 0.0
    timed: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # spec YAML -> times timed

    def check(self, spec: Any) -> dict[str, Any]:
        compute, memory, _ = _cost(spec)
        return {
            "macs": int(compute * 1e5),
            "peak_memory_predicted_bytes": int(memory * 65536 * 4),
            "params": int(compute * 100),
        }

    def measure(self, spec: Any, device: str) -> dict[str, Any]:
        if self.measure_seconds:
            time.sleep(self.measure_seconds)
        compute, memory, _ = _cost(spec)
        static = self.check(spec)
        key = spec.to_yaml()
        self.timed[key] = self.timed.get(key, 0) + 1
        if self.unsteady_first and self.timed[key] == 1:
            return {
                "latency_ms": 1.3 * (5.0 + compute / 200.0),
                "latency_cv": 0.2,
                "peak_memory_measured_bytes": int(memory * 65536 * 4 * 1.05),
                **static,
            }
        return {
            "latency_ms": 5.0 + compute / 200.0,
            "latency_cv": 0.01,
            "peak_memory_measured_bytes": int(memory * 65536 * 4 * 1.05),
            **static,
        }

    def measure_side_by_side(self, specs: list[Any], device: str) -> list[dict[str, Any]]:
        self.timed["side by side"] = self.timed.get("side by side", 0) + 1
        return [{"latency_ms": 5.0 + _cost(spec)[0] / 200.0, "latency_cv": 0.01} for spec in specs]

    def check_data(self, data: str | None, fidelity: Any) -> None:
        """Nothing to refuse: the fake trains on no data."""

    def psnr(self, spec: Any, iterations: int, random_seed: int) -> float:
        """The fake PSNR: capacity helps, more steps help, the seed adds a little noise."""
        _, _, capacity = _cost(spec)
        digest = hashlib.sha256((spec.to_yaml() + str(random_seed)).encode()).digest()
        noise = (digest[0] / 255.0 - 0.5) * 2 * self.noise_db
        return 26.0 + 4.0 * capacity / (capacity + 2000.0) - 2.0 * math.exp(-iterations / 50.0) + noise

    def job_cost(self, job: Any) -> float:
        """The seconds ``job`` sleeps for its steps (``seconds_per_iteration``, `step_cost`)."""
        from roadmap.spec import load_spec

        if not self.seconds_per_iteration:
            return 0.0
        return float(self.seconds_per_iteration * job.job_iterations * step_cost(load_spec(job.spec_yaml)))

    def train(self, job: Any) -> dict[str, Any]:
        from roadmap.spec import load_spec

        t0 = time.perf_counter()
        if self.train_seconds or self.seconds_per_iteration:
            time.sleep(self.train_seconds + self.job_cost(job))
        if job.number in self.fail_numbers:
            raise RuntimeError(f"injected failure for trial {job.number}")
        steps = job.iterations
        if job.resume_from is not None:  # like the real evaluator: continue from that file
            Path(job.resume_from).read_bytes()
        if job.inherit_from is not None:
            Path(job.inherit_from).read_bytes()
            steps += self.inherited_iterations
        spec = load_spec(job.spec_yaml)
        psnr = self.psnr(spec, steps, job.random_seed)
        out = {
            "psnr": psnr,
            "ssim": min(0.99, psnr / 40.0),
            "input_psnr": 20.2,
            "train_seconds": time.perf_counter() - t0,
            "status": "ok",
        }
        if spec.nested is not None and spec.nested.deep_supervision:
            out.update(self._by_depth(spec, steps, job.random_seed))
        if self.fail_psnr_below is not None and psnr < self.fail_psnr_below:
            out.update(status="diverged", reason=f"fake PSNR {psnr:.2f} below {self.fail_psnr_below}")
        elif job.save_weights is not None:
            from roadmap import files  # the real writer: a full disk fails the fake job as a real one

            files.write_text(
                job.save_weights, f"fake weights of trial {job.number} at rung {job.rung}\n", "save_weights"
            )
        return out

    def _by_depth(self, spec: Any, steps: int, random_seed: int) -> dict[str, Any]:
        """``psnr_by_depth`` / ``ssim_by_depth`` of a deep-supervised UNet++: each depth's PSNR is
        the fake PSNR of the network pruned to it (the whole network at its own depth)."""
        from roadmap.transforms.prune import at_depth

        by_depth = {d: self.psnr(at_depth(spec, d), steps, random_seed) for d in range(1, spec.built_levels + 1)}
        return {"psnr_by_depth": by_depth, "ssim_by_depth": {d: min(0.99, p / 40.0) for d, p in by_depth.items()}}


class SimulatedSlots:
    """An executor on ``slots`` slots in simulated time: a job takes ``seconds(job)`` and nothing
    sleeps, so a test (or a benchmark's bound) sees the schedule a search makes with no driver
    overhead. Like the Ray executor, a freed slot asks a source that ``refills`` for jobs to
    start beside the running ones (``refill=False``: only when nothing runs), and an idle
    executor asks for the next batch. A job's result records its simulated seconds as its
    ``job_seconds`` (the search orders a rung's jobs by them), so a schedule does not depend on
    the machine. ``running`` is the number of jobs training now; ``trained`` every job trained
    with its ``(job, start, end)``, ``intervals`` their ``(start, end)``."""

    def __init__(self, slots: int, seconds: Any, refill: bool = True):
        self.slots, self.seconds, self.refill = slots, seconds, refill
        self.now = 0.0
        self.running = 0
        self.trained: list[tuple[Any, float, float]] = []

    @property
    def intervals(self) -> list[tuple[float, float]]:
        return [(start, end) for _, start, end in self.trained]

    def run(self, source: Any, evaluator: Any) -> None:
        """Train every job the source hands out until it returns ``None``."""
        import heapq

        from roadmap.search.evaluator import run_job

        ends: list[tuple[float, int, Any, dict[str, Any]]] = []  # (end, order, job, result)
        while True:
            idle = not ends
            if idle or (self.refill and getattr(source, "refills", False) and len(ends) < self.slots):
                batch = source.next_batch()
                if batch is None and idle:
                    return
                for job in batch or []:
                    source.started(job)
                    took = float(self.seconds(job))
                    result = {**run_job(evaluator, job), "job_seconds": took}
                    heapq.heappush(ends, (self.now + took, len(self.trained), job, result))
                    self.trained.append((job, self.now, self.now + took))
                self.running = len(ends)
            if not ends:
                return  # nothing handed out although nothing runs: the source is done
            self.now, _, job, result = heapq.heappop(ends)
            self.running = len(ends)
            source.finished(job, result)


def search_on_slots(settings: Any, evaluator: Any, slots: SimulatedSlots, measure_while_training: bool = False) -> Any:
    """One search of `SearchSettings` ``settings`` built as `run_search` builds it (checks, the
    study's store, the candidate factory), trained on the simulated ``slots``; its `Scheduler`,
    closed (``slots.trained`` holds the schedule)."""
    import contextlib

    from roadmap.search.candidates import CandidateFactory
    from roadmap.search.engine import _open_store, check_search
    from roadmap.search.scheduler import Scheduler

    stored, references, _ = check_search(settings, evaluator)
    with contextlib.ExitStack() as stack:
        store = _open_store(settings, stored, stack)
        factory = CandidateFactory(settings, store, evaluator, references)
        scheduler = Scheduler(settings, store, factory, slots.slots, measure_while_training=measure_while_training)
        scheduler.prepare(new_study=stored is None)
        slots.run(scheduler, evaluator)
        scheduler.close()
    return scheduler
