"""Fixtures every homework's checks use (a pytest plugin the grader loads): the grading session, the lines and
images a check shows the student, and the fraction of its points a check earns."""

from collections.abc import Callable

import pytest

from grader.grading.collector import FRACTION, IMAGES, NOTES, SESSION
from grader.grading.session import GradingSession


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
def attach_image(request: pytest.FixtureRequest) -> Callable[[str, bytes], None]:
    """attach_image(caption, png_bytes): show a PNG (drawn by the trusted side) under the check's name."""
    images: list[tuple[str, bytes]] = []
    request.node.stash[IMAGES] = images

    def attach(caption: str, png: bytes) -> None:
        images.append((caption, png))

    return attach


@pytest.fixture
def earn(request: pytest.FixtureRequest) -> Callable[[float], None]:
    """earn(fraction): the check earns this fraction (0 to 1) of its declared points, passed or failed; a check
    that never calls it earns all of them when it passes and none when it fails."""

    def set_fraction(fraction: float) -> None:
        request.node.stash[FRACTION] = min(1.0, max(0.0, float(fraction)))

    return set_fraction
