import base64
import json
import math

import jsonschema
import pytest

from grader.engine.results import (
    GRADER_FAULT_NOTE,
    CheckResult,
    GradeResult,
    Outcome,
    to_gradescope,
    write_json_atomically,
)
from tests.conftest import SCHEMA


def sample_result(nelbo: float = 100.2) -> GradeResult:
    return GradeResult(
        checks=[
            CheckResult("kl_normal: matches", "2.1", 5, 5, Outcome.PASSED),
            CheckResult("kl_normal: broadcasts", "2.2", 3, 0, Outcome.WRONG_ANSWER, "Expected: a\nGot: b"),
            CheckResult("training: NELBO", "4.2", 30, 12.5, Outcome.WRONG_ANSWER, "partial"),
            CheckResult("samples: digits", "5.2", 8, 0, Outcome.GRADER_FAULT, "oops", hidden_detail="Traceback ..."),
        ],
        output="Score",
        execution_time=12.34,
        metrics={"nelbo": nelbo, "kl": 19.0, "rec": 81.2},
        leaderboard=[("NELBO", nelbo, "asc")],
        extra_data={"grader_version": "x"},
    )


def test_document_follows_the_schema_with_scores_statuses_and_leaderboard():
    document = to_gradescope(sample_result())
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    assert document["score"] == 17.5
    assert [t["status"] for t in document["tests"]] == ["passed", "failed", "failed", "failed", "failed"]
    assert document["tests"][1]["output"].startswith("[wrong answer] Expected: a")
    assert document["leaderboard"] == [{"name": "NELBO", "value": 100.2, "order": "asc"}]
    assert document["extra_data"]["metrics"] == {"nelbo": 100.2, "kl": 19.0, "rec": 81.2}


def test_a_grader_fault_is_visible_as_such_and_its_traceback_hidden():
    tests = to_gradescope(sample_result())["tests"]
    fault, staff = tests[3], tests[4]
    assert fault["visibility"] == "visible" and GRADER_FAULT_NOTE in fault["output"]
    assert "Traceback" not in fault["output"]
    assert staff["visibility"] == "hidden" and staff["output"] == "Traceback ..." and staff["max_score"] == 0


def test_non_finite_metrics_become_null_and_no_leaderboard_entry():
    document = to_gradescope(sample_result(nelbo=math.nan))
    assert "leaderboard" not in document
    assert document["extra_data"]["metrics"]["nelbo"] is None
    json.dumps(document, allow_nan=False)  # strict JSON: no NaN literal anywhere


def test_atomic_write_leaves_no_temporary_file_and_refuses_nan(tmp_path):
    target = tmp_path / "results" / "results.json"
    write_json_atomically({"score": 1}, target)
    assert json.loads(target.read_text()) == {"score": 1}
    with pytest.raises(ValueError):
        write_json_atomically({"score": math.nan}, target)
    assert json.loads(target.read_text()) == {"score": 1}
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]


def test_a_check_with_images_is_html_with_the_text_escaped_and_the_png_embedded():
    png = b"\x89PNG\r\n\x1a\nnot really a png"
    check = CheckResult("samples: grid", "5.1", 2, 2, Outcome.PASSED, "found <script>alert(1)</script> & more",
                        images=[("samples.png: 200 <samples>", png)])
    test = to_gradescope(GradeResult(checks=[check]))["tests"][0]
    assert test["output_format"] == "html"
    assert "<script>" not in test["output"] and "&lt;script&gt;" in test["output"]
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in test["output"]
    assert "samples.png: 200 &lt;samples&gt;" in test["output"]
    plain = to_gradescope(GradeResult(checks=[CheckResult("x", "1.1", 1, 1, Outcome.PASSED, "<b>")]))["tests"][0]
    assert plain["output_format"] == "text" and plain["output"] == "<b>"


def test_every_test_entry_carries_its_outcome_and_cause_as_data():
    result = sample_result()
    result.checks[1].cause = "wrong_answer"
    tests = to_gradescope(result)["tests"]
    assert [t["extra_data"]["outcome"] for t in tests] == ["passed", "wrong_answer", "wrong_answer",
                                                           "grader_fault", "staff_detail"]
    assert tests[1]["extra_data"]["cause"] == "wrong_answer"


def test_values_that_strict_json_refuses_are_made_safe_in_one_place(tmp_path):
    import numpy as np

    result = sample_result(nelbo=math.inf)
    result.checks[0].output = "a lone surrogate \ud800 in a message"
    result.extra_data.update(diverged_loss=math.nan, own={"nelbo": -math.inf}, count=np.int64(3),
                             huge=10**400, shape=(1, 2), keys={1: "x"})
    target = tmp_path / "results.json"
    write_json_atomically(to_gradescope(result), target)  # strict JSON (allow_nan=False) and valid UTF-8
    document = json.loads(target.read_text(encoding="utf-8"))
    extra = document["extra_data"]
    assert extra["diverged_loss"] is None and extra["own"] == {"nelbo": None} and extra["count"] == 3
    assert extra["huge"] == "<integer out of range>" and extra["shape"] == [1, 2] and extra["keys"] == {"1": "x"}
    assert "surrogate ? in" in document["tests"][0]["output"]
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
