"""Shared fixtures: the embedded data loaded once and a tiny fidelity."""

from __future__ import annotations

import pytest

from roadmap.evaluation.data import load_data
from roadmap.evaluation.fidelity import PRESETS


@pytest.fixture(scope="session")
def smoke():
    return PRESETS["smoke"]


@pytest.fixture(scope="session")
def embedded(smoke):
    """The scikit-image photographs at the smoke fidelity's validation size."""
    return load_data(None, val_crop=smoke.val_crop, val_count=smoke.val_count)
