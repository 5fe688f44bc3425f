"""Fixtures of the mutant tests: grading a mutant into a temporary folder."""

from collections.abc import Callable
from pathlib import Path

import pytest

from grader.engine.results import GradeResult
from grader.grading.grade import grade
from grader.grading.session import GradeConfig
from grader.instructor.catalogue import Mutant
from tests.conftest import FLAGSHIP


@pytest.fixture
def grade_mutant(tmp_path: Path) -> Callable[[Mutant, GradeConfig], GradeResult]:
    def run(mutant: Mutant, config: GradeConfig) -> GradeResult:
        submission = mutant.write(FLAGSHIP, tmp_path / "submission")
        return grade(FLAGSHIP, submission, tmp_path / "out", config)

    return run
