"""The Pareto summary of a study: front, hypervolume and the table of ``roadmap pareto``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from roadmap.errors import RoadmapError
from roadmap import pareto
from roadmap.review.study import MAXIMIZE, OBJECTIVES, StudyReview, TrialRecord, short_transforms

__all__ = ["ParetoSummary", "pareto_summary", "parse_reference_point", "table_frame", "to_json_dict"]


@dataclass
class ParetoSummary:
    """Everything ``roadmap pareto`` prints."""

    review: StudyReview
    front: list[int]  # trial numbers on the front, by decreasing PSNR
    hypervolume: float  # normalised, see roadmap.pareto
    reference_point: dict[str, float]  # objective units
    ideal_point: dict[str, float]  # objective units

    @property
    def failed(self) -> int:
        return self.review.failed

    def front_trials(self) -> list[TrialRecord]:
        by_number = {t.number: t for t in self.review.trials}
        return [by_number[n] for n in self.front]


def _to_objective_units(loss_point: np.ndarray) -> dict[str, float]:
    signs = np.where(np.asarray(MAXIMIZE), -1.0, 1.0)
    return {name: float(v) for name, v in zip(OBJECTIVES, loss_point * signs)}


def parse_reference_point(text: str | None) -> np.ndarray | None:
    """``"PSNR,LATENCY_MS,MEMORY_MB"`` -> reference point in loss form (None stays None)."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        psnr, lat, mem_mb = (float(p) for p in parts)
    except ValueError:
        raise RoadmapError(
            f"--hv-ref: expected PSNR,LATENCY_MS,MEMORY_MB (three numbers), got {text!r}"
        ) from None
    return np.array([-psnr, lat, mem_mb * 2**20])


def pareto_summary(review: StudyReview, ref: np.ndarray | None = None) -> ParetoSummary:
    """Front (non-dominated finished trials) and normalised hypervolume of ``review``.

    Args:
        review: the loaded study.
        ref: hypervolume reference point in loss form (``-psnr, latency_ms, bytes``); default
            nadir + 10 % of the range (:func:`roadmap.pareto.reference_point`).
    """
    feasible = review.feasible()
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


def table_frame(summary: ParetoSummary, *, all_trials: bool = False):
    """The ``roadmap pareto`` table as a pandas DataFrame.

    Rows: the front (by decreasing PSNR), then the reference points that are not on it (and
    every other finished trial when ``all_trials``). Columns ``front`` (``*`` on the front)
    and ``reference`` mark them.
    """
    import pandas as pd

    on_front = set(summary.front)
    rows = list(summary.front_trials())
    rest = [t for t in summary.review.trials if t.number not in on_front and (all_trials or t.reference)]
    rows += sorted(rest, key=lambda t: -t.psnr)
    records = []
    for t in rows:
        records.append(
            {
                "trial": t.number,
                "front": "*" if t.number in on_front else "",
                "reference": t.reference or "",
                "psnr": t.psnr,
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
    for col in ("params", "macs"):
        frame[col] = frame[col].astype("Int64")
    return frame


def to_json_dict(summary: ParetoSummary) -> dict[str, Any]:
    """``{"trials", "front", "hypervolume", "hypervolume_reference_point", "failed"}``.

    ``trials`` holds every finished trial, ``front`` the numbers of the non-dominated ones.
    """
    return {
        "trials": [t.to_dict() for t in summary.review.trials],
        "front": list(summary.front),
        "hypervolume": summary.hypervolume,
        "hypervolume_reference_point": summary.reference_point,
        "hypervolume_ideal_point": summary.ideal_point,
        "failed": summary.failed,
    }
