"""The docstring examples (``>>>``) of roadmap run as doctests, so that they stay true.

The modules are listed rather than collected with ``--doctest-modules``: importing every module
of roadmap would pull in Ray and Optuna for the whole suite; these few import torch at most.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

# Every module whose docstrings hold `>>>` examples (`grep -rn '>>>' roadmap blocks`).
MODULES_WITH_EXAMPLES = [
    "roadmap",
    "roadmap.analysis",
    "roadmap.build",
    "roadmap.spec",
    "roadmap.transforms",
]


@pytest.mark.parametrize("name", MODULES_WITH_EXAMPLES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{name} has no docstring examples left: drop it from the list"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see above)"


def test_every_module_with_examples_is_listed() -> None:
    """A module given a `>>>` example later is run too."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = set()
    for package in ("roadmap", "blocks"):
        for path in (root / package).rglob("*.py"):
            if ">>>" in path.read_text(encoding="utf-8"):
                parts = path.relative_to(root).with_suffix("").parts
                found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert found == set(MODULES_WITH_EXAMPLES)
