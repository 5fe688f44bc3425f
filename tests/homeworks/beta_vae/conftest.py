"""Fixtures of beta-vae's tests: grading submissions on the unit checks (sections 1 and 2) with fixed check inputs,
two at a time in fresh interpreters, so that a module's gradings cost about half their sum."""

import multiprocessing
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import torch

from grader.engine.check_inputs import DEVELOPMENT_SECRET, check_seed
from grader.engine.homework import load_homework
from grader.engine.results import GradeResult
from grader.grading.grade import grade
from grader.grading.session import GradeConfig, GradingSession
from grader.homeworks.beta_vae import trusted
from grader.instructor.catalogue import Mutant
from tests.homeworks.unit_grading import one_torch_thread

BETA_VAE = load_homework("beta-vae")
FIXED_DIGEST = "beta-vae tests: one set of check inputs for every grading"
UNIT_ONLY = GradeConfig(training=False, threads=1)
QUICK_STEP_TIME_STEPS = 5  # check 1.5's figures are not under test here
PARALLEL_GRADINGS = 2  # the machine's cores; each grading runs one thread


def _grade_in_child(mutant: Mutant, scratch: Path) -> GradeResult:
    """One unit grading, in a spawned interpreter of its own: fixed check inputs, quick step timing, one thread."""
    GradingSession.check_seed = lambda self, label: check_seed(DEVELOPMENT_SECRET, FIXED_DIGEST, label)
    trusted.STEP_TIME_STEPS = QUICK_STEP_TIME_STEPS
    torch.set_num_threads(1)
    submission = mutant.write(BETA_VAE, scratch / mutant.id / "submission")
    return grade(BETA_VAE, submission, scratch / mutant.id / "out", UNIT_ONLY)


def grade_unit_all(mutants: Iterable[Mutant], scratch: Path) -> dict[str, GradeResult]:
    """Each submission graded on the unit checks, PARALLEL_GRADINGS at a time: {id: result}."""
    mutants = list(mutants)
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no torch threads inherited from this one
    with ProcessPoolExecutor(PARALLEL_GRADINGS, mp_context=context) as pool:
        results = pool.map(_grade_in_child, mutants, [scratch] * len(mutants))
        return {mutant.id: result for mutant, result in zip(mutants, results, strict=True)}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The trusted side's in-process work on one torch thread, as on Gradescope; the count restored afterwards."""
    with one_torch_thread():
        yield
