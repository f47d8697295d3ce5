"""What a study's training cost, in units that travel from one machine to another.

Every training's record (`StudyStore.record`, in ``study.db`` and ``trials/<n>/metrics.json``)
keeps its steps (``job_iterations``), its wall seconds (``job_seconds``: how long the training
held its slot, `roadmap.search.evaluator.run_job`) and its CPU seconds (``cpu_seconds``:
`time.process_time` around `Evaluator.train` in the process that trains, so every thread of it,
torch's included; in a Ray worker Ray's own threads add a little). On a ``cuda`` device the
GPU seconds are the trainings' wall seconds: the time the device was held, not its utilisation.

The study's totals are sums over those records, so a resumed study adds to them and a killed
run keeps every training it finished; a training killed before it ended left no record and its
cost is lost, and so is a killed run's wall time (a run's wall time is recorded when it ends,
in the study's ``runs`` attribute). A training a UNet++ sibling shared cost nothing.

**The unit: seed trainings of the long preset.** ::

    cost = sum of the trainings' wall seconds / (seed seconds per step x LONG_ITERATIONS)

``seed seconds per step`` is the seed's own trainings' wall seconds over their steps in this
study (its screen, its runs through the chain, its replicate: measured on the same machine
under the same load as every other training), and ``LONG_ITERATIONS`` the `long` preset's
2500 steps. The machine's speed cancels out: the figure says how much training the search did
("as much as 14 long trainings of the seed"), which a user times on their own machine once.
Wall seconds, not CPU seconds, so that the unit means the same on a GPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypedDict

from roadmap.evaluation.fidelity import PRESETS
from roadmap.search.results import finite_or_none

__all__ = ["StudyCost", "study_cost", "training_totals", "LONG_ITERATIONS"]

LONG_ITERATIONS = PRESETS["long"].iterations  # the unit's training: the `long` preset's 2500 steps


@dataclass(frozen=True)
class StudyCost:
    """A study's training cost (see the module docstring) and the machine's speed reference:
    ``seed_latency_ms`` (the seed's measured latency) and ``seed_seconds_per_iteration``."""

    trainings: int  # trainings recorded (shared ones excluded)
    steps: int  # steps of the trainings that ran to the end (a failed one's are unknown: 0)
    train_seconds: float  # sum of the trainings' wall seconds (slot-seconds)
    cpu_seconds: float | None  # sum of their CPU seconds; None when no record has them (older study)
    cpu_trainings: int  # trainings whose record has CPU seconds
    gpu_seconds: float | None  # on a cuda device: the trainings' wall seconds; else None
    wall_seconds: float  # the runs of the search that ended (a killed run's is not recorded)
    runs: int
    device: str
    seed_latency_ms: float | None
    seed_seconds_per_iteration: float | None

    @property
    def seed_long_trainings(self) -> float | None:
        """The cost in seed trainings of the long preset (None without a timed seed training)."""
        if not self.seed_seconds_per_iteration:
            return None
        return self.train_seconds / (self.seed_seconds_per_iteration * LONG_ITERATIONS)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``cost.json``, ``pareto --json`` and the search's summary."""
        return {**asdict(self), "seed_long_trainings": self.seed_long_trainings, "long_iterations": LONG_ITERATIONS}


class TrainingTotals(TypedDict):
    """What `training_totals` counts."""

    trainings: int
    steps: int
    seconds: float
    cpu_seconds: float
    cpu_trainings: int


def training_totals(records: Any) -> TrainingTotals:
    """``trainings``, ``steps``, ``seconds``, ``cpu_seconds``, ``cpu_trainings`` of evaluation
    records (`StudyStore.evaluations` values); shared trainings and records without seconds (a
    study from before they were kept) are left out."""
    out: TrainingTotals = {"trainings": 0, "steps": 0, "seconds": 0.0, "cpu_seconds": 0.0, "cpu_trainings": 0}
    for rec in records:
        seconds = finite_or_none(rec.get("job_seconds"))
        if rec.get("shared_from") is not None or seconds is None:
            continue
        out["trainings"] += 1
        out["seconds"] += seconds
        if rec.get("status") == "ok":
            out["steps"] += int(rec.get("job_iterations") or rec.get("iterations") or 0)
        cpu = finite_or_none(rec.get("cpu_seconds"))
        if cpu is not None:
            out["cpu_seconds"] += cpu
            out["cpu_trainings"] += 1
    return out


def study_cost(study: Any, candidates: list[Any], device: str) -> StudyCost:
    """The cost of ``study`` (an Optuna study of a search) whose `Candidate`\\ s are
    ``candidates`` (`roadmap.search.results.StudyResults.candidates`), trained on ``device``."""
    from roadmap.search.study import read_evaluations

    evaluations = read_evaluations(study)
    totals = training_totals(evaluations.values())
    seed = next((c for c in candidates if c.reference == "seed"), None)
    per_step = None
    if seed is not None:
        own = training_totals(
            rec for (n, _, _), rec in evaluations.items() if n == seed.number and rec.get("status") == "ok"
        )
        per_step = own["seconds"] / own["steps"] if own["steps"] and own["seconds"] > 0 else None
    runs = [r for r in study.user_attrs.get("runs", []) if isinstance(r, dict)]
    wall = sum(finite_or_none(r.get("total_seconds", r.get("wall_seconds"))) or 0.0 for r in runs)
    gpu = device.startswith("cuda")
    return StudyCost(
        trainings=totals["trainings"],
        steps=totals["steps"],
        train_seconds=totals["seconds"],
        cpu_seconds=totals["cpu_seconds"] if totals["cpu_trainings"] else None,
        cpu_trainings=totals["cpu_trainings"],
        gpu_seconds=totals["seconds"] if gpu else None,
        wall_seconds=wall,
        runs=len(runs),
        device=device,
        seed_latency_ms=None if seed is None else seed.latency_ms,
        seed_seconds_per_iteration=per_step,
    )
