"""Every mistake of vae-gaussian's catalogue (log_normal and the Gaussian bound) loses points in the check that names
it, with the expected words, and in exactly the checks the catalogue lists; every correct rewrite keeps all of part
B's unit points."""

import pytest

from grader.instructor.catalogue import caught_as_declared, load_catalogue
from tests.homeworks.vae_gaussian.conftest import GAUSSIAN, PART_B_ONLY

CATALOGUE = load_catalogue(GAUSSIAN)
MUTANTS = [m for m in CATALOGUE if not m.equivalent]
EQUIVALENTS = [m for m in CATALOGUE if m.equivalent]


def test_the_catalogue_holds_at_least_ten_mistakes_of_the_new_functions():
    assert len(MUTANTS) >= 10 and {m.function for m in MUTANTS} == {"log_normal", "negative_elbo_bound"}
    assert {m.edits[0].file for m in MUTANTS if m.function == "negative_elbo_bound"} == {"gaussian_vae.py"}


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_the_mutant_is_caught_by_the_check_that_names_it(mutant, grade_part_b):
    result = grade_part_b(mutant)
    assert not result.grader_fault
    assert caught_as_declared(mutant, result, PART_B_ONLY, unit_only=True) == [], mutant.mistake
    assert {check.number for check in result.checks if not check.passed} == set(mutant.fails)


@pytest.mark.parametrize("mutant", EQUIVALENTS, ids=lambda m: m.id)
def test_a_correct_rewrite_keeps_every_point(mutant, grade_part_b):
    result = grade_part_b(mutant)
    assert not result.grader_fault
    assert {check.number: check.output for check in result.checks if not check.passed} == {}
    assert result.score == result.max_score == PART_B_ONLY.max_score
