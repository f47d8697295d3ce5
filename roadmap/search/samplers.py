"""The Optuna samplers ``--sampler`` names (public Optuna API only), registered by name.

Each entry is a function ``(seed, population_size) -> optuna.samplers.BaseSampler``; the
registration order is the order ``--sampler`` lists them. A new sampler is one registered
function (its test is parametrised over `SAMPLERS`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from roadmap.errors import RoadmapError
from roadmap.registry import Registry

__all__ = ["SAMPLERS", "make_sampler"]


def _unknown_sampler(name: str, known: tuple[str, ...]) -> RoadmapError:
    return RoadmapError(f"--sampler: unknown sampler {name!r} (choose from {', '.join(known)})")


SAMPLERS: Registry[Callable[[int, int], Any]] = Registry("sampler", _unknown_sampler)


@SAMPLERS.register("tpe")
def _tpe(seed: int, population_size: int) -> Any:
    """Multivariate, grouped TPE after ``population_size`` random start-up trials."""
    import optuna

    with warnings.catch_warnings():  # multivariate / group are "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=population_size)


@SAMPLERS.register("nsga2")
def _nsga2(seed: int, population_size: int) -> Any:
    """NSGA-II with a population of ``population_size``."""
    import optuna

    return optuna.samplers.NSGAIISampler(population_size=population_size, seed=seed)


@SAMPLERS.register("random")
def _random(seed: int, population_size: int) -> Any:
    """Independent uniform draws (``population_size`` is not used)."""
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def make_sampler(name: str, seed: int, population_size: int) -> Any:
    """The sampler registered as ``name`` (``tpe``, ``nsga2``, ``random``), seeded with ``seed``;
    `RoadmapError` naming the known ones for another name."""
    return SAMPLERS.lookup(name)(seed, population_size)
