"""Fixtures of cvae's tests: grading submissions on the unit checks with fixed check inputs.

The cases of the checks (pretrained weights, batches, the sampler's pixel probabilities) are built once per check
seed in this process: with one fixed seed for every grading of these tests, each grading costs a worker and a few
calls. negative_elbo_bound's checks and sample_x's never call each other's function, so a submission may carry one
mistake in each: ``pairs`` grades the catalogue in about half as many gradings.
"""

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader.engine.homework import load_homework
from grader.engine.results import GradeResult
from grader.grading.grade import grade
from grader.grading.session import GradeConfig
from grader.instructor.catalogue import Mutant, load_catalogue
from tests.homeworks.unit_grading import fix_check_inputs, one_torch_thread

CVAE = load_homework("cvae")
FIXED_DIGEST = "cvae tests: one set of check inputs for every grading"
UNIT_ONLY = GradeConfig(training=False, threads=1)
CATALOGUE = load_catalogue(CVAE)


def section_of(function: str) -> str:
    return next(f.section for f in CVAE.functions if f.name == function)


def pairs(entries: list[Mutant]) -> list[tuple[Mutant, ...]]:
    """The entries grouped one per function: negative_elbo_bound's k-th with sample_x's k-th."""
    by_function = [[m for m in entries if m.function == f.name] for f in CVAE.functions]
    return [tuple(m for m in group if m is not None) for group in itertools.zip_longest(*by_function)]


def combined(group: tuple[Mutant, ...]) -> Mutant:
    """One submission holding every mutant of the group (their edits touch different methods)."""
    return Mutant(id="+".join(m.id for m in group), function=group[0].function,
                  edits=tuple(edit for m in group for edit in m.edits))


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture
def grade_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Mutant], GradeResult]:
    """grade_unit(mutant): the submission graded on the unit checks, with the same check inputs as every other."""
    fix_check_inputs(monkeypatch, FIXED_DIGEST)

    def run(mutant: Mutant) -> GradeResult:
        submission = mutant.write(CVAE, tmp_path / mutant.id[:80])
        return grade(CVAE, submission, tmp_path / f"out-{mutant.id[:80]}", UNIT_ONLY)

    return run
