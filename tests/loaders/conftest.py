"""Fixtures of the loader tests (helpers: loader_corpus.py, loader_mutations.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder for the generated files (module scope: hypothesis runs many examples per test)."""
    return tmp_path_factory.mktemp("loaders")
