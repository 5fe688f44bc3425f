"""Fixtures of vae-gaussian's tests: grading a submission on part B's unit checks alone (sections 6 and 7), with
fixed check inputs, so that the cases are built once and each grading costs a worker and a few calls."""

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

GAUSSIAN = load_homework("vae-gaussian")
PART_B_FILES = ("test_log_normal.py", "test_gaussian_negative_elbo_bound.py")
PART_B_SECTIONS = ("6", "7")
FIXED_DIGEST = "vae-gaussian tests: one set of check inputs for every grading"
UNIT_ONLY = GradeConfig(training=False, threads=1)


def part_b_unit_checks(homework: Homework) -> Homework:
    """The homework with only part B's unit checks and their points (the same folder, functions and reference)."""
    return dataclasses.replace(
        homework, unit_checks=PART_B_FILES, training_checks=(),
        points={number: points for number, points in homework.points.items()
                if number.split(".")[0] in PART_B_SECTIONS})


PART_B_ONLY = part_b_unit_checks(GAUSSIAN)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture
def grade_part_b(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Mutant], GradeResult]:
    """grade_part_b(mutant): the mutant graded on sections 6 and 7 only, with the same check inputs as every other."""
    fix_check_inputs(monkeypatch, FIXED_DIGEST)

    def run(mutant: Mutant) -> GradeResult:
        submission = mutant.write(GAUSSIAN, tmp_path / mutant.id)
        return grade(PART_B_ONLY, submission, tmp_path / f"{mutant.id}-out", UNIT_ONLY)

    return run
