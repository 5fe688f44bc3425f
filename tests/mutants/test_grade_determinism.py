"""Grading the same submission twice gives the same results.json: scores, statuses, messages and metrics."""

import json
from pathlib import Path

import pytest

from grader.grading.grade import RESULTS_NAME, grade
from grader.grading.session import GradeConfig
from tests.conftest import REFERENCE
from grader.instructor.catalogue import load_catalogue

SHORT_TRAINING_ITERATIONS = 200
RUN_DEPENDENT_EXTRA = ("training_seconds",)  # wall-clock figures: the only fields allowed to differ


def comparable(out: Path) -> dict:
    """results.json without its timings."""
    document = json.loads((out / RESULTS_NAME).read_text())
    document.pop("execution_time")
    for name in RUN_DEPENDENT_EXTRA:
        document["extra_data"].pop(name, None)
    for test in document["tests"]:
        if test["number"] == "4.1":  # "200 iterations in 31 s"
            test["output"] = test["output"].rsplit(" in ", 1)[0]
    document["output"] = document["output"].split("\n\nWhat your code printed")[0]  # warnings may carry timings
    return document


def grade_twice(submission: Path, tmp_path: Path, config: GradeConfig) -> tuple[dict, dict]:
    grade(submission, tmp_path / "first", config)
    grade(submission, tmp_path / "second", config)
    return comparable(tmp_path / "first"), comparable(tmp_path / "second")


def test_unit_grading_is_deterministic_for_a_right_and_a_wrong_submission(tmp_path):
    config = GradeConfig(training=False, threads=1)
    first, second = grade_twice(REFERENCE, tmp_path / "reference", config)
    assert first == second
    assert first["score"] == 48
    wrong = next(m for m in load_catalogue() if m.id == "sg_variance_as_std")
    submission = wrong.write(tmp_path / "wrong-submission")
    first, second = grade_twice(submission, tmp_path / "wrong", config)
    assert first == second
    assert first["score"] < 48


@pytest.mark.slow
def test_a_short_training_run_grades_to_identical_metrics(tmp_path):
    config = GradeConfig(iterations=SHORT_TRAINING_ITERATIONS, threads=1)
    first, second = grade_twice(REFERENCE, tmp_path, config)
    metrics = first["extra_data"]["metrics"]
    assert set(metrics) == {"nelbo", "kl", "rec"} and all(value is not None for value in metrics.values())
    assert first == second
    assert {t["number"]: t["score"] for t in first["tests"]} == {t["number"]: t["score"] for t in second["tests"]}
