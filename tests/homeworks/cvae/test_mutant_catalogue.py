"""cvae's catalogue: well formed, large enough, every mistake named by a check of its own function's section, the
issue's label mistakes present, enough correct rewrites."""

from collections import Counter

import pytest

from grader.instructor.catalogue import problems
from tests.homeworks.cvae.conftest import CATALOGUE, CVAE, section_of

MUTANTS = [m for m in CATALOGUE if not m.equivalent]
EQUIVALENTS = [m for m in CATALOGUE if m.equivalent]
MINIMUM_MUTANTS = 12
MINIMUM_EQUIVALENTS = 6
LABEL_MISTAKES = ("bound_ignores_label", "bound_one_hot_without_num_classes", "bound_labels_shuffled",
                  "sample_ignores_label")  # a bound that ignores y, a one-hot built wrong, labels shuffled


def test_the_catalogue_is_large_enough_and_holds_the_label_mistakes():
    assert len(MUTANTS) >= MINIMUM_MUTANTS and len(EQUIVALENTS) >= MINIMUM_EQUIVALENTS
    assert {m.function for m in CATALOGUE} == {f.name for f in CVAE.functions}
    assert set(LABEL_MISTAKES) <= {m.id for m in MUTANTS}
    assert all(m.fails and m.fails[0].split(".")[0] == section_of(m.function) for m in MUTANTS)


def test_ids_are_unique():
    assert [name for name, count in Counter(m.id for m in CATALOGUE).items() if count > 1] == []


@pytest.mark.parametrize("mutant", CATALOGUE, ids=lambda m: m.id)
def test_every_entry_is_well_formed(mutant):
    assert problems(mutant, CVAE) == []
