"""Search spaces: which transforms a search may apply to a seed, and their domains.

Two jobs, one module each: :mod:`.schema` parses and validates a space (the YAML form, the
`Domain` / `StepSpace` / `SearchSpace` dataclasses, loading a file or a shipped space);
:mod:`.check` checks a parsed space against the seed it will search (`check_space`). Both are
imported from here: ``from roadmap.search.space import load_space, check_space``.
"""

from roadmap.search.space.check import check_space
from roadmap.search.space.schema import (
    Domain,
    SearchSpace,
    StepSpace,
    default_space_path,
    is_number,
    load_space,
    parse_space,
)

__all__ = [
    "Domain",
    "StepSpace",
    "SearchSpace",
    "parse_space",
    "load_space",
    "default_space_path",
    "is_number",
    "check_space",
]
