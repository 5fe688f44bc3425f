"""What holds for every homework: its starter earns nothing and says why, its reference earns every unit point, its
training path runs end to end (a short run), and its declaration agrees with its provided settings."""

import base64

import pytest

from grader.engine.oracle import reference
from grader.engine.results import Outcome
from grader.grading.grade import grade
from grader.grading.session import GradeConfig
from grader.instructor.catalogue import write_reference_submission
from tests.conftest import HOMEWORKS, validate_results

SHORT_TRAINING = 100
UNIT_ONLY = GradeConfig(training=False, threads=2)


def graded(homework, submission, out, config):
    grade(homework, submission, out, config)
    document = validate_results(out / "results.json")
    return document, {test["number"]: test for test in document["tests"]}


def embedded_pngs(test: dict) -> list[bytes]:
    marker = 'src="data:image/png;base64,'
    return [base64.b64decode(part.split('"', 1)[0]) for part in test["output"].split(marker)[1:]]


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda homework: homework.id)
def test_the_untouched_starter_gets_zero_with_not_implemented_messages(homework, tmp_path):
    config = GradeConfig(iterations=SHORT_TRAINING, threads=2)
    document, tests = graded(homework, homework.assignment_dir, tmp_path / "out", config)
    assert document["extra_data"]["grader_fault"] is False and document["extra_data"]["homework"] == homework.id
    assert document["score"] == 0 and set(tests) == set(homework.points)
    for number, test in tests.items():
        assert test["status"] == "failed" and test["extra_data"]["outcome"] == "not_attempted", number
        assert test["output"].startswith(f"[{Outcome.NOT_ATTEMPTED.value}] Not implemented yet"), number
        # the message names the section's function, or the constructor of its class (a stub that stops first)
        section = [f for f in homework.functions if f.section == number.split(".")[0]]
        files = {f.file for f in section}
        expected = {f.name for f in section} | {f.name for f in homework.functions
                                                if f.name == "__init__" and f.file in files}
        if section:
            assert any(f"{name}: not implemented yet" in test["output"] for name in expected), (number, expected)
        else:
            assert any(f"{f.name}: not implemented yet" in test["output"] for f in homework.functions), number
        assert embedded_pngs(test) == []


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda homework: homework.id)
def test_the_reference_earns_every_unit_point(homework, tmp_path):
    submission = write_reference_submission(homework, tmp_path / "submission")
    document, tests = graded(homework, submission, tmp_path / "out", UNIT_ONLY)
    unit_sections = {function.section for function in homework.functions}
    failed = {number: test["output"] for number, test in tests.items() if test["status"] != "passed"}
    assert failed == {}
    expected = sum(points for number, points in homework.points.items() if number.split(".")[0] in unit_sections)
    assert document["score"] == expected and document["extra_data"]["unit_only"] is True


@pytest.mark.slow
@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda homework: homework.id)
def test_a_short_training_of_the_reference_runs_every_check_and_draws_the_grids(homework, tmp_path):
    out = tmp_path / "out"
    submission = write_reference_submission(homework, tmp_path / "submission")
    document, tests = graded(homework, submission, out, GradeConfig(iterations=SHORT_TRAINING, threads=2))
    assert document["extra_data"]["grader_fault"] is False, [t["output"] for t in tests.values()
                                                              if t["extra_data"]["outcome"] == "grader_fault"]
    assert document["extra_data"]["development_run"] is True and "DEVELOPMENT RUN" in document["output"]
    assert set(tests) == set(homework.points)
    trainings = document["extra_data"]["trainings"]
    assert set(trainings) == {run.name for run in homework.trainings}
    assert all(run["iterations"] == SHORT_TRAINING for run in trainings.values())
    metrics = document["extra_data"]["metrics"]
    assert set(metrics) == {metric.name for metric in homework.metrics}
    assert all(value is not None for value in metrics.values())
    for grid in homework.grids:
        assert (out / f"{grid.name}.png").stat().st_size > 1_000, grid.name
    shown = [png for test in tests.values() for png in embedded_pngs(test)]
    assert sorted(shown) == sorted((out / f"{grid.name}.png").read_bytes() for grid in homework.grids)
    names = [entry["name"] for entry in document.get("leaderboard", [])]
    assert names == [entry.name for entry in homework.leaderboard]


@pytest.mark.parametrize("homework", HOMEWORKS, ids=lambda homework: homework.id)
def test_the_declaration_agrees_with_the_provided_settings(homework):
    settings = reference(homework).hyperparameters
    assert settings.ITERATIONS == homework.training().iterations
    if "z_dim" in homework.training().arguments:  # a model the homework provides (not one the student designs)
        assert settings.Z_DIM == homework.training().arguments["z_dim"]
    if hasattr(settings, "GRID_ROWS"):  # the grid the training script saves is the grader's
        assert (settings.GRID_ROWS, settings.GRID_COLUMNS) == (homework.settings["grid_rows"],
                                                              homework.settings["grid_columns"])
