"""Every unit-stage mistake of beta-vae's catalogue loses points in the check that names it, with the expected
words, and in exactly the checks the catalogue lists; every correct rewrite (other architectures included) keeps
every unit point."""

import pytest

from grader.instructor.catalogue import caught_as_declared, load_catalogue
from tests.homeworks.beta_vae.conftest import BETA_VAE, grade_unit_all

CATALOGUE = load_catalogue(BETA_VAE)
MUTANTS = [m for m in CATALOGUE if not m.equivalent and m.stage == "unit"]
EQUIVALENTS = [m for m in CATALOGUE if m.equivalent]
UNIT_POINTS = sum(points for number, points in BETA_VAE.points.items() if number.split(".")[0] in ("1", "2"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grade_unit_all([*MUTANTS, *EQUIVALENTS], tmp_path_factory.mktemp("catalogue"))


def test_the_catalogue_holds_ten_mistakes_and_three_other_architectures():
    assert len(MUTANTS) >= 10
    assert len([m for m in EQUIVALENTS if m.id.startswith("arch_")]) >= 3


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_the_mutant_is_caught_by_the_check_that_names_it(mutant, graded):
    result = graded[mutant.id]
    assert not result.grader_fault
    assert caught_as_declared(mutant, result, BETA_VAE, unit_only=True) == [], mutant.mistake
    assert {check.number for check in result.checks if not check.passed} == set(mutant.fails)


@pytest.mark.parametrize("mutant", EQUIVALENTS, ids=lambda m: m.id)
def test_a_correct_rewrite_keeps_every_unit_point(mutant, graded):
    result = graded[mutant.id]
    assert not result.grader_fault
    assert {check.number: check.output for check in result.checks if not check.passed} == {}
    assert result.score == UNIT_POINTS
