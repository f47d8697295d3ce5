"""The Pareto summary of a study: front, hypervolume, noise floor and ``roadmap pareto``'s
table / JSON.

PSNR is a mean over random seeds at the study's top rung with a noise band (see
:mod:`roadmap.search.results`): the table shows ``30.01 ±0.08`` (the 95 % band of the mean)
and judges each trial against the seed beyond the noise (``better`` / ``tie`` / ``worse`` in
PSNR; ``dominates`` / ``trade-off`` / ``tie`` / ``dominated`` overall), with the verdicts that
:mod:`roadmap.search.results` computes, so the search, the table, the report and the export say
the same thing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from roadmap import pareto
from roadmap.errors import RoadmapError
from roadmap.review.study import MAXIMIZE, OBJECTIVES, StudyReview, TrialRecord, short_transforms
from roadmap.search.results import describe_versus_seed

if TYPE_CHECKING:
    from roadmap.evaluation.fidelity import Fidelity

__all__ = [
    "ParetoSummary",
    "pareto_summary",
    "parse_reference_point",
    "table_frame",
    "display_frame",
    "to_json_dict",
    "top_rung_iterations",
    "rung_text",
    "noise_line",
    "recommendations",
    "recommendations_line",
    "why_no_loss",
    "versus_seed_text",
    "left_out_line",
    "psnr_text",
    "baseline_line",
    "unfinished_kind",
    "unfinished_counts",
    "no_feasible_line",
    "cost_lines",
]


@dataclass
class ParetoSummary:
    """Everything ``roadmap pareto`` prints."""

    review: StudyReview
    front: list[int]  # trial numbers on the front, by decreasing PSNR
    hypervolume: float | None  # normalised, see roadmap.pareto; None without a feasible trial
    reference_point: dict[str, float] | None  # objective units
    ideal_point: dict[str, float] | None  # objective units

    @property
    def failed(self) -> int:
        return self.review.failed

    def front_trials(self) -> list[TrialRecord]:
        """The front's trial records, by decreasing PSNR."""
        by_number = {t.number: t for t in self.review.trials}
        return [by_number[n] for n in self.front]


def _to_objective_units(loss_point: np.ndarray) -> dict[str, float]:
    signs = np.where(np.asarray(MAXIMIZE), -1.0, 1.0)
    return {name: float(v) for name, v in zip(OBJECTIVES, loss_point * signs, strict=False)}


