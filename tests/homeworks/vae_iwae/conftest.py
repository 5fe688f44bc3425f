"""Fixtures of vae-iwae's tests: grading a submission on the IWAE bound's checks alone, with fixed check inputs.

The bound's checks (section 6) are the only ones a mistake in negative_iwae_bound can reach, and the grader's
inputs (pretrained weights, batches, noise) are built once per check seed: with one fixed seed for every
grading of these tests, the cases are built once and each mutant costs a worker and seven calls, about 5 s.
"""

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader.engine.homework import Homework, load_homework
from grader.engine.results import GradeResult
from grader.grading.grade import grade
from grader.grading.session import GradeConfig
from grader.instructor.catalogue import Mutant
from tests.homeworks.unit_grading import fix_check_inputs, one_torch_thread

IWAE = load_homework("vae-iwae")
BOUND_SECTION = next(function.section for function in IWAE.functions if function.name == "negative_iwae_bound")
BOUND_CHECK_FILE = "test_negative_iwae_bound.py"
FIXED_DIGEST = "vae-iwae tests: one set of check inputs for every grading"
UNIT_ONLY = GradeConfig(training=False, threads=1)


def bound_checks_only(homework: Homework) -> Homework:
    """The homework with only the IWAE bound's check file and points (the same folder, functions and reference)."""
    return dataclasses.replace(
        homework, unit_checks=(BOUND_CHECK_FILE,), training_checks=(),
        points={number: points for number, points in homework.points.items()
                if number.split(".")[0] == BOUND_SECTION})


IWAE_BOUND_ONLY = bound_checks_only(IWAE)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The trusted computations these tests run in-process on one thread, as a grading on Gradescope does (on a
    shared machine, more threads than free cores slow small models down many times)."""
    with one_torch_thread():
        yield


@pytest.fixture
def fixed_check_inputs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every grading draws the same check inputs (the seeds of one digest), whatever its files."""
    fix_check_inputs(monkeypatch, FIXED_DIGEST)
    yield


@pytest.fixture
def grade_bound(tmp_path: Path, fixed_check_inputs: None) -> Callable[[Mutant], GradeResult]:
    """grade_bound(mutant): the mutant graded on the IWAE bound's checks only."""

    def run(mutant: Mutant) -> GradeResult:
        submission = mutant.write(IWAE, tmp_path / "submission")
        return grade(IWAE_BOUND_ONLY, submission, tmp_path / "out", UNIT_ONLY)

    return run
