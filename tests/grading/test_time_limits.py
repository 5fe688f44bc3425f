"""The grader's clock: a hanging function costs only its own checks, and the whole grading ends within its
time limit (so that Gradescope never kills it before results.json is written)."""

import pytest

from grader.engine.results import Outcome
from grader.grading.grade import grade
from grader.grading.session import Budgets, GradeConfig
from tests.conftest import FLAGSHIP, validate_results

HANGING_SAMPLE = ("utils.py", "    epsilon = torch.randn_like(m)  # (..., dim)",
                  "    while True:  # hangs on every call\n        pass")
HANGING_TRAINING = ("vae.py", "        nelbo = kl + rec\n",
                    "        nelbo = kl + rec\n        self.calls = getattr(self, 'calls', 0) + 1\n"
                    "        while self.calls > 5:  # the unit checks use a fresh model per call: only training hangs\n"
                    "            pass\n")


def checks_by_number(out) -> dict[str, dict]:
    return {test["number"]: test for test in validate_results(out / "results.json")["tests"]}


def test_a_function_that_hangs_uses_up_its_own_time_and_no_other_functions(make_submission, tmp_path):
    # Seconds, not fractions of one: the other functions' calls must finish on a loaded machine too. Starting a fresh
    # worker (the hanging call's timeout ended the last one) is not charged to the function that waits for it.
    budgets = Budgets(unit_call=8.0, unit_function=20.0)
    grade(FLAGSHIP, make_submission(edits=[HANGING_SAMPLE]), tmp_path / "out",
          GradeConfig(training=False, budgets=budgets))
    tests = checks_by_number(tmp_path / "out")
    sample_checks = {number: test for number, test in tests.items() if number.startswith("1.")}
    assert all(test["output"].startswith(f"[{Outcome.TIMED_OUT.value}]") for test in sample_checks.values())
    assert "was used up by the checks before this one" in sample_checks["1.4"]["output"]
    # kl_normal runs in full; negative_elbo_bound too, as the grader fixes its sample_gaussian
    assert all(test["status"] == "passed" for number, test in tests.items() if number[0] in "23")


@pytest.mark.slow
def test_the_whole_grading_ends_within_its_time_limit(make_submission, tmp_path):
    budgets = Budgets(total=60.0, reserve=10.0)
    result = grade(FLAGSHIP, make_submission(edits=[HANGING_TRAINING]), tmp_path / "out",
                   GradeConfig(iterations=300, budgets=budgets))
    tests = checks_by_number(tmp_path / "out")
    assert all(tests[number]["status"] == "passed" for number in tests if number[0] in "123")
    training = tests["4.1"]["output"]
    assert training.startswith(f"[{Outcome.TIMED_OUT.value}]") and "s left for it" in training
    assert all(tests[number]["status"] == "failed" for number in tests if number[0] in "45")
    assert result.execution_time <= budgets.total
