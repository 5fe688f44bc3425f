"""Training-stage mutants (a schedule over the iterations): check 3.6 catches them in the unit phase, and a full
training must lose check 4.2's points as well, with every other unit check passed.

Each is one full grading (20,000 iterations, several minutes): marked slow, still part of make test and CI.
"""

import math

import pytest

from grader.engine.scoring import load_band
from grader.grading.session import Budgets, GradeConfig
from grader.instructor.catalogue import caught_as_declared, load_catalogue
from tests.conftest import FLAGSHIP, FLAGSHIP_ITERATIONS

TRAINING_MUTANTS = [m for m in load_catalogue(FLAGSHIP) if m.stage == "training"]
# One thread and a generous budget: the point is the NELBO, and a shared CI machine must not time the run out.
FULL_TRAINING = GradeConfig(iterations=FLAGSHIP_ITERATIONS, threads=1, budgets=Budgets(training=3_600.0, total=4_000.0))
UNIT_CHECK_PREFIXES = ("1.", "2.", "3.")
REPEATED_CALLS_CHECK = "3.6"


@pytest.mark.slow
@pytest.mark.timeout(4_000)
@pytest.mark.parametrize("mutant", TRAINING_MUTANTS, ids=lambda m: m.id)
def test_the_training_check_catches_it_too(mutant, grade_mutant):
    result = grade_mutant(mutant, FULL_TRAINING)
    assert not result.grader_fault, [check.hidden_detail for check in result.checks if check.hidden_detail]
    unit_failures = {c.number for c in result.checks if c.number.startswith(UNIT_CHECK_PREFIXES) and not c.passed}
    assert unit_failures == {REPEATED_CALLS_CHECK}, "only the repeated-calls check may see a schedule"
    checks = {check.number: check for check in result.checks}
    assert checks["4.1"].passed, checks["4.1"].output
    assert caught_as_declared(mutant, result, FLAGSHIP) == [], mutant.mistake
    nelbo = result.metrics["nelbo"]
    band = load_band(FLAGSHIP, "nelbo")
    assert math.isfinite(nelbo) and nelbo > band.full
    print(f"{mutant.id}: NELBO {nelbo:.3f} (band: full at or below {band.full}, zero from "
          f"{band.zero}); 4.2 scored {checks['4.2'].score:g}/{checks['4.2'].max_score:g}")
