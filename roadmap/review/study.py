"""Read a study directory (DESIGN.md section 5) into plain records for review.

The study's figures come from :mod:`roadmap.search.results`, the module the search itself
uses, so ``roadmap search`` and the review agree on the front. A trial is *finished* when it
has a PSNR at the top rung (the mean over its random seeds) and measured latency / memory;
candidates the search screened out at a lower rung, failed ones and unfinished ones are listed
with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from roadmap.errors import RoadmapError
from roadmap.evaluation.tasks import DEFAULT_TASK, Task
from roadmap.search.cost import study_cost
from roadmap.search.results import (
    LIMIT_FLAGS,
    SCORE_KEYS,
    Candidate,
    Noise,
    StudyResults,
    finite_or_none,
    no_feasible_reason,
    overall,
    study_results,
)
from roadmap.search.study import MAXIMIZE, STUDY_NAME

__all__ = [
    "OBJECTIVES",
    "MAXIMIZE",
    "STUDY_NAME",
    "TrialRecord",
    "StudyReview",
    "load_study_dir",
    "short_transforms",
]

# Field names of the review records (the study's Optuna metric names are psnr_db, ...).
OBJECTIVES = ("psnr", "latency_ms", "peak_memory_measured_bytes")
REFERENCE_NAMES = ("seed", "mofa", "unet--")


@dataclass
class TrialRecord:
    """One finished trial: its PSNR at the top rung (mean of ``psnr_runs``, one per random
    seed) with ``psnr_band`` (half-width of its 95 % noise band), its measurements, and how it
    compares with the seed beyond the noise (``versus_seed``).

    ``input_psnr`` (the degraded validation input's PSNR: the baseline), ``test_psnr`` /
    ``test_input_psnr`` (the held-out test images; None without a test split) and ``psnr_rgb``
    (sr: the RGB PSNR beside the Y channel's ``psnr``) are means over the same runs. The test
    figures are for the exported winner only: nothing is chosen by them, so the pareto table
    and the report leave them out."""

    number: int
    psnr: float
    latency_ms: float
    peak_memory_measured_bytes: float
    ssim: float | None = None
    peak_memory_predicted_bytes: float | None = None
    params: int | None = None
    macs: int | None = None
    transforms: list[dict[str, Any]] = field(default_factory=list)
    reference: str | None = None
    spec_yaml: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    psnr_runs: list[float] = field(default_factory=list)
    psnr_band: float | None = None
    versus_seed: dict[str, Any] | None = None
    feasible: bool = True
    input_psnr: float | None = None
    test_psnr: float | None = None
    test_input_psnr: float | None = None
    psnr_rgb: float | None = None

    @property
    def values(self) -> tuple[float, float, float]:
        return (self.psnr, self.latency_ms, self.peak_memory_measured_bytes)

    @property
    def memory_mb(self) -> float:
        """Measured peak memory in MB (2**20 bytes), the unit of ``--max-memory-mb``."""
        return self.peak_memory_measured_bytes / 2**20

    def to_dict(self) -> dict[str, Any]:
        """The trial as in ``roadmap pareto --json``."""
        return {
            "number": self.number,
            "psnr": self.psnr,
            "psnr_runs": self.psnr_runs,
            "psnr_band_db": self.psnr_band,
            "input_psnr": self.input_psnr,
            "psnr_rgb": self.psnr_rgb,
            "ssim": self.ssim,
            "latency_ms": self.latency_ms,
            "latency_cv": self.metrics.get("latency_cv"),
            "peak_memory_measured_bytes": _int_or_none(self.peak_memory_measured_bytes),
            "peak_memory_predicted_bytes": _int_or_none(self.peak_memory_predicted_bytes),
            "params": self.params,
            "macs": self.macs,
            "transforms": self.transforms,
            "reference": self.reference,
            "feasible": self.feasible,
            "versus_seed": self.versus_seed,
        }


@dataclass
class StudyReview:
    """The finished trials of a study (ordered by number), its front and noise floor, and
    what was left out (failed, screened out at a lower rung, unfinished: ``kind: why`` with kind
    rejected, interrupted, running or waiting); its ``task`` and ``input_psnr``, the degraded
    input's PSNR when every trial shares it (the baseline); the finished trials that break a
    limit of the study (``infeasible``) and, when no trial is feasible, why (``no_feasible``);
    ``no_loss``: the feasible trials that tie with or beat the seed in PSNR, use no more memory
    and are faster, fastest first (the first is the fastest-no-loss recommendation);
    its training ``cost`` (`roadmap.search.cost.StudyCost.to_dict`)."""

    directory: Path
    trials: list[TrialRecord]
    failed: int
    settings: dict[str, Any] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)  # number -> reason
    unfinished: dict[int, str] = field(default_factory=dict)  # pruned / running / waiting: number -> why
    screened: dict[int, str] = field(default_factory=dict)  # number -> the rung it stopped at
    front_numbers: list[int] = field(default_factory=list)
    noise: Noise = field(default_factory=lambda: Noise(None, 0, 0))
    top_rung: int = 0
    task: Task = DEFAULT_TASK
    input_psnr: float | None = None
    infeasible: dict[int, str] = field(default_factory=dict)  # finished, over a limit: number -> which
    no_feasible: str | None = None  # every finished trial breaks a limit: which, and by how much at best
    # the trials that lose nothing against the seed, fastest first (`StudyResults.no_loss_ranked`)
    no_loss: list[int] = field(default_factory=list)
    cost: dict | None = None  # the training cost and the machine's reference (`roadmap.search.cost`)

    def loss(self, trials: list[TrialRecord] | None = None) -> np.ndarray:
        """``(n, 3)`` loss vectors (PSNR negated) of ``trials`` (default :attr:`trials`)."""
        from roadmap.pareto import to_loss

        return to_loss([t.values for t in (self.trials if trials is None else trials)], MAXIMIZE)

    def feasible(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.feasible]

    def trial(self, number: int) -> TrialRecord:
        for t in self.trials:
            if t.number == number:
                return t
        for reasons, what in (
            (self.failures, "failed"),
            (self.screened, "was screened out"),
            (self.unfinished, "did not finish"),
        ):
            if number in reasons:
                raise RoadmapError(f"trial {number} {what} ({reasons[number]}); pick a finished trial")
        raise RoadmapError(
            f"trial {number} is not a finished trial of {self.directory} "
            f"(finished: {_ranges([t.number for t in self.trials])})"
        )

    def reference(self, name: str) -> TrialRecord | None:
        for t in self.trials:
            if t.reference == name:
                return t
        return None


def _int_or_none(x: float | None) -> int | None:
    return None if x is None or not math.isfinite(x) else round(x)


def _ranges(numbers: list[int]) -> str:
    if not numbers:
        return "none"
    numbers = sorted(numbers)
    parts, start, prev = [], numbers[0], numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ",".join(parts)


def _record(c: Candidate, results: StudyResults) -> TrialRecord:
    rung, m = results.top_rung, c.metrics
    runs = c.runs(rung)
    versus = results.versus_seed(c)
    ssims = [e.ssim for e in runs if e.ssim is not None]
    params, macs = finite_or_none(m.get("params")), finite_or_none(m.get("macs"))
    psnr, latency_ms, memory_bytes = c.psnr(rung), c.latency_ms, c.memory_bytes
    # a finished candidate (StudyResults.finished): runs at the top rung, latency and memory measured
    assert psnr is not None and latency_ms is not None and memory_bytes is not None
    return TrialRecord(
        number=c.number,
        psnr=psnr,
        latency_ms=latency_ms,
        peak_memory_measured_bytes=memory_bytes,
        ssim=float(np.mean(ssims)) if ssims else finite_or_none(m.get("ssim")),
        peak_memory_predicted_bytes=finite_or_none(m.get("peak_memory_predicted_bytes")),
        params=None if params is None else int(params),
        macs=None if macs is None else int(macs),
        transforms=list(c.transforms or _steps_from_yaml(c.spec_yaml)),
        reference=c.reference,
        spec_yaml=c.spec_yaml,
        metrics=dict(m),
        psnr_runs=[e.psnr for e in runs if e.psnr is not None],  # every run (e.ok) has a PSNR
        psnr_band=results.noise.mean_band(len(runs)),
        versus_seed=None
        if versus is None
        else {
            "overall": overall(versus),
            **{k: {"delta": v.delta, "band": v.band, "verdict": v.verdict} for k, v in versus.items()},
        },
        feasible=_limits_broken(c, results) is None,
        **{key: c.score(rung, key) for key in SCORE_KEYS},
    )


def _limits_broken(c: Candidate, results: StudyResults) -> str | None:
    """The limits a finished candidate breaks, in words (a reference point is trained over a
    latency / memory limit as an anchor; any trial may end below ``--min-psnr``), else None."""
    broken = [str(v) for v in c.metrics.get("violations") or []]
    psnr = c.psnr(results.top_rung)
    if results.min_psnr is not None and psnr is not None and psnr < results.min_psnr:
        broken.append(f"PSNR {psnr:.2f} dB < --min-psnr {results.min_psnr:g}")
    return "; ".join(broken) or None


def _unfinished(c: Candidate, live: bool) -> str:
    """``kind: why`` of a trial that neither finished nor failed: ``rejected`` (a limit or a
    duplicate, before training), ``interrupted`` (its search stopped: re-queued, or RUNNING in a
    study no search holds -- killed), ``running`` (a search trains it now) or ``waiting``."""
    reason = str(c.failure_reason or "")
    if c.state == "PRUNED":
        if reason.startswith("interrupted"):
            return reason
        return "rejected: " + (reason[len("rejected: ") :] if reason.startswith("rejected: ") else reason or "pruned")
    if c.state == "RUNNING":
        return (
            "running: a search trains it now"
            if live
            else "interrupted: its search stopped (killed?) before it finished; the next search of this study "
            "trains it again"
        )
    return "waiting: queued for the next run of the search"


def _left_out(results: StudyResults, live: bool) -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
    """(failures, screened out, unfinished): trial number -> why, for trials not finished
    (``live``: a search holds the study, so a RUNNING trial is training, not interrupted)."""
    finished = {c.number for c in results.finished()}
    failures, screened, unfinished = {}, {}, {}
    for c in results.candidates:
        if c.number in finished:
            continue
        highest = c.highest_rung
        failed_above = c.failure_at(highest + 1 if highest is not None else 0)
        if c.state == "FAIL" or failed_above:
            failures[c.number] = failed_above or str(c.failure_reason or "failed")
        elif c.state == "COMPLETE" and highest is not None and highest < results.top_rung:
            screened[c.number] = f"screened out after rung {highest} (PSNR {c.psnr(highest):.2f} dB there)"
        else:
            unfinished[c.number] = _unfinished(c, live)
    return failures, screened, unfinished


def top_rung_of(settings: dict[str, Any]) -> int:
    """The top rung of the fidelity a study was created with (0 for older studies)."""
    from roadmap.evaluation.fidelity import Fidelity
    from roadmap.search.rung_plan import RungPlan

    fidelity = settings.get("fidelity")
    return RungPlan.of_fidelity(Fidelity.from_dict(fidelity)).top_rung if isinstance(fidelity, dict) else 0


def study_noise_prior(settings: dict[str, Any], task: Task):
    """The noise prior (`roadmap.evaluation.fidelity.noise_prior`) of a study's fidelity and
    task; None for a fidelity stored as a preset name (an older study: what the name meant
    then is unknown) or one the prior was not measured at."""
    from roadmap.evaluation.fidelity import Fidelity, noise_prior

    fidelity = settings.get("fidelity")
    if not isinstance(fidelity, dict):
        return None
    try:
        return noise_prior(Fidelity.from_dict(fidelity), task.name)
    except (RoadmapError, TypeError, ValueError):
        return None


def load_study_dir(directory: str | Path, *, allow_empty: bool = False) -> StudyReview:
    """Load the finished trials of the study in ``directory`` (``allow_empty``: also a study
    where no trial finished, e.g. to list why they failed).

    Raises:
        RoadmapError: the directory or its ``study.db`` does not exist, the storage has no
            ``roadmap`` study, or no trial finished (unless ``allow_empty``).
    """
    from roadmap.search.settings_file import read_settings, study_task
    from roadmap.search.study import open_study
    from roadmap.search.study_lock import is_locked

    directory = Path(directory)
    if not directory.is_dir():
        raise RoadmapError(f"study directory {directory} does not exist")
    study = open_study(directory)
    settings = read_settings(directory) or {}
    task = study_task(settings, directory)  # a damaged entry fails here, before the study is read
    results = study_results(study, top_rung_of(settings), settings.get("min_psnr"), study_noise_prior(settings, task))
    records = [_record(c, results) for c in results.finished()]
    failures, screened, unfinished = _left_out(results, live=is_locked(directory))
    if not records and not allow_empty:
        extra = f" ({len(failures)} failed; see `roadmap pareto {directory} --failed`)" if failures else ""
        raise RoadmapError(f"study {directory} has no finished trial{extra}")
    limits = {key: settings.get(key) for key in LIMIT_FLAGS}
    return StudyReview(
        directory,
        records,
        len(failures),
        settings,
        failures,
        unfinished,
        screened,
        [c.number for c in results.front()],
        results.noise,
        results.top_rung,
        task,
        results.input_psnr(),
        {c.number: why for c in results.finished() if (why := _limits_broken(c, results))},
        no_feasible_reason(results, limits),
        [c.number for c in results.no_loss_ranked()],
        study_cost(study, results.candidates, str(settings.get("device") or "cpu")).to_dict(),
    )


def _steps_from_yaml(spec_yaml: str | None) -> list[dict[str, Any]]:
    if not spec_yaml:
        return []
    import yaml

    try:
        data = yaml.safe_load(spec_yaml) or {}
    except yaml.YAMLError:
        return []
    prov = data.get("provenance") or {}
    return list(prov.get("steps") or [])


def _fmt_param(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_fmt_param(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_fmt_param(x)}" for k, x in v.items()) + "}"
    return str(v)


def short_transforms(steps: list[dict[str, Any]]) -> str:
    """``pconv(portion=0.25) > msiam(target_level=2)``; ``-`` for the unchanged seed."""
    if not steps:
        return "-"
    parts = []
    for step in steps:
        params = step.get("params") or {}
        inner = ",".join(f"{k}={_fmt_param(v)}" for k, v in params.items() if v is not None)
        parts.append(f"{step.get('transform', '?')}({inner})")
    return " > ".join(parts)
