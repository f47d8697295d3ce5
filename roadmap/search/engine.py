"""``run_search``: one run of a search, from validated settings to a summary.

The parts it wires (each in its own module): `SearchSettings` (what to search), an
`Evaluator` (how a candidate is measured and trained; passed in), the `StudyStore` (Optuna
study and files), the `CandidateFactory` (trial -> measured candidate), the `Scheduler` (explore,
promote, replicate) and an executor (in process, or Ray Tune). Everything is checked before the
study directory is touched; Ctrl-C stops cleanly and the same settings resume the study.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from roadmap import files, pareto
from roadmap.errors import RoadmapError
from roadmap.search import settings_file, study_lock
from roadmap.search import study as st
from roadmap.search.candidates import CandidateFactory
from roadmap.search.cost import study_cost
from roadmap.search.evaluator import Evaluator
from roadmap.search.results import StudyResults, describe_versus_seed, no_feasible_reason, overall
from roadmap.search.rung_plan import RungPlan
from roadmap.search.scheduler import Scheduler
from roadmap.search.settings import SearchSettings

__all__ = ["run_search", "SearchSummary", "check_search"]


@dataclass
class SearchSummary:
    """What a run of ``roadmap search`` did and what the study holds now."""

    study: str
    budget: int
    done: int
    complete: int
    failed: int
    rejected_or_requeued: int
    top_rung: int
    front_size: int
    hypervolume: float | None
    noise: dict[str, Any]
    knee: dict[str, Any] | None
    interrupted: bool
    failure_reasons: list[tuple[str, int]] = field(default_factory=list)  # most common first
    notes: list[str] = field(default_factory=list)
    timing: dict[str, Any] = field(default_factory=dict)
    task: dict[str, Any] = field(default_factory=dict)  # the study's task (`Task.to_dict`)
    input_psnr: float | None = None  # the degraded validation input's PSNR: every trial's baseline
    references: int = 0  # reference points trained (complete + failed), besides the budget
    no_feasible: str | None = None  # finished trials, none within the limits: which limit, by how much
    exhausted: str | None = None  # why the search stopped asking for candidates before the budget
    # the second recommendation: the fastest point that loses nothing against the seed (as `knee`)
    fastest_no_loss: dict[str, Any] | None = None
    cost: dict[str, Any] = field(default_factory=dict)  # the study's cost so far, every run (`StudyCost.to_dict`)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _reference_steps(seed_spec: Any, notes: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Steps of the reference points (seed, mofa, unet--) that apply to this seed."""
    from roadmap.roadmaps import get_roadmap
    from roadmap.transforms import apply_steps

    refs: dict[str, list[dict[str, Any]]] = {"seed": []}
    for name in ("mofa", "unet--"):
        try:
            steps = [
                {"transform": s["transform"], "params": dict(s.get("params") or {})}
                for s in get_roadmap(name, seed_spec)
            ]
            apply_steps(seed_spec, steps)
        except RoadmapError as exc:
            notes.append(f"reference {name} skipped: {exc}")
            continue
        refs[name] = steps
    return refs


def _check_feasible(settings: SearchSettings, evaluator: Evaluator, refs: dict[str, Any]) -> None:
    """Refuse constraints no candidate can meet (references and 64 random candidates, static
    analysis; latency from one measurement of the seed scaled by MACs, generously)."""
    limits = settings.constraints
    if limits.max_memory_mb is None and limits.max_latency_ms is None:
        return
    from roadmap.search.sampling import random_candidates
    from roadmap.transforms import apply_steps

    seed_spec = settings.seed_spec()
    specs = [apply_steps(seed_spec, steps) for steps in refs.values()]
    checks = [evaluator.check(s) for s in specs + random_candidates(settings.space, seed_spec, 64, 0)]
    mems = [c["peak_memory_predicted_bytes"] for c in checks if c.get("peak_memory_predicted_bytes")]
    if limits.max_memory_mb is not None and mems and min(mems) > limits.max_memory_mb * 2**20:
        raise RoadmapError(
            f"--max-memory-mb {limits.max_memory_mb:g}: impossible constraint; no candidate of "
            f"the space comes close (smallest predicted peak memory {min(mems) / 2**20:.1f} MB)"
        )
    macs = [c["macs"] for c in checks if c.get("macs")]
    if limits.max_latency_ms is not None and macs and checks[0].get("macs"):
        seed_latency = evaluator.measure(seed_spec, settings.device)["latency_ms"]
        cheapest = seed_latency * min(macs) / checks[0]["macs"]
        if limits.max_latency_ms < cheapest * 0.25:  # generous: 4x better than MACs say
            raise RoadmapError(
                f"--max-latency-ms {limits.max_latency_ms:g}: impossible constraint; the seed takes "
                f"{seed_latency:.1f} ms and the cheapest candidate about {cheapest:.1f} ms"
            )


