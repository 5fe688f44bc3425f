"""The grader end to end on the flagship homework: the reference with the full 20,000 iterations, broken uploads and
wrong answers (most in the unit phase: seconds each). What holds for every homework (the starter, the reference's unit
points, a short training) is in tests/homeworks/test_every_homework.py."""

import base64
from pathlib import Path

import pytest

from grader.engine.results import Outcome
from grader.engine.scoring import load_band
from grader.grading.grade import grade
from grader.grading.session import Budgets, GradeConfig
from tests.conftest import FLAGSHIP, FLAGSHIP_ITERATIONS, REFERENCE, validate_results

UNIT_ONLY = GradeConfig(training=False, threads=2)
MAX_SCORE = 100
UNIT_POINTS = 48
FUNCTION_OF_SECTION = {"1": "sample_gaussian", "2": "kl_normal", "3": "negative_elbo_bound", "4": "training",
                       "5": "samples"}


def graded(submission: Path, out: Path, config: GradeConfig = UNIT_ONLY) -> tuple[dict, dict]:
    """(results.json document, {check number: test entry})."""
    grade(FLAGSHIP, submission, out, config)
    document = validate_results(out / "results.json")
    return document, {t["number"]: t for t in document["tests"]}


def assert_no_grader_fault(document: dict) -> None:
    assert document["extra_data"]["grader_fault"] is False
    assert not [t for t in document["tests"] if "autograder fault" in t["output"]]


def embedded_pngs(test: dict) -> list[bytes]:
    """The PNG files embedded in a test's HTML output."""
    marker = 'src="data:image/png;base64,'
    return [base64.b64decode(part.split('"', 1)[0]) for part in test["output"].split(marker)[1:]]


@pytest.mark.slow
@pytest.mark.timeout(4_000)  # ~2.5 minutes on an idle 2-core machine; the grading's own budgets allow more
def test_the_reference_with_the_full_training_gets_every_point(tmp_path):
    out = tmp_path / "out"
    # A generous time limit: this is about the points; the timing on Gradescope's ½ vCPU is measured by make bench.
    config = GradeConfig(iterations=FLAGSHIP_ITERATIONS, threads=2, budgets=Budgets(training=3_600.0, total=4_000.0))
    document, tests = graded(REFERENCE, out, config)
    assert_no_grader_fault(document)
    failed = {number: test["output"] for number, test in tests.items() if test["status"] != "passed"}
    assert failed == {}
    assert document["score"] == MAX_SCORE == sum(test["max_score"] for test in tests.values())
    assert {number[0] for number in tests} == set(FUNCTION_OF_SECTION)
    nelbo = document["extra_data"]["metrics"]["nelbo"]
    assert nelbo <= load_band(FLAGSHIP, "nelbo").full
    assert document["leaderboard"] == [{"name": "NELBO", "value": round(nelbo, 3), "order": "asc"}]
    assert document["extra_data"]["homework"] == FLAGSHIP.id
    assert document["extra_data"]["development_run"] is False
    isolation = document["extra_data"]["isolation"]
    assert document["output"].count("OS isolation: ") == 1 and isolation["mode"] in ("bwrap", "setuid", "none")
    assert document["extra_data"]["trainings"]["main"]["reported"]["iterations"] == FLAGSHIP_ITERATIONS
    assert embedded_pngs(tests["5.1"]) == [(out / "samples.png").read_bytes()]
    assert embedded_pngs(tests["5.3"]) == [(out / "reconstructions.png").read_bytes()]


