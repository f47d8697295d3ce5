"""Choosing one trial of a study: ``--pick knee|fastest-no-loss|max-psnr|min-latency|min-memory|trial:N``.

PSNR is a trial's mean over its runs at the study's top rung (see :mod:`roadmap.review.study`).
Limits (``--max-latency-ms``, ``--max-memory-mb``; MB = 2**20 bytes of measured peak memory)
first remove the trials that exceed them. Then:

- ``knee``: the knee of the remaining trials' Pareto front -- the front point closest to the
  ideal point once each objective is normalised over the front to [0, 1] (see
  :func:`roadmap.pareto.knee_index`);
- ``fastest-no-loss``: the fastest trial that ties with or beats the seed in PSNR beyond the
  noise, uses no more memory and is faster than the seed
  (`roadmap.search.results.StudyResults.no_loss_ranked`); when none qualifies,
  :class:`NoQualifyingTrial`;
- ``max-psnr`` / ``min-latency`` / ``min-memory``: the best trial in that objective, ties
  broken by the other objectives (PSNR, then latency, then memory), then the trial number;
- ``trial:N``: trial N, which must be finished and within the limits.
"""

from __future__ import annotations

import re

from roadmap import pareto
from roadmap.errors import RoadmapError
from roadmap.review.study import MAXIMIZE, StudyReview, TrialRecord

__all__ = ["PICKS", "NoQualifyingTrial", "parse_pick", "pick_trial", "within_limits"]

PICKS = ("knee", "fastest-no-loss", "max-psnr", "min-latency", "min-memory")


class NoQualifyingTrial(RoadmapError):
    """A pick that no trial of the study satisfies (``fastest-no-loss``): an answer about the
    study, not an error in the request (``roadmap export`` says so and exits 1)."""


_TRIAL_RE = re.compile(r"^trial:(\d+)$")


def parse_pick(text: str) -> str | int:
    """A pick name, or the trial number of ``trial:N``."""
    if text in PICKS:
        return text
    m = _TRIAL_RE.match(text)
    if m:
        return int(m.group(1))
    raise RoadmapError(f"--pick: expected one of {', '.join(PICKS)} or trial:N, got {text!r}")


def within_limits(t: TrialRecord, max_latency_ms: float | None, max_memory_mb: float | None) -> bool:
    """Whether ``t``'s measured latency and memory are within the limits (None: no limit)."""
    if max_latency_ms is not None and t.latency_ms > max_latency_ms:
        return False
    return not (max_memory_mb is not None and t.memory_mb > max_memory_mb)


def _limits_text(max_latency_ms: float | None, max_memory_mb: float | None) -> str:
    parts = []
    if max_latency_ms is not None:
        parts.append(f"--max-latency-ms {max_latency_ms:g}")
    if max_memory_mb is not None:
        parts.append(f"--max-memory-mb {max_memory_mb:g}")
    return " and ".join(parts)


def _no_feasible_text(review: StudyReview) -> str:
    """The refusal of a pick in a study where every finished trial breaks a limit: why, and how
    to export one of them anyway (by number, which names the trial chosen)."""
    from roadmap.review.study import _ranges
    from roadmap.review.summary import no_feasible_line

    return (
        f"study {review.directory}: {no_feasible_line(review)}; nothing to pick from. To export a trial "
        f"anyway, name it: --pick trial:N (finished: {_ranges([t.number for t in review.trials])})"
    )


def pick_trial(
    review: StudyReview,
    pick: str | int,
    *,
    max_latency_ms: float | None = None,
    max_memory_mb: float | None = None,
) -> TrialRecord:
    """The trial chosen by ``pick`` (a name of :data:`PICKS` or a trial number).

    Raises:
        RoadmapError: an unknown pick, a trial number that is not a finished trial, or no
            trial within the limits.
    """
    if isinstance(pick, str) and pick not in PICKS:
        pick = parse_pick(pick)
    if isinstance(pick, int):
        t = review.trial(pick)
        if not within_limits(t, max_latency_ms, max_memory_mb):
            raise RoadmapError(
                f"trial {t.number} ({t.latency_ms:.3g} ms, {t.memory_mb:.3g} MB) does not satisfy "
                f"{_limits_text(max_latency_ms, max_memory_mb)}"
            )
        return t
    if not review.feasible():
        raise RoadmapError(_no_feasible_text(review))
    pool = [t for t in review.feasible() if within_limits(t, max_latency_ms, max_memory_mb)]
    if not pool:
        best_lat = min(t.latency_ms for t in review.feasible())
        best_mem = min(t.memory_mb for t in review.feasible())
        raise RoadmapError(
            f"no feasible trial satisfies {_limits_text(max_latency_ms, max_memory_mb)} "
            f"(fastest {best_lat:.3g} ms, smallest {best_mem:.3g} MB)"
        )
    if pick == "fastest-no-loss":
        return _fastest_no_loss(review, pool, _limits_text(max_latency_ms, max_memory_mb))
    if pick == "knee":
        from roadmap.pareto import to_loss

        loss = to_loss([t.values for t in pool], MAXIMIZE)
        return pool[pareto.knee_index(loss)]
    keys = {
        "max-psnr": lambda t: (-t.psnr, t.latency_ms, t.peak_memory_measured_bytes, t.number),
        "min-latency": lambda t: (t.latency_ms, -t.psnr, t.peak_memory_measured_bytes, t.number),
        "min-memory": lambda t: (t.peak_memory_measured_bytes, -t.psnr, t.latency_ms, t.number),
    }
    return min(pool, key=keys[pick])


def _fastest_no_loss(review: StudyReview, pool: list[TrialRecord], limits: str) -> TrialRecord:
    """The first of ``review.no_loss`` within the limits (``pool``), else why none qualifies."""
    from roadmap.review.summary import why_no_loss

    allowed = {t.number for t in pool}
    chosen = next((n for n in review.no_loss if n in allowed), None)
    if chosen is not None:
        return review.trial(chosen)
    why = f"the trials that lose nothing against the seed break {limits}" if review.no_loss else why_no_loss(review)
    raise NoQualifyingTrial(
        f"study {review.directory}: no trial qualifies for --pick fastest-no-loss: {why}; "
        "--pick knee names the knee of the front"
    )
