"""Grading the same submission twice gives the same results.json: scores, statuses, messages and metrics."""

import json
import re
from pathlib import Path

import pytest

from grader.grading.grade import RESULTS_NAME, grade
from grader.grading.session import GradeConfig
from grader.instructor.catalogue import load_catalogue
from tests.conftest import FLAGSHIP, REFERENCE

SHORT_TRAINING_ITERATIONS = 200
RUN_DEPENDENT = "seconds"  # the training's own wall-clock figure: the only field allowed to differ


def comparable(out: Path) -> dict:
    """results.json without its timings."""
    document = json.loads((out / RESULTS_NAME).read_text())
    document.pop("execution_time")
    for training in document["extra_data"].get("trainings", {}).values():
        training["reported"].pop(RUN_DEPENDENT, None)
    for test in document["tests"]:
        test["output"] = re.sub(r"iterations in \d+ s", "iterations in N s", test["output"])  # the run's own timing
    document["output"] = document["output"].split("\n\nWhat your code printed")[0]  # warnings may carry timings
    return document


def grade_twice(submission: Path, tmp_path: Path, config: GradeConfig) -> tuple[dict, dict]:
    grade(FLAGSHIP, submission, tmp_path / "first", config)
    grade(FLAGSHIP, submission, tmp_path / "second", config)
    return comparable(tmp_path / "first"), comparable(tmp_path / "second")


def test_unit_grading_is_deterministic_for_a_right_and_a_wrong_submission(tmp_path):
    config = GradeConfig(training=False, threads=1)
    first, second = grade_twice(REFERENCE, tmp_path / "reference", config)
    assert first == second
    assert first["score"] == 48
    wrong = next(m for m in load_catalogue(FLAGSHIP) if m.id == "sg_variance_as_std")
    submission = wrong.write(FLAGSHIP, tmp_path / "wrong-submission")
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
