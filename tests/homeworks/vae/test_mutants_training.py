"""Training-stage mutants (a schedule over the iterations): check 3.6 catches them in the unit phase, and their full
training loses check 4.2's points as well. The full trainings are make calibrate's (``--place``): this test holds the
committed placements to the band, and grades the unit phase itself."""

import json

import pytest

from grader.engine.scoring import load_band
from grader.grading.session import GradeConfig
from grader.instructor.catalogue import load_catalogue
from tests.conftest import FLAGSHIP, FLAGSHIP_ITERATIONS

TRAINING_MUTANTS = [m for m in load_catalogue(FLAGSHIP) if m.stage == "training"]
UNIT_CHECK_PREFIXES = ("1.", "2.", "3.")
REPEATED_CALLS_CHECK = "3.6"


def placement(mutant_id: str) -> dict:
    placements = json.loads(FLAGSHIP.calibration_file.read_text()).get("placements", [])
    found = [entry for entry in placements if entry["id"] == mutant_id]
    assert found, f"{mutant_id} has no placement: run make calibrate HOMEWORK=vae PLACE={mutant_id}"
    return found[0]


@pytest.mark.parametrize("mutant", TRAINING_MUTANTS, ids=lambda m: m.id)
def test_its_full_training_lands_outside_the_band(mutant):
    placed = placement(mutant.id)
    band = load_band(FLAGSHIP, "nelbo")
    assert placed["iterations"] == FLAGSHIP_ITERATIONS
    assert placed["nelbo"] > band.full and band.fraction(placed["nelbo"]) < 1.0, placed


@pytest.mark.parametrize("mutant", TRAINING_MUTANTS, ids=lambda m: m.id)
def test_only_the_repeated_calls_check_sees_it_in_the_unit_phase(mutant, grade_mutant):
    result = grade_mutant(mutant, GradeConfig(training=False, threads=1))
    assert not result.grader_fault, [check.hidden_detail for check in result.checks if check.hidden_detail]
    unit_failures = {c.number for c in result.checks if c.number.startswith(UNIT_CHECK_PREFIXES) and not c.passed}
    assert unit_failures == {REPEATED_CALLS_CHECK}, "only the repeated-calls check may see a schedule"
