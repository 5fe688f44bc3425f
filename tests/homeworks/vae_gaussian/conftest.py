"""Fixtures of vae-gaussian's tests: grading a submission on part B's unit checks alone (sections 6 and 7), with
fixed check inputs, so that the cases are built once and each grading costs a worker and a few calls."""

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from grader.engine.check_inputs import DEVELOPMENT_SECRET, check_seed
from grader.engine.homework import Homework, load_homework
from grader.engine.results import GradeResult
from grader.grading.grade import grade
from grader.grading.session import GradeConfig, GradingSession
from grader.instructor.catalogue import Mutant

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
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def grade_part_b(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Mutant], GradeResult]:
    """grade_part_b(mutant): the mutant graded on sections 6 and 7 only, with the same check inputs as every other."""
    monkeypatch.setattr(GradingSession, "check_seed",
                        lambda self, label: check_seed(DEVELOPMENT_SECRET, FIXED_DIGEST, label))

    def run(mutant: Mutant) -> GradeResult:
        submission = mutant.write(GAUSSIAN, tmp_path / mutant.id)
        return grade(PART_B_ONLY, submission, tmp_path / f"{mutant.id}-out", UNIT_ONLY)

    return run
