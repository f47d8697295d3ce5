"""Adapters: the concrete parts a command plugs into a core that knows only their protocol.

:mod:`.evaluator` holds `RoadmapEvaluator`, the search's `roadmap.search.evaluator.Evaluator`
built on :mod:`roadmap.evaluation`; ``roadmap search`` (`roadmap.cli.search_cmd`) makes it from
the settings and hands it to `roadmap.search.run_search`. An adapter may import the core it
serves and what it wraps; the core imports no adapter (docs/DESIGN.md, "Imports").
"""

from roadmap.adapters.evaluator import RoadmapEvaluator

__all__ = ["RoadmapEvaluator"]
