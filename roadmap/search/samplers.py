"""The Optuna samplers ``--sampler`` names (public Optuna API only)."""
from __future__ import annotations

import warnings

from roadmap.errors import RoadmapError

__all__ = ["make_sampler"]


def make_sampler(name: str, seed: int, population_size: int):
    """``nsga2`` (population ``population_size``), ``tpe`` (multivariate, ``population_size``
    random start-up trials) or ``random``, seeded with ``seed``."""
    import optuna

    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=population_size, seed=seed)
    if name == "tpe":
        with warnings.catch_warnings():  # multivariate / group are "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                              n_startup_trials=population_size)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise RoadmapError(f"--sampler: unknown sampler {name!r} (choose from nsga2, tpe, random)")
