"""Multi-objective search over a seed's transformations (``roadmap search``).

Modules: :mod:`.space` (search-space YAML, ``suggest``), :mod:`.study` (study directory,
settings, ``open_study``), :mod:`.driver` (sampler + evaluator + constraints + storage),
:mod:`.jobs` (what a trial runs), :mod:`.ray_backend` (the only module importing Ray),
:mod:`.progress`, :mod:`.hypervolume`, :mod:`.testing` (a fake evaluator).
"""
from roadmap.search.space import SearchSpace, default_space_path, load_space, suggest
from roadmap.search.study import open_study

__all__ = ["SearchSpace", "default_space_path", "load_space", "suggest", "open_study"]