def check_search(
    settings: SearchSettings, evaluator: Evaluator
) -> tuple[dict[str, Any] | None, dict[str, Any], list[str]]:
    """Validate everything before the study is touched: ``(stored settings, reference steps, notes)``."""
    directory = settings.study_dir
    files.check_folder(directory, "study folder")  # a read-only or forbidden folder: before any work
    if settings.data is not None:
        evaluator.check_data(settings.data, settings.fidelity)
    notes: list[str] = []
    refs = _reference_steps(settings.seed_spec(), notes)
    _check_feasible(settings, evaluator, refs)  # an impossible limit says so, new study or not
    stored = settings_file.read_settings(directory) if directory.is_dir() else None
    if stored is not None:
        settings_file.check_settings(directory, stored, settings.binding())
    if (directory / "study.db").exists():
        from roadmap.search.resume_point import check_database

        check_database(directory)  # a damaged study is refused, never opened (Optuna would fail half-way)
    study_lock.check_unlocked(directory)
    return stored, refs, notes


@contextlib.contextmanager
def _stop_on_ctrl_c(scheduler: Scheduler, progress: Any, immediate: bool) -> Iterator[None]:
    """First Ctrl-C: finish the running trainings' bookkeeping and stop; second: abort now."""

    def handler(signum: int, frame: Any) -> None:
        if scheduler.stop_requested or immediate:
            scheduler.stop_requested = True
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        scheduler.stop_requested = True
        if progress is not None:
            progress.message("roadmap search: stopping after Ctrl-C (press it again to abort at once) ...")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _executor(settings: SearchSettings, stack: contextlib.ExitStack) -> tuple[Any, int]:
    """(Ray runtime or None, trainings at once); Ray starts before anything is created, so an
    unreachable cluster changes nothing."""
    ex = settings.execution
    if ex.backend != "ray":
        return None, ex.concurrency or 1
    from roadmap.search.ray_backend import RayRuntime

    runtime = stack.enter_context(RayRuntime(ex.address, None if ex.address else (os.cpu_count() or 1)))
    if ex.concurrency is not None:
        return runtime, ex.concurrency
    res = runtime.resources()
    concurrency = max(1, int(res.get("CPU", 1) // ex.cpus_per_trial))
    if ex.gpus_per_trial:
        concurrency = max(1, min(concurrency, int(res.get("GPU", 0) // ex.gpus_per_trial)))
    return runtime, concurrency


def _open_store(settings: SearchSettings, stored: dict[str, Any] | None, stack: contextlib.ExitStack) -> st.StudyStore:
    from roadmap.search.resume_point import save_resume_point
    from roadmap.search.samplers import make_sampler

    settings.study_dir.mkdir(parents=True, exist_ok=True)
    stack.enter_context(study_lock.StudyLock(settings.study_dir))
    if stored is not None:
        save_resume_point(settings.study_dir)  # the study as this run found it (checked good)
    stack.callback(_final_resume_point, settings.study_dir)  # after store.close (callbacks run last-in first)
    budget = max(settings.budget, (stored or {}).get("budget", 0))
    settings_file.write_settings(settings.study_dir, {**(stored or settings.binding()), "budget": budget})
    store = st.StudyStore(
        settings.study_dir, make_sampler(settings.sampler, settings.random_seed, settings.population_size)
    )
    stack.callback(store.close)
    return store


def _final_resume_point(directory: Any) -> None:
    """The resume point at the end of a run; a failure to write it (a full disk) keeps the
    previous copy and must not hide how the run ended."""
    from roadmap.search.resume_point import save_resume_point

    with contextlib.suppress(RoadmapError, OSError):
        save_resume_point(directory)


def _execute(
    settings: SearchSettings, scheduler: Scheduler, evaluator: Evaluator, concurrency: int, progress: Any
) -> bool:
    """Run the scheduler on the executor; True when it was stopped (Ctrl-C)."""
    ex = settings.execution
    interrupted = False
    with _stop_on_ctrl_c(scheduler, progress, immediate=ex.backend == "local"):
        try:
            if ex.backend == "ray":
                from roadmap.search.ray_backend import run_on_ray

                run_on_ray(
                    scheduler,
                    evaluator,
                    concurrency=concurrency,
                    cpus_per_trial=ex.cpus_per_trial,
                    gpus_per_trial=ex.gpus_per_trial,
                )
            else:
                from roadmap.search.executors import run_local

                run_local(scheduler, evaluator)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            scheduler.close()
            if progress is not None:
                progress.finish()
    return interrupted or scheduler.stop_requested


def run_search(settings: SearchSettings, evaluator: Evaluator, progress: Any = None) -> SearchSummary:
    """Run (or resume) the search ``settings`` describe until its budget is spent, every
    promotion trained and the knee confirmed; returns the `SearchSummary`. ``evaluator``
    measures and trains the candidates (``roadmap search``: `roadmap.adapters.evaluator`)."""
    t_start = time.perf_counter()
    stored, refs, notes = check_search(settings, evaluator)
    with contextlib.ExitStack() as stack:
        runtime, concurrency = _executor(settings, stack)
        store = _open_store(settings, stored, stack)
        factory = CandidateFactory(settings, store, evaluator, refs)
        apart = runtime is not None and runtime.trials_avoid_driver(
            settings.execution.cpus_per_trial, settings.execution.gpus_per_trial
        )
        scheduler = Scheduler(settings, store, factory, concurrency, progress, measure_while_training=apart)
        scheduler.prepare(new_study=stored is None)
        if stored is None and notes:
            store.study.set_user_attr("reference_notes", notes)
        for note in notes:
            if progress is not None:
                progress.message(f"roadmap search: note: {note}")
        if progress is not None:
            progress.message(_start_line(settings, stored is None, scheduler, concurrency))
        interrupted = _execute(settings, scheduler, evaluator, concurrency, progress)
        if scheduler.write_fault is not None:
            raise files.WriteError(
                f"{scheduler.write_fault}; the search stopped and keeps its finished trials: "
                "make room, then run the same command to resume"
            )
        timing = _timing(scheduler, factory, runtime, t_start)
        _append_run(store, settings, concurrency, interrupted, timing)
        summary = _summary(settings, scheduler, interrupted, notes, timing)
        summary.exhausted = factory.exhausted
        summary.cost = _record_cost(store, settings, scheduler, summary.notes)
        return summary


def _start_line(settings: SearchSettings, new: bool, scheduler: Scheduler, concurrency: int) -> str:
    ex = settings.execution
    where = "in process" if ex.backend == "local" else (f"Ray at {ex.address}" if ex.address else "local Ray")
    if scheduler.measure_while_training:
        where += "; no trial runs on this node, so it measures new candidates while others train"
    plan = RungPlan.of(settings, len(scheduler.factory.references), concurrency)
    return (
        f"roadmap search: {'new' if new else 'resuming'} study {settings.study_dir} "
        f"({scheduler.counts()['budget_used']}/{settings.budget} candidates; {settings.sampler}; fidelity "
        f"{settings.fidelity.name}: {plan.describe()}; {concurrency} at a time, {where})"
    )


def _timing(scheduler: Scheduler, factory: CandidateFactory, runtime: Any, t_start: float) -> dict[str, Any]:
    """Wall time split into work (a measurement or at least one training ran) and the rest."""
    wall = time.perf_counter() - scheduler.t0
    work, end = 0.0, -math.inf
    for a, b in sorted(scheduler.busy + factory.busy):
        a = max(a, end)
        if b > a:
            work, end = work + b - a, b
    total = time.perf_counter() - t_start
    return {
        "wall_seconds": wall,
        "work_seconds": work,
        "measure_seconds": factory.measure_seconds,
        "train_job_seconds": scheduler.train_seconds,
        "overhead_share": max(0.0, wall - work) / wall if wall else 0.0,
        "batches": scheduler.batches,
        "trials_this_run": scheduler.counts()["budget_used"] - scheduler.used_at_start,
        "iterations_this_run": scheduler.iterations_this_run,
        "ray_start_seconds": runtime.started_seconds if runtime else 0.0,
        "total_seconds": total,
        "overhead_share_total": max(0.0, 1 - work / total) if total else 0.0,
    }


def _append_run(
    store: st.StudyStore, settings: SearchSettings, concurrency: int, interrupted: bool, timing: dict[str, Any]
) -> None:
    runs = list(store.study.user_attrs.get("runs", []))
    runs.append(
        {
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in timing.items()},
            "backend": settings.execution.backend,
            "concurrency": concurrency,
            "interrupted": interrupted,
            "budget": settings.budget,
        }
    )
    store.study.set_user_attr("runs", runs)


def _record_cost(
    store: st.StudyStore, settings: SearchSettings, scheduler: Scheduler, notes: list[str]
) -> dict[str, Any]:
    """The study's cost over every run (`roadmap.search.cost`), written to ``<study>/cost.json``:
    a copy of what study.db holds, so a failure to write it is a note, not the run's end."""
    cost = study_cost(store.study, scheduler.results().candidates, settings.device).to_dict()
    try:
        st.write_json_atomic(settings.study_dir / "cost.json", cost)
    except (RoadmapError, OSError) as exc:
        notes.append(f"cost.json not written ({exc}); the costs stay in study.db")
    return cost


def knee_summary(results: StudyResults) -> dict[str, Any] | None:
    """The recommended point: its PSNR over its runs and its verdict against the seed."""
    return point_summary(results, results.knee())


def point_summary(results: StudyResults, point: Any) -> dict[str, Any] | None:
    """A recommended candidate (None: none) with its PSNR over its runs and its verdict against
    the seed."""
    if point is None:
        return None
    versus = results.versus_seed(point)
    seed = results.reference("seed")
    summary = {
        "number": point.number,
        "psnr": point.psnr(results.top_rung),
        "runs": len(point.runs(results.top_rung)),
        "input_psnr": point.score(results.top_rung, "input_psnr"),
        "psnr_band_db": results.noise.mean_band(len(point.runs(results.top_rung))),
        "latency_ms": point.latency_ms,
        "peak_memory_bytes": point.memory_bytes,
        "transforms": point.transforms,
        "versus_seed": None,
        "verdict": None,
    }
    seed_latency, seed_memory = (seed.latency_ms, seed.memory_bytes) if seed is not None else (None, None)
    if versus is not None and seed_latency is not None and seed_memory is not None:  # a seed trained and measured
        summary["versus_seed"] = {"overall": overall(versus), **{k: asdict(c) for k, c in versus.items()}}
        summary["verdict"] = describe_versus_seed(summary["versus_seed"], seed_latency, seed_memory)
    return summary


def _summary(
    settings: SearchSettings, scheduler: Scheduler, interrupted: bool, notes: list[str], timing: dict[str, Any]
) -> SearchSummary:
    counts = scheduler.counts()
    results = scheduler.results()  # judged with the fidelity's noise prior, as the review judges
    finished = results.feasible()
    hv = pareto.hypervolume(results.loss(finished)).value if finished else None
    return SearchSummary(
        str(settings.study_dir),
        settings.budget,
        counts["budget_used"],
        counts["complete"],
        counts["failed"],
        counts["pruned"],
        results.top_rung,
        len(results.front()),
        hv,
        results.noise.to_dict(),
        knee_summary(results),
        interrupted,
        _failure_reasons(results),
        notes,
        timing,
        settings.task.to_dict(),
        results.input_psnr(),
        counts["references"],
        no_feasible_reason(results, asdict(settings.constraints)),
        fastest_no_loss=point_summary(results, results.fastest_no_loss()),
    )


def _failure_reasons(results: StudyResults) -> list[tuple[str, int]]:
    """Why trainings failed, most common first (the numbers in a reason are kept: they say
    where, e.g. the iteration a loss became nan)."""
    from collections import Counter

    reasons: Counter[str] = Counter()
    for c in results.candidates:
        if c.state == "FAIL":
            reasons[str(c.failure_reason or "failed")] += 1
        reasons.update(f"{e.status}: {e.reason or e.status}" for e in c.evaluations if not e.ok and c.state != "FAIL")
    return reasons.most_common()
