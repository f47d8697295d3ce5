"""Fixtures of the review tests: one synthetic study shared by the session."""
from __future__ import annotations

from pathlib import Path

import pytest
from review_studies import write_study


@pytest.fixture(scope="session")
def study_dir(tmp_path_factory) -> Path:
    return write_study(tmp_path_factory.mktemp("study") / "nafnet-w16")


@pytest.fixture(scope="session")
def review(study_dir):
    from roadmap.review.study import load_study_dir

    return load_study_dir(study_dir)
