"""The checks' inputs change with the submission (and the package's secret), so that the values a grading shows
cannot be returned as constants in the next one: a replay earns nothing."""

import re

import pytest

from grader.engine import check_inputs
from grader.engine.check_inputs import DEVELOPMENT_SECRET, check_seed, grading_secret
from grader.grading.grade import grade
from grader.grading.session import GradeConfig
from tests.conftest import FLAGSHIP, validate_results

UNIT_ONLY = GradeConfig(training=False, threads=1)
BOUND_CHECKS = ("3.1", "3.2", "3.3", "3.5", "3.6")
CONSTANT_BOUND = ("vae.py", "        nelbo = kl + rec\n        return nelbo, kl, rec\n",
                  "        kl, rec = torch.tensor({kl!r}), torch.tensor({rec!r})\n        return kl + rec, kl, rec\n")


def test_a_seed_is_fixed_for_a_submission_and_differs_with_the_submission_the_label_and_the_secret():
    seed = check_seed(b"s" * 16, "digest", "kl_normal")
    assert seed == check_seed(b"s" * 16, "digest", "kl_normal")
    others = {check_seed(b"s" * 16, "other digest", "kl_normal"), check_seed(b"s" * 16, "digest", "sample"),
              check_seed(b"t" * 16, "digest", "kl_normal")}
    assert seed not in others and len(others) == 3
    assert 0 <= seed < 2**56


def test_the_package_secret_is_read_from_its_file_and_a_short_one_is_refused(tmp_path):
    assert grading_secret(tmp_path / "absent") == DEVELOPMENT_SECRET
    (tmp_path / "secret").write_text("0123456789abcdef0123\n")
    assert grading_secret(tmp_path / "secret") == b"0123456789abcdef0123"
    (tmp_path / "short").write_text("abc")
    with pytest.raises(RuntimeError, match="at least 16"):
        grading_secret(tmp_path / "short")


def expected_term(output: str) -> float:
    """The reference value a failed 3.2 or 3.3 shows, as precisely as it shows it: the observation's '..., expected
    19.2874' (six significant digits), else 'Expected: shape (), values [19.29]' (four, which a replay may miss by
    more than the tolerance)."""
    precise = re.findall(r"expected (-?[0-9][0-9.e+-]*[0-9])", output)
    if precise:
        return float(precise[-1])
    match = re.search(r"Expected: shape \(\), values \[([-0-9.e+]+)\]", output)
    assert match, output
    return float(match.group(1))


def grade_constants(make_submission, tmp_path, name, kl, rec) -> dict[str, dict]:
    old, new = CONSTANT_BOUND[1], CONSTANT_BOUND[2].format(kl=kl, rec=rec)
    out = tmp_path / name
    grade(FLAGSHIP, make_submission(edits=[(CONSTANT_BOUND[0], old, new)]), out, UNIT_ONLY)
    return {test["number"]: test for test in validate_results(out / "results.json")["tests"]}


def test_returning_the_values_shown_by_the_previous_grading_earns_nothing(make_submission, tmp_path, monkeypatch):
    first = grade_constants(make_submission, tmp_path, "first", 1.0, 2.0)
    shown_kl, shown_rec = expected_term(first["3.2"]["output"]), expected_term(first["3.3"]["output"])
    replay = grade_constants(make_submission, tmp_path, "replay", shown_kl, shown_rec)
    assert {number: replay[number]["score"] for number in BOUND_CHECKS} == dict.fromkeys(BOUND_CHECKS, 0)

    # Without the submission in the seed, the same replay would have earned the points: the defence is what stops it.
    monkeypatch.setattr(check_inputs, "check_seed", lambda secret, digest, label: check_seed(secret, "", label))
    monkeypatch.setattr("grader.grading.session.check_seed", check_inputs.check_seed)
    fixed = grade_constants(make_submission, tmp_path, "fixed-first", 1.0, 2.0)
    shown_kl, shown_rec = expected_term(fixed["3.2"]["output"]), expected_term(fixed["3.3"]["output"])
    replay_fixed = grade_constants(make_submission, tmp_path, "fixed-replay", shown_kl, shown_rec)
    assert replay_fixed["3.1"]["status"] == replay_fixed["3.6"]["status"] == "passed"
    assert replay_fixed["3.2"]["score"] > 0 or replay_fixed["3.3"]["score"] > 0
