"""Fixtures of the checks: the grading session, and the lines and images a check wants the student to see."""

import pytest

from grader.collector import IMAGES, NOTES, SESSION
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


@pytest.fixture
def attach_image(request: pytest.FixtureRequest):  # noqa: ANN201
    """attach_image(caption, png_bytes): show a PNG (already validated by the check) under the check's name."""
    images: list[tuple[str, bytes]] = []
    request.node.stash[IMAGES] = images

    def attach(caption: str, png: bytes) -> None:
        images.append((caption, png))

    return attach
