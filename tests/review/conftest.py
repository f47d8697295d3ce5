"""Fixtures of the review tests: one synthetic study shared by the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.review.review_studies import write_study


@pytest.fixture(scope="session")
def study_dir(tmp_path_factory) -> Path:
    return write_study(tmp_path_factory.mktemp("study") / "nafnet-w16")


@pytest.fixture(scope="session")
def review(study_dir):
    from roadmap.review.study import load_study_dir

    return load_study_dir(study_dir)


@pytest.fixture(scope="session")
def rung_study_dir(tmp_path_factory) -> Path:
    """A study with two rungs (2 and 6 iterations): one candidate screened out at rung 0, one
    failed at rung 1 (see review_studies.RUNG_TRIALS)."""
    from tests.review.review_studies import RUNG_TRIALS

    return write_study(tmp_path_factory.mktemp("rungs") / "nafnet-w16", RUNG_TRIALS, with_files=False, rungs=(2, 6))
