"""Fixtures of the search tests (the helpers are plain functions in ``tests.search.helpers``)."""

from __future__ import annotations

import pytest

from tests.search.helpers import RUNGS3


@pytest.fixture
def rungs3(tmp_path) -> str:
    """Path of a 3-rung fidelity file (eta 3)."""
    path = tmp_path / "rungs3.yaml"
    path.write_text(RUNGS3)
    return str(path)
