"""Every mistake of cvae's catalogue loses points in exactly the checks it lists, the first naming it with the expected
words; every correct rewrite keeps every unit point. A negative_elbo_bound entry and a sample_x entry share a grading
(conftest: their checks never call each other's method)."""

import pytest

from grader.instructor.catalogue import caught_as_declared
from tests.homeworks.cvae.conftest import CATALOGUE, CVAE, combined, pairs, section_of

MUTANT_PAIRS = pairs([m for m in CATALOGUE if not m.equivalent])
EQUIVALENT_PAIRS = pairs([m for m in CATALOGUE if m.equivalent])
UNIT_POINTS = sum(points for number, points in CVAE.points.items()
                  if number.split(".")[0] in {f.section for f in CVAE.functions})


def group_id(group):
    return "+".join(m.id for m in group)


@pytest.mark.parametrize("group", MUTANT_PAIRS, ids=group_id)
def test_each_mistake_is_caught_by_the_check_that_names_it(group, grade_unit):
    result = grade_unit(combined(group))
    assert not result.grader_fault, [check.hidden_detail for check in result.checks if check.hidden_detail]
    for mutant in group:
        section = section_of(mutant.function)
        own = [check for check in result.checks if check.number.split(".")[0] == section]
        assert caught_as_declared(mutant, result, CVAE, unit_only=True) == [], mutant.mistake
        assert {check.number for check in own if not check.passed} == set(mutant.fails), mutant.id


@pytest.mark.parametrize("group", EQUIVALENT_PAIRS, ids=group_id)
def test_a_correct_rewrite_keeps_every_point(group, grade_unit):
    result = grade_unit(combined(group))
    assert not result.grader_fault
    assert {check.number: check.output for check in result.checks if not check.passed} == {}
    assert result.score == UNIT_POINTS
