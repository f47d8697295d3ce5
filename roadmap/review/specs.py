"""From a trial record back to specs: the evaluated spec, its seed, the specs in between."""

from __future__ import annotations

from typing import Any

from roadmap.errors import RoadmapError
from roadmap.review.study import StudyReview, TrialRecord

__all__ = ["spec_of", "seed_name_of", "seed_spec_of", "spec_after_steps"]


def spec_of(trial: TrialRecord):
    """The spec the trial evaluated (its ``spec_yaml`` user attribute)."""
    from roadmap.spec import load_spec

    if not trial.spec_yaml:
        raise RoadmapError(f"trial {trial.number} has no stored spec (user attribute spec_yaml)")
    return load_spec(trial.spec_yaml)


def seed_name_of(spec: Any) -> tuple[str, str | None] | None:
    """``("nafnet", "w16")`` from ``provenance.seed == "nafnet/w16"``; None if absent."""
    seed = (spec.provenance or {}).get("seed")
    if not isinstance(seed, str) or not seed:
        return None
    name, _, variant = seed.partition("/")
    return name, (variant or None)


def seed_spec_of(review: StudyReview, trial: TrialRecord):
    """The seed the trial's transformations start from, or None if it cannot be found.

    The study's ``seed`` reference trial when there is one (what the search started from),
    else the named seed of the trial's ``provenance.seed``.
    """
    seed_trial = review.reference("seed")
    if seed_trial is not None and seed_trial.spec_yaml:
        try:
            return spec_of(seed_trial)
        except RoadmapError:
            pass
    try:
        name = seed_name_of(spec_of(trial))
    except RoadmapError:
        return None
    if name is None:
        return None
    from roadmap.seeds import get_seed

    try:
        return get_seed(*name)
    except RoadmapError:
        return None


def spec_after_steps(seed: Any, steps: list[dict[str, Any]]):
    """``apply_steps(seed, steps)``, or None when a step does not apply."""
    if not steps:
        return seed
    try:
        from roadmap.transforms import apply_steps

        return apply_steps(seed, steps)
    except (RoadmapError, ImportError):
        return None
