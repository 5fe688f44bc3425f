"""Fixtures of beta-vae's tests: grading a submission on the unit checks (sections 1 and 2) with fixed check inputs,
so that each grading costs a worker and a few calls."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader.engine.homework import load_homework
from grader.engine.results import GradeResult
from grader.grading.grade import grade
from grader.grading.session import GradeConfig
from grader.homeworks.beta_vae import trusted
from grader.instructor.catalogue import Mutant
from tests.homeworks.unit_grading import fix_check_inputs, one_torch_thread

BETA_VAE = load_homework("beta-vae")
FIXED_DIGEST = "beta-vae tests: one set of check inputs for every grading"
UNIT_ONLY = GradeConfig(training=False, threads=1)
QUICK_STEP_TIME_STEPS = 5


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture
def grade_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Mutant], GradeResult]:
    """grade_unit(mutant): the mutant graded on the unit checks, with the same check inputs as every other."""
    fix_check_inputs(monkeypatch, FIXED_DIGEST)
    monkeypatch.setattr(trusted, "STEP_TIME_STEPS", QUICK_STEP_TIME_STEPS)  # check 1.5's figures are not under test

    def run(mutant: Mutant) -> GradeResult:
        submission = mutant.write(BETA_VAE, tmp_path / mutant.id)
        return grade(BETA_VAE, submission, tmp_path / f"{mutant.id}-out", UNIT_ONLY)

    return run
