"""Fixtures of the checks: the grading session, and lines a check wants the student to see."""

import pytest

from grader.collector import NOTES, SESSION
from grader.session import GradingSession


@pytest.fixture(scope="session")
def grading(request: pytest.FixtureRequest) -> GradingSession:
    return request.config.stash[SESSION]


@pytest.fixture
def note(request: pytest.FixtureRequest) -> list[str]:
    """Lines shown to the student under the check's name, whether it passes or fails."""
    notes: list[str] = []
    request.node.stash[NOTES] = notes
    return notes
