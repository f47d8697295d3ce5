"""The Optuna samplers ``--sampler`` names, parametrised over their registry: a new sampler is
tested by registering it."""

from __future__ import annotations

import optuna
import pytest

from roadmap.errors import RoadmapError
from roadmap.search.samplers import SAMPLERS, make_sampler


def draws(name: str, seed: int) -> list[tuple]:
    """The parameters sampler ``name`` draws in six trials of a two-objective study."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(name, seed, 2))
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_int("k", 1, 8)), n_trials=6)
    return [tuple(t.params.values()) for t in study.trials]


@pytest.mark.parametrize("name", SAMPLERS.names())
def test_every_sampler_drives_a_two_objective_study_repeatably(name):
    assert isinstance(make_sampler(name, 0, 2), optuna.samplers.BaseSampler)
    assert draws(name, 3) == draws(name, 3)


def test_an_unknown_sampler_is_one_line_naming_the_known_ones():
    with pytest.raises(RoadmapError) as info:
        make_sampler("cmaes", 0, 10)
    assert str(info.value) == f"--sampler: unknown sampler 'cmaes' (choose from {', '.join(SAMPLERS)})"


def test_the_default_sampler_is_registered():
    from roadmap.search.settings import DEFAULT_SAMPLER

    assert DEFAULT_SAMPLER in SAMPLERS and SAMPLERS.names()[:3] == ("tpe", "nsga2", "random")
