"""Every unit-stage mutant loses points in the check that names its mistake; every correct rewrite keeps all.

Graded with the unit checks only (GradeConfig(training=False)): a few seconds per mutant.
"""

import pytest

from grader.session import GradeConfig
from tests.mutants.catalogue import caught_as_declared, load_catalogue

UNIT_ONLY = GradeConfig(training=False, threads=1)
CATALOGUE = load_catalogue()
UNIT_MUTANTS = [m for m in CATALOGUE if m.stage == "unit" and not m.equivalent]
EQUIVALENTS = [m for m in CATALOGUE if m.equivalent]


def assert_no_grader_fault(result):
    assert not result.grader_fault, [check.hidden_detail for check in result.checks if check.hidden_detail]


@pytest.mark.parametrize("mutant", UNIT_MUTANTS, ids=lambda m: m.id)
def test_the_mutant_is_caught_by_the_check_that_names_it(mutant, grade_mutant):
    result = grade_mutant(mutant, UNIT_ONLY)
    assert_no_grader_fault(result)
    assert caught_as_declared(mutant, result) == [], mutant.mistake


@pytest.mark.parametrize("mutant", EQUIVALENTS, ids=lambda m: m.id)
def test_a_correct_rewrite_keeps_every_point(mutant, grade_mutant):
    result = grade_mutant(mutant, UNIT_ONLY)
    assert_no_grader_fault(result)
    lost = {check.number: check.output for check in result.checks if not check.passed}
    assert lost == {}
    assert result.score == result.max_score == 48
