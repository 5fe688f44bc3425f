"""Every mutant loses points in the unit check that names its mistake, training-stage ones included (no mistake
of the catalogue survives the unit checks); every correct rewrite keeps all.

Graded with the unit checks only (GradeConfig(training=False)): a few seconds per mutant.
"""

import pytest

from grader.grading.session import GradeConfig
from grader.homeworks.vae.diagnose import MISTAKES
from grader.instructor.catalogue import caught_as_declared, load_catalogue, unit_checks
from tests.conftest import FLAGSHIP

UNIT_ONLY = GradeConfig(training=False, threads=1)
CATALOGUE = load_catalogue(FLAGSHIP)
MUTANTS = [m for m in CATALOGUE if not m.equivalent]
EQUIVALENTS = [m for m in CATALOGUE if m.equivalent]


def assert_no_grader_fault(result):
    assert not result.grader_fault, [check.hidden_detail for check in result.checks if check.hidden_detail]


def points_lost_outside_its_functions(mutant, result) -> dict[str, str]:
    """Checks of a function with no mistake that lost points: each function is graded on its own."""
    wrong = {MISTAKES[tag].function for tag in mutant.mistakes}
    sections = {function.section for function in FLAGSHIP.functions if function.name not in wrong}
    return {check.number: check.output for check in result.checks
            if check.number.split(".")[0] in sections and check.score < check.max_score}


def test_every_mutant_declares_a_unit_check_that_catches_it():
    assert [m.id for m in MUTANTS if not unit_checks(m, FLAGSHIP)] == []


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_the_mutant_is_caught_by_the_check_that_names_it(mutant, grade_mutant):
    result = grade_mutant(mutant, UNIT_ONLY)
    assert_no_grader_fault(result)
    assert caught_as_declared(mutant, result, FLAGSHIP, unit_only=True) == [], mutant.mistake
    if mutant.mistakes:
        assert points_lost_outside_its_functions(mutant, result) == {}


@pytest.mark.parametrize("mutant", EQUIVALENTS, ids=lambda m: m.id)
def test_a_correct_rewrite_keeps_every_point(mutant, grade_mutant):
    result = grade_mutant(mutant, UNIT_ONLY)
    assert_no_grader_fault(result)
    lost = {check.number: check.output for check in result.checks if not check.passed}
    assert lost == {}
    assert result.score == result.max_score == 48