def parse_reference_point(text: str | None) -> np.ndarray | None:
    """``"PSNR,LATENCY_MS,MEMORY_MB"`` -> reference point in loss form (None stays None);
    three finite numbers (``nan`` and ``inf`` would make every hypervolume 0 or NaN)."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        psnr, lat, mem_mb = (float(p) for p in parts)
    except ValueError:
        raise RoadmapError(f"--hv-ref: expected PSNR,LATENCY_MS,MEMORY_MB (three numbers), got {text!r}") from None
    bad = [
        name
        for name, v in zip(("PSNR", "LATENCY_MS", "MEMORY_MB"), (psnr, lat, mem_mb), strict=False)
        if not math.isfinite(v)
    ]
    if bad:
        raise RoadmapError(f"--hv-ref: {', '.join(bad)} must be a finite number, got {text!r}")
    return np.array([-psnr, lat, mem_mb * 2**20])


def pareto_summary(review: StudyReview, ref: np.ndarray | None = None) -> ParetoSummary:
    """Front (the study's non-dominated feasible trials at the top rung) and the normalised
    hypervolume of the feasible trials.

    Args:
        review: the loaded study.
        ref: hypervolume reference point in loss form (``-psnr, latency_ms, bytes``); default
            nadir + 10 % of the range (:func:`roadmap.pareto.reference_point`).
    """
    feasible = review.feasible()
    if not feasible:  # a normal outcome (every trial breaks a limit): nothing to measure a volume of
        return ParetoSummary(review, [], None, None, None)
    loss = review.loss(feasible)
    if ref is not None:
        ideal = pareto.ideal_point(loss)
        worse = np.flatnonzero(np.asarray(ref) <= ideal)
        if worse.size:
            j = int(worse[0])
            raise RoadmapError(
                f"--hv-ref: the {OBJECTIVES[j]} reference must be worse than every trial's best "
                f"({_to_objective_units(ideal)[OBJECTIVES[j]]:g})"
            )
    hv = pareto.hypervolume(loss, ref)
    front = [t for t in review.trials if t.number in set(review.front_numbers)]
    front.sort(key=lambda t: (-t.psnr, t.latency_ms, t.peak_memory_measured_bytes, t.number))
    return ParetoSummary(
        review,
        [t.number for t in front],
        hv.value,
        _to_objective_units(hv.reference_point),
        _to_objective_units(hv.ideal_point),
    )


def top_rung_iterations(review: StudyReview) -> int | None:
    """Training iterations (cumulative) of the study's top rung, where the front is declared;
    None when the study does not record them. Screens as the top rung count the seed's base
    training their weights start from."""
    fid = _study_fidelity(review)
    if fid is not None:
        from roadmap.search.rung_plan import RungPlan

        plan = RungPlan.of_fidelity(fid)
        return plan.trained_iterations(plan.top_rung)
    # An older study names a preset whose meaning may have changed since: trust what the
    # trials recorded (their first rung is the top rung there).
    iterations = review.trials[0].metrics.get("iterations") if review.top_rung == 0 else None
    return iterations if isinstance(iterations, int) else None


def _study_fidelity(review: StudyReview) -> Fidelity | None:
    """The fidelity a study stored as a dict of fields; None for an older study (a preset name)."""
    from roadmap.evaluation.fidelity import Fidelity

    fidelity = review.settings.get("fidelity")
    if not isinstance(fidelity, dict):
        return None
    try:
        return Fidelity.from_dict(fidelity)
    except (RoadmapError, TypeError, ValueError, IndexError):
        return None


def _versus(t: TrialRecord, key: str) -> dict[str, Any]:
    return (t.versus_seed or {}).get(key) or {}


def _rows(summary: ParetoSummary, all_trials: bool) -> list[TrialRecord]:
    """The front, then the reference points off it; every finished trial with ``all_trials``
    or when nothing is on the front (no feasible trial: the table says what there is)."""
    on_front = set(summary.front)
    rows = list(summary.front_trials())
    every = all_trials or not summary.front
    rest = [t for t in summary.review.trials if t.number not in on_front and (every or t.reference)]
    return rows + sorted(rest, key=lambda t: -t.psnr)


def table_frame(summary: ParetoSummary, *, all_trials: bool = False):
    """The ``roadmap pareto`` table as a pandas DataFrame of plain numbers (what ``--csv``
    writes; :func:`display_frame` turns it into the terminal / report table).

    Rows: the front (by decreasing PSNR), then the reference points that are not on it (and
    every other finished trial when ``all_trials`` or the front is empty); ``front`` is ``*``
    on the front, ``x`` for a trial over a limit of the study. ``psnr`` is the mean over ``psnr_runs``
    runs at the top rung, ``psnr_band_db`` the half-width of its 95 % band; ``vs_seed_psnr_db``
    is the difference to the seed, ``vs_seed_psnr`` its verdict (better / tie / worse /
    unknown) inside ``vs_seed_psnr_band_db``, ``vs_seed`` the overall verdict; ``input_psnr``
    the degraded input's PSNR (the baseline). No test PSNR: nothing is chosen by the test split.
    """
    import pandas as pd

    on_front = set(summary.front)
    records = []
    for t in _rows(summary, all_trials):
        psnr_vs = _versus(t, "psnr")
        records.append(
            {
                "trial": t.number,
                "front": _front_mark(t.number, on_front, summary.review),
                "reference": t.reference or "",
                "psnr": t.psnr,
                "psnr_band_db": t.psnr_band,
                "psnr_runs": len(t.psnr_runs) or 1,
                "input_psnr": t.input_psnr,
                "vs_seed_psnr_db": psnr_vs.get("delta"),
                "vs_seed_psnr_band_db": psnr_vs.get("band"),
                "vs_seed_psnr": psnr_vs.get("verdict", ""),
                "vs_seed": (t.versus_seed or {}).get("overall", ""),
                "ssim": t.ssim,
                "latency_ms": t.latency_ms,
                "memory_mb": t.memory_mb,
                "pred_memory_mb": None
                if t.peak_memory_predicted_bytes is None
                else t.peak_memory_predicted_bytes / 2**20,
                "params": t.params,
                "macs": t.macs,
                "transforms": short_transforms(t.transforms),
            }
        )
    frame = pd.DataFrame.from_records(records)
    for col in ("params", "macs", "psnr_runs"):
        frame[col] = frame[col].astype("Int64")
    for col in ("psnr_band_db", "vs_seed_psnr_db", "vs_seed_psnr_band_db", "input_psnr"):
        frame[col] = frame[col].astype(float)
    return frame


def _front_mark(number: int, on_front: set[int], review: StudyReview) -> str:
    """``*`` on the front, ``x`` over a limit of the study (infeasible), else empty."""
    return "*" if number in on_front else ("x" if number in review.infeasible else "")


def _missing(v: Any) -> bool:
    return v is None or str(v) in ("<NA>", "nan", "None") or (isinstance(v, float) and math.isnan(v))


def _psnr_cell(psnr: float, band: Any, runs: Any) -> str:
    text = f"{psnr:.2f}" + ("" if _missing(band) else f" ±{band:.2f}")
    return text + (f" n={int(runs)}" if not _missing(runs) and int(runs) > 1 else "")


def _versus_cell(row: Any) -> str:
    if row["reference"] == "seed" or _missing(row["vs_seed_psnr_db"]):
        return "-"  # the seed itself, or no seed to compare with
    verdict = row["vs_seed_psnr"] if row["vs_seed_psnr"] != "unknown" else "?"
    return f"{row['vs_seed_psnr_db']:+.2f} {verdict}"


def display_frame(frame, input_psnr: float | None = None):
    """:func:`table_frame` for people: ``psnr`` as ``30.01 ±0.08 n=2`` (band of the mean, run
    count where more than one), ``vs seed`` as ``-0.05 tie`` and the overall verdict against
    the seed; the band and verdict columns are folded into those. ``input_psnr``: the study's
    one baseline (`StudyReview.input_psnr`), which the header shows (:func:`baseline_line`), so
    the column goes; it stays when the trials' baselines differ."""
    out = frame.copy()
    if input_psnr is not None or out["input_psnr"].isna().all():
        out = out.drop(columns=["input_psnr"])
    out["psnr"] = [
        _psnr_cell(p, b, n) for p, b, n in zip(frame["psnr"], frame["psnr_band_db"], frame["psnr_runs"], strict=False)
    ]
    out["vs seed"] = [_versus_cell(row) for _, row in frame.iterrows()]
    out["overall"] = [
        ("-" if r == "seed" else (v or "-")) for r, v in zip(frame["reference"], frame["vs_seed"], strict=False)
    ]
    out = out.drop(
        columns=["psnr_band_db", "psnr_runs", "vs_seed_psnr_db", "vs_seed_psnr_band_db", "vs_seed_psnr", "vs_seed"]
    )
    out = out.rename(columns={"pred_memory_mb": "pred_memory_mb (this device)"})
    order = ["trial", "front", "reference", "psnr", "vs seed", "overall"]
    return out[order + [c for c in out.columns if c not in order]]


def psnr_text(t: TrialRecord) -> str:
    """``29.60 ±0.26 dB (mean of 2 runs)``; says so when the PSNR rests on one run only."""
    band = "" if t.psnr_band is None else f" ±{t.psnr_band:.2f}"
    runs = len(t.psnr_runs)
    if runs > 1:
        return f"{t.psnr:.2f}{band} dB (mean of {runs} runs)"
    return f"{t.psnr:.2f}{band} dB (one run only: not confirmed with a second random seed)"


def baseline_line(review: StudyReview) -> str:
    """The study's task and its baseline in one line (`roadmap.evaluation.tasks.task_line`):
    ``task denoise (Gaussian noise sigma 25); degraded input PSNR 20.20 dB on the validation
    images (the baseline)``; when the trials' baselines differ, the table's column holds them."""
    from roadmap.evaluation.tasks import task_line

    varies = review.input_psnr is None and any(t.input_psnr is not None for t in review.trials)
    return task_line(review.task, "differs between trials (column input_psnr)" if varies else review.input_psnr)


def versus_seed_text(review: StudyReview, t: TrialRecord) -> str:
    """``t`` against the seed in words, e.g. ``ties with the seed in PSNR (-0.05 dB, within
    ±0.20 dB), is 38 % faster and uses 12 % less memory: it dominates the seed beyond the
    noise``; the verdicts are ``t.versus_seed``'s, and the word "dominates" appears only when
    the overall verdict is ``dominates``."""
    seed = review.reference("seed")
    if t.reference == "seed":
        return "is the seed itself"
    if seed is None or not t.versus_seed:
        return "cannot be compared with the seed: the study has no finished seed trial"
    return describe_versus_seed(t.versus_seed, seed.latency_ms, seed.peak_memory_measured_bytes)


def rung_text(review: StudyReview) -> str:
    """``rung 2 (1350 iterations)``: the top rung, where the front is declared."""
    iterations, fid = top_rung_iterations(review), _study_fidelity(review)
    if fid is not None:
        from roadmap.search.rung_plan import RungPlan

        plan = RungPlan.of_fidelity(fid)
        if plan.front_on_screens:
            base = plan.trained_iterations(plan.base_rung)
            return f"rung 0, {plan.iterations(0)} iterations from the seed trained {base}"
    return f"rung {review.top_rung}" + (f", {iterations} iterations" if iterations else "")


def noise_line(review: StudyReview) -> str:
    """One sentence on the noise floor: sigma, its degrees of freedom and source (the fidelity's
    prior, the study's replicated candidates or both), and the Student-t factor of the bands."""
    noise = review.noise
    if noise.quantile is None:
        return f"noise floor unknown ({noise.source}), so PSNR differences are not judged (verdict '?')"
    return (
        f"noise floor: one run's PSNR sigma {noise.sigma:.3f} dB, {noise.dof} degrees of freedom "
        f"({noise.source}); ± = t sigma/sqrt(n runs) with t = {noise.quantile:.2f} (Student's t, 95 %, "
        f"{noise.dof} dof); a PSNR difference inside t sigma sqrt(1/n_a + 1/n_b) is a tie"
    )


def recommendations(review: StudyReview) -> dict[str, int | None]:
    """``{"knee": n, "fastest_no_loss": m}``: the trial numbers of the two recommendations -- the
    knee of the front, and the fastest trial that ties with or beats the seed in PSNR, uses no
    more memory and is faster (`StudyReview.no_loss`); None where there is none (no feasible
    trial; no trial that loses nothing)."""
    from roadmap.review.select import pick_trial

    knee = pick_trial(review, "knee").number if review.feasible() else None
    return {"knee": knee, "fastest_no_loss": review.no_loss[0] if review.no_loss else None}


def why_no_loss(review: StudyReview) -> str:
    """Why no trial is the fastest-no-loss recommendation, in words."""
    if review.reference("seed") is None:
        return "the study has no finished seed trial to compare with"
    if review.noise.quantile is None:
        return "without a noise estimate a PSNR tie with the seed cannot be told from a loss"
    return (
        "no trial ties with or beats the seed in PSNR beyond the noise, uses no more memory and is faster than the seed"
    )


def _point_text(review: StudyReview, number: int) -> str:
    """``trial 3 (mofa): 29.80 dB, 55 ms (-45 % against the seed), 150 MB``."""
    t = review.trial(number)
    seed = review.reference("seed")
    faster = (
        ""
        if seed is None or not seed.latency_ms
        else f" ({100 * (t.latency_ms / seed.latency_ms - 1):+.0f} % against the seed)"
    )
    name = f"trial {t.number}" + (f" ({t.reference})" if t.reference else "")
    return f"{name}: {t.psnr:.2f} dB, {t.latency_ms:.4g} ms{faster}, {t.memory_mb:.4g} MB"


def recommendations_line(review: StudyReview) -> str:
    """The two recommendations in one line: the knee, and the fastest point that loses
    nothing against the seed (or why there is none)."""
    picks = recommendations(review)
    if picks["knee"] is None:
        return f"recommended: none ({no_feasible_line(review)})"
    if picks["fastest_no_loss"] is None:
        fast = f"fastest with no loss against the seed: none ({why_no_loss(review)})"
    elif picks["fastest_no_loss"] == picks["knee"]:
        fast = "fastest with no loss against the seed: the knee itself"
    else:
        fast = (
            f"fastest with no loss against the seed: {_point_text(review, picks['fastest_no_loss'])} "
            "(export it with --pick fastest-no-loss)"
        )
    return f"recommended: the knee, {_point_text(review, picks['knee'])}; {fast}"


def left_out_line(review: StudyReview) -> str:
    """How many candidates were screened out at lower rungs, failed, broke a limit or did not
    finish (rejected, interrupted, running, waiting)."""
    parts = [
        f"{_count(len(review.screened), 'candidate')} screened out at lower rungs"
        + (f" (not on the front: {_numbers(review.screened)})" if review.screened else ""),
        f"{review.failed} failed" + (f" ({_numbers(review.failures)})" if review.failed else ""),
    ]
    if review.infeasible:
        parts.append(f"{len(review.infeasible)} finished over a limit ({_numbers(review.infeasible)})")
    kinds = unfinished_counts(review)
    if kinds:
        parts.append(", ".join(f"{n} {kind}" for kind, n in kinds.items()) + " (not counted)")
    return "; ".join(parts)


def unfinished_kind(why: str) -> str:
    """The kind of an entry of `StudyReview.unfinished` (``rejected``, ``interrupted``, ...)."""
    return why.partition(":")[0]


def unfinished_counts(review: StudyReview) -> dict[str, int]:
    """``{"rejected": 12, "interrupted": 1}``: the unfinished trials by kind, in that order."""
    from collections import Counter

    counts = Counter(unfinished_kind(why) for why in review.unfinished.values())
    order = ("rejected", "interrupted", "running", "waiting")
    return {kind: counts[kind] for kind in sorted(counts, key=lambda k: ((*order, k)).index(k))}


def no_feasible_line(review: StudyReview) -> str:
    """``no feasible trial: every trial breaks --min-psnr 50 (...)``: why the front is empty."""
    return f"no feasible trial: {review.no_feasible or 'every finished trial breaks a limit of the study'}"


def cost_lines(cost: dict | None) -> list[str]:
    """The study's cost in units that travel (``StudyCost.to_dict``, `roadmap.search.cost`):
    seed trainings of the long preset, steps, seconds of training and wall time, then the
    machine's speed reference (the seed's latency and seconds per training step)."""
    from roadmap.search.progress import format_seconds

    if not cost or not cost.get("trainings"):
        return ["cost: no training recorded"]
    units = cost.get("seed_long_trainings")
    unit = (
        f"{units:.1f} seed trainings of the long preset ({cost['long_iterations']} steps each)"
        if units is not None
        else "n/a seed trainings of the long preset (no seed training timed)"
    )
    parts = []
    if cost.get("cpu_seconds") is not None:  # an older study's trainings did not record it
        covered = "" if cost["cpu_trainings"] == cost["trainings"] else f" over {cost['cpu_trainings']} of them"
        parts.append(f"CPU {cost['cpu_seconds']:,.0f} s{covered}")
    if cost.get("gpu_seconds") is not None:
        parts.append(f"GPU {cost['gpu_seconds']:,.0f} s")
    extra = "; ".join(parts)
    runs = cost.get("runs") or 0
    wall = (
        f"wall {format_seconds(cost['wall_seconds'])} over {_count(runs, 'run')}" if runs else "wall time not recorded"
    )
    latency, per_step = cost.get("seed_latency_ms"), cost.get("seed_seconds_per_iteration")
    return [
        f"cost: {unit}: {_count(cost['trainings'], 'training')}, {cost['steps']:,} steps, "
        f"{cost['train_seconds']:,.0f} s of training{f' ({extra})' if extra else ''}; {wall}",
        f"machine reference ({cost.get('device', 'cpu')}): seed latency "
        f"{'n/a' if latency is None else f'{latency:.1f} ms'}, seed training "
        f"{'n/a' if per_step is None else f'{per_step:.4g} s'} per step",
    ]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _numbers(reasons: dict[int, str], limit: int = 12) -> str:
    """``trial 4`` / ``trials 2, 5, 7`` (the first ``limit``, then how many more)."""
    numbers = sorted(reasons)
    shown = ", ".join(str(n) for n in numbers[:limit])
    more = f", ... {len(numbers) - limit} more" if len(numbers) > limit else ""
    return f"trial{'' if len(numbers) == 1 else 's'} {shown}{more}"


def to_json_dict(summary: ParetoSummary) -> dict[str, Any]:
    """``{"task", "input_psnr", "trials", "front", "hypervolume", "hypervolume_reference_point",
    "hypervolume_ideal_point", "failed", "failures", "screened_out", "unfinished", "infeasible",
    "no_feasible", "noise", "recommendations",
    "top_rung", "top_rung_iterations", "cost"}``.

    ``task`` is the study's task (`Task.to_dict`), ``input_psnr`` the degraded input's PSNR
    when every trial shares it (else None; each trial has its own ``input_psnr``).

    ``infeasible`` maps the finished trials over a limit to the limits they break; when no
    trial is feasible, ``no_feasible`` says why and ``front`` is empty, ``hypervolume`` and its
    points null.

    ``trials`` holds every finished trial (with ``psnr_runs``, ``psnr_band_db``,
    ``versus_seed``, ``feasible``), ``front`` the numbers of the non-dominated ones,
    ``screened_out`` / ``failures`` / ``unfinished`` map trial numbers to why they are not
    finished, ``noise`` is the single-run PSNR sigma (``sigma_db``) with its degrees of freedom
    (``dof``), its ``source`` in words and ``kind`` (``prior``, ``study``, ``prior + study``,
    ``none``), ``recommendations`` the knee's and the fastest-no-loss trial's numbers (or null),
    ``cost`` the study's training cost (`roadmap.search.cost.StudyCost.to_dict`).
    """
    review = summary.review
    return {
        "task": review.task.to_dict(),
        "input_psnr": review.input_psnr,
        "trials": [t.to_dict() for t in review.trials],
        "front": list(summary.front),
        "hypervolume": summary.hypervolume,
        "hypervolume_reference_point": summary.reference_point,
        "hypervolume_ideal_point": summary.ideal_point,
        "failed": summary.failed,
        "failures": {str(n): r for n, r in sorted(review.failures.items())},
        "screened_out": {str(n): r for n, r in sorted(review.screened.items())},
        "unfinished": {str(n): r for n, r in sorted(review.unfinished.items())},
        "infeasible": {str(n): r for n, r in sorted(review.infeasible.items())},
        "no_feasible": review.no_feasible,
        "noise": review.noise.to_dict(),
        "recommendations": recommendations(review),
        "top_rung": review.top_rung,
        "top_rung_iterations": top_rung_iterations(review),
        "cost": review.cost,
    }
