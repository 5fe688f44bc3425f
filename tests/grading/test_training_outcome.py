"""A training run's outcome says when it was a development run (fewer iterations than declared)."""

from grader.grading.session import TrainingOutcome
from tests.conftest import FLAGSHIP


def test_a_shorter_run_is_called_a_development_run_and_a_full_one_is_not():
    run = FLAGSHIP.training()
    assert TrainingOutcome(run, run.iterations, 0, {}).development_note() is None
    assert TrainingOutcome(run, 300, 0, {}).development_note() == (
        f"Development run: 300 iterations; the band is for {run.iterations:,}.")
