"""Every mistake of vae-iwae's catalogue loses points in the check that names it, with the expected words; every
correct rewrite keeps all of the bound's points. Graded on the bound's checks only, with fixed inputs (conftest)."""

import pytest

from grader.instructor.catalogue import caught_as_declared, load_catalogue
from tests.homeworks.vae_iwae.conftest import IWAE, IWAE_BOUND_ONLY

CATALOGUE = load_catalogue(IWAE)
MUTANTS = [m for m in CATALOGUE if not m.equivalent]
EQUIVALENTS = [m for m in CATALOGUE if m.equivalent]


def assert_no_grader_fault(result):
    assert not result.grader_fault, [check.hidden_detail for check in result.checks if check.hidden_detail]


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_the_mutant_is_caught_by_the_check_that_names_it(mutant, grade_bound):
    result = grade_bound(mutant)
    assert_no_grader_fault(result)
    assert caught_as_declared(mutant, result, IWAE_BOUND_ONLY, unit_only=True) == [], mutant.mistake
    failed = {check.number for check in result.checks if not check.passed}
    assert failed == set(mutant.fails), "the catalogue lists exactly the checks a mistake fails"


@pytest.mark.parametrize("mutant", EQUIVALENTS, ids=lambda m: m.id)
def test_a_correct_rewrite_keeps_every_point(mutant, grade_bound):
    result = grade_bound(mutant)
    assert_no_grader_fault(result)
    assert {check.number: check.output for check in result.checks if not check.passed} == {}
    assert result.score == result.max_score == IWAE_BOUND_ONLY.max_score
