"""The grader end to end on the starter, broken uploads and wrong answers (unit phase: seconds each)."""

from pathlib import Path

import pytest

from grader.grade import grade
from grader.results import Outcome
from grader.session import GradeConfig
from tests.conftest import ASSIGNMENT, validate_results

UNIT_ONLY = GradeConfig(training=False, threads=2)


def graded(submission: Path, out: Path, config: GradeConfig = UNIT_ONLY) -> tuple[dict, dict]:
    """(results.json document, {check number: test entry})."""
    grade(submission, out, config)
    document = validate_results(out / "results.json")
    return document, {t["number"]: t for t in document["tests"]}


def assert_no_grader_fault(document: dict) -> None:
    assert document["extra_data"]["grader_fault"] is False
    assert not [t for t in document["tests"] if "autograder fault" in t["output"]]


def test_the_untouched_starter_gets_zero_with_not_implemented_messages(tmp_path):
    document, tests = graded(ASSIGNMENT, tmp_path / "out")
    assert_no_grader_fault(document)
    assert document["score"] == 0
    assert len(tests) == 15
    for number, test in tests.items():
        assert test["status"] == "failed"
        assert test["output"].startswith(f"[{Outcome.NOT_ATTEMPTED.value}] Not implemented yet"), number
        function = {"1": "sample_gaussian", "2": "kl_normal", "3": "negative_elbo_bound"}[number[0]]
        assert f"{function}: not implemented yet" in test["output"]


def test_a_syntax_error_gets_every_check_failed_with_the_line(make_submission, tmp_path):
    broken = make_submission(edits=[("utils.py", "def kl_normal(", "def kl_normal(:")])
    document, tests = graded(broken, tmp_path / "out")
    assert_no_grader_fault(document)
    assert document["score"] == 0
    first = tests["1.1"]["output"]
    assert first.startswith(f"[{Outcome.STUDENT_ERROR.value}] Your code raised an error: SyntaxError")
    assert 'File "utils.py", line' in first and "def kl_normal(:" in first


def test_an_exception_at_import_shows_only_the_students_traceback(make_submission, tmp_path):
    raising = make_submission(edits=[("vae.py", "DEFAULT_Z_DIM = 10", "DEFAULT_Z_DIM = 10\nraise ValueError('boom')")])
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
