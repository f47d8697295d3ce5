"""Multi-objective, multi-fidelity search over a seed's transformations (``roadmap search``).

``run_search(resolve_settings(options, study_dir, stored), evaluator)`` does the work. Modules:
:mod:`.settings` (typed settings), :mod:`.space` (search-space YAML: parsed in ``.schema``,
checked against the seed in ``.check``), :mod:`.sampling` (``suggest``), :mod:`.samplers`
(Optuna samplers, by name), :mod:`.evaluator` (the `Evaluator` protocol, all the search knows
of how a candidate is measured -- ``roadmap search`` passes
`roadmap.adapters.evaluator.RoadmapEvaluator` -- and the `TrainJob` that crosses to workers),
:mod:`.rung_plan` (which rungs, what each trains), :mod:`.candidates` (trial -> measured
candidate), :mod:`.scheduler` (explore, promote, replicate), :mod:`.executors` /
:mod:`.ray_backend` (who trains; the latter is the only module importing Ray), :mod:`.study`
(the study directory), :mod:`.results` (what a study found: front, noise, verdicts),
:mod:`.progress`, :mod:`.engine` (``run_search``), :mod:`.testing` (a fake evaluator).
"""

from roadmap.search.engine import SearchSummary, run_search
from roadmap.search.evaluator import Evaluator, TrainJob
from roadmap.search.sampling import suggest
from roadmap.search.settings import SearchSettings, resolve_settings
from roadmap.search.space import SearchSpace, default_space_path, load_space
from roadmap.search.study import open_study

__all__ = [
    "run_search",
    "SearchSummary",
    "SearchSettings",
    "resolve_settings",
    "Evaluator",
    "TrainJob",
    "SearchSpace",
    "default_space_path",
    "load_space",
    "suggest",
    "open_study",
]