@pytest.mark.slow
def test_the_grids_are_drawn_by_the_grader_whatever_the_submission_draws(make_submission, tmp_path):
    blank = make_submission(edits=[("vae.py", "return self.sample_x_given(self.sample_z(batch))",
                                    "return torch.zeros(batch, 784)")])
    honest_out, blank_out = tmp_path / "honest", tmp_path / "blank"
    config = GradeConfig(iterations=300, threads=2)
    graded(make_submission(), honest_out, config)
    document, tests = graded(blank, blank_out, config)
    assert_no_grader_fault(document)
    # the student's sample_x is provided code the grader never calls: the same weights give the same grids
    assert (blank_out / "samples.png").read_bytes() != b""
    assert embedded_pngs(tests["5.1"]) == [(blank_out / "samples.png").read_bytes()]
    assert tests["5.1"]["status"] == "passed" and "ink" in tests["5.1"]["output"]
    assert (blank_out / "reconstructions.png").read_bytes() == (honest_out / "reconstructions.png").read_bytes()
    assert document["extra_data"]["metrics"] == validate_results(honest_out / "results.json")["extra_data"]["metrics"]


def test_a_syntax_error_gets_every_check_failed_with_the_line(make_submission, tmp_path):
    broken = make_submission(edits=[("utils.py", "def kl_normal(", "def kl_normal(:")])
    document, tests = graded(broken, tmp_path / "out")
    assert_no_grader_fault(document)
    assert document["score"] == 0
    first = tests["1.1"]["output"]
    assert first.startswith(f"[{Outcome.STUDENT_ERROR.value}] Your code raised an error: SyntaxError")
    assert 'File "utils.py", line' in first and "def kl_normal(:" in first


def test_an_exception_at_import_shows_only_the_students_traceback(make_submission, tmp_path):
    raising = make_submission(edits=[("vae.py", "DEFAULT_Z_DIM = Z_DIM",
                                      "DEFAULT_Z_DIM = Z_DIM\nraise ValueError('boom')")])
    document, tests = graded(raising, tmp_path / "out")
    assert_no_grader_fault(document)
    assert tests["1.1"]["status"] == tests["2.1"]["status"] == "passed"  # utils.py imports fine
    output = tests["3.1"]["output"]
    assert "ValueError: boom" in output and 'File "vae.py", line' in output
    assert "/grader/" not in output and "worker.py" not in output  # no grader internals shown


def test_a_missing_file_is_graded_against_the_starter_and_explained(make_submission, tmp_path):
    document, tests = graded(make_submission(drop=("vae.py",)), tmp_path / "out")
    assert_no_grader_fault(document)
    assert tests["0.1"]["output"].endswith("vae.py is missing from the upload; upload both utils.py and vae.py.")
    assert "Graded with the empty starter in place of vae.py." in document["output"]
    assert all(tests[n]["status"] == "passed" for n in ("1.1", "2.1"))  # utils.py was there and is right
    assert tests["3.1"]["output"].startswith(f"[{Outcome.NOT_ATTEMPTED.value}]")
    assert document["score"] == 28  # sample_gaussian 13 + kl_normal 15


def test_a_misnamed_upload_is_named(tmp_path, make_submission):
    folder = make_submission()
    (folder / "vae.py").rename(folder / "vae (1).py")
    _, tests = graded(folder, tmp_path / "out")
    assert "found vae (1).py; expected vae.py" in tests["0.1"]["output"]


@pytest.mark.parametrize("edits, failing, keyword", [
    ([("utils.py", "return m + torch.sqrt(v) * epsilon", "return m + v * epsilon")],
     {"1.2", "1.3"}, "standard deviation"),
    ([("utils.py", "element_wise = 0.5 * (torch.log(pv)", "element_wise = (torch.log(pv)")],
     {"2.1", "2.2", "2.3", "2.5", "2.6"}, "0.5 is missing"),
    ([("vae.py", "rec = -ut.log_bernoulli_with_logits(x, logits).mean()",
       "rec = -ut.log_bernoulli_with_logits(x, logits).mean() / 784")], {"3.3", "3.4", "3.5"}, "784 pixels"),
])
def test_wrong_answers_lose_points_in_the_check_that_names_them(make_submission, tmp_path, edits, failing, keyword):
    document, tests = graded(make_submission(edits=edits), tmp_path / "out")
    assert_no_grader_fault(document)
    failed = {number for number, test in tests.items() if test["status"] == "failed"}
    assert failing <= failed, f"expected {failing} to fail, failed: {failed}"
    assert any(keyword in tests[n]["output"] for n in failing)
    assert document["score"] < 48
