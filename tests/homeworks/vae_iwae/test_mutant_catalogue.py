"""vae-iwae's catalogue: well formed, large enough, every mistake in negative_iwae_bound named by a check of its
section, enough correct rewrites."""

from collections import Counter

import pytest

from grader.instructor.catalogue import load_catalogue, problems
from tests.homeworks.vae_iwae.conftest import BOUND_SECTION, IWAE

CATALOGUE = load_catalogue(IWAE)
MUTANTS = [m for m in CATALOGUE if not m.equivalent]
EQUIVALENTS = [m for m in CATALOGUE if m.equivalent]
MINIMUM_MUTANTS = 12
MINIMUM_EQUIVALENTS = 4


def test_the_catalogue_is_large_enough_and_about_the_iwae_bound():
    assert len(MUTANTS) >= MINIMUM_MUTANTS and len(EQUIVALENTS) >= MINIMUM_EQUIVALENTS
    assert {m.function for m in CATALOGUE} == {"negative_iwae_bound"}
    assert all(m.fails[0].split(".")[0] == BOUND_SECTION for m in MUTANTS), "the named check is the bound's"


def test_ids_are_unique():
    assert [name for name, count in Counter(m.id for m in CATALOGUE).items() if count > 1] == []


@pytest.mark.parametrize("mutant", CATALOGUE, ids=lambda m: m.id)
def test_every_entry_is_well_formed(mutant):
    assert problems(mutant, IWAE) == []
