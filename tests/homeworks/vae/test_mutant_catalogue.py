"""The catalogue itself: well formed, large enough, every function covered, every snippet unique."""

from collections import Counter

import pytest

from grader.instructor.catalogue import load_catalogue, problems
from tests.conftest import FLAGSHIP

CATALOGUE = load_catalogue(FLAGSHIP)
FUNCTIONS = [function.name for function in FLAGSHIP.functions]
MINIMUM_MUTANTS = 30


def test_the_catalogue_has_enough_mutants_for_every_function():
    mutants = [m for m in CATALOGUE if not m.equivalent]
    assert len(mutants) >= MINIMUM_MUTANTS
    per_function = Counter(m.function for m in mutants)
    assert all(per_function[name] >= 8 for name in FUNCTIONS), per_function
    assert any(m.stage == "training" for m in mutants)


def test_ids_are_unique():
    ids = Counter(m.id for m in CATALOGUE)
    assert [name for name, count in ids.items() if count > 1] == []


@pytest.mark.parametrize("mutant", CATALOGUE, ids=lambda m: m.id)
def test_every_entry_is_well_formed(mutant):
    assert problems(mutant, FLAGSHIP) == []


def test_a_broken_entry_is_reported():
    mutant = CATALOGUE[0]
    edit = type(mutant.edits[0])(mutant.file, "this text is not in the reference", "x")
    broken = type(mutant)(**{**vars(mutant), "edits": (edit,), "fails": ()})
    found = problems(broken, FLAGSHIP)
    assert any("occurs 0 times" in problem for problem in found)
    assert any("needs the checks it fails" in problem for problem in found)
