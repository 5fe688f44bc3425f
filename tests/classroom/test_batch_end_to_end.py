"""The whole path a TA takes: a Gradescope export .zip of 13 submissions, graded by the real grader in
parallel (``python -m grader batch``), scores.csv and report.html checked, the page opened in Chromium,
and a second run that grades nothing again.

Training runs 50 iterations instead of 20,000 (a development run), so that the 13 gradings take a few
minutes on two cores; the timings are printed (run with -s), never asserted.
"""

import csv
import json
import re
import time

import pytest

from grader import GRADER_VERSION
from grader.__main__ import main
from grader.classroom.batch import RECORD_NAME, RUN_NAME
from tests.classroom.classroom import render_page

ITERATIONS = 50
PLOTS = ("plot-scores", "plot-runtimes", "plot-pass-rates", "plot-nelbo")


def _score(row: dict, number: str) -> float:
    column = next(name for name in row if name.startswith(f"{number} "))
    return float(row[column])


def _unit_total(row: dict) -> float:
    return sum(float(value) for name, value in row.items() if re.match(r"[123]\.\d+ ", name))


@pytest.mark.slow
def test_a_class_export_is_graded_reported_and_not_graded_twice(class_export_zip, class_students, tmp_path,
                                                                  capsys):
    out = tmp_path / "reports"
    arguments = ["batch", str(class_export_zip), "--out", str(out), "--iterations", str(ITERATIONS), "--jobs", "2",
                 "--no-progress"]
    started = time.monotonic()
    assert main(arguments) == 0
    wall = time.monotonic() - started
    first_output = capsys.readouterr().out
    assert f"{len(class_students)} to grade, 0 already graded" in first_output

    rows = {row["submission_id"]: row for row in csv.DictReader((out / "scores.csv").open(encoding="utf-8"))}
    assert sorted(rows) == sorted(f"submission_{s.id}" for s in class_students)
    assert {row["status"] for row in rows.values()} == {"graded"}, {k: r["status"] for k, r in rows.items()}
    assert {row["grader_version"] for row in rows.values()} == {GRADER_VERSION}
    assert {row["run"] for row in rows.values()} == {f"development ({ITERATIONS} iterations)"}

    reference, starter = rows["submission_1001"], rows["submission_1002"]
    unit_max = _unit_total(reference)
    assert unit_max > 0 and reference["names"] == "Ada Lovelace" and reference["sids"] == "05550100"
    assert reference["emails"] == "ada.lovelace@stanford.edu" and reference["created_at"].startswith("2025-02-01")
    assert float(reference["nelbo"]) == pytest.approx(float(reference["kl"]) + float(reference["rec"]), abs=0.01)
    assert _score(reference, "4.1") > 0  # training completed
    assert _unit_total(starter) == 0 and "unchanged starter" in starter["flags"]
    wrong = {"submission_1003": "1.2", "submission_1004": "2.1", "submission_1005": "3.3", "submission_1006": "2.3"}
    for submission, failing in wrong.items():
        row = rows[submission]
        assert _score(row, failing) == 0, (submission, failing)
        assert 0 < _unit_total(row) < unit_max, submission
    assert _score(rows["submission_1003"], "2.1") > 0  # a wrong sample_gaussian costs no KL points
    for broken in ("submission_1007", "submission_1008", "submission_1012"):  # vae.py unusable: utils.py still counts
        assert _score(rows[broken], "3.1") == 0 and _score(rows[broken], "2.1") > 0, broken
    assert float(rows["submission_1009"]["total"]) == 0  # raises at import: nothing can run
    copy = rows["submission_1010"]
    assert (copy["total"], copy["submission_sha256"]) == (reference["total"], reference["submission_sha256"])
    assert "identical files" in copy["flags"] and "submission_1001" in copy["flags"]
    assert "submission_1010" in reference["flags"]
    group = rows["submission_1011"]  # two students; their files in a subfolder, utils.py not done
    assert group["names"] == "Kurt Gödel; Lise Meitner" and group["sids"] == "05550200; 05550201"
    assert _score(group, "2.1") == 0 and not group["flags"]
    found = json.loads((out / "submissions" / "submission_1011" / "results.json").read_text())
    assert found["extra_data"]["submission_problems"] == []  # both files found in hw2/
    assert "crash" in rows["submission_1013"]["flags"]
    misnamed = json.loads((out / "submissions" / "submission_1012" / "results.json").read_text())
    assert "vae (1).py" in misnamed["output"]

    grids = sorted((out / "submissions").glob("*/samples.png"))
    assert out / "submissions" / "submission_1001" / "samples.png" in grids
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Niels &lt;b&gt;Bohr&lt;/b&gt;" in page and "<b>Bohr</b>" not in page
    rendered = render_page(out / "report.html", tmp_path)
    body = re.search(r"<body[^>]*>", rendered.dom).group(0)
    assert 'data-broken-images="0"' in body, body
    assert f'data-images="{len(PLOTS) + len(grids)}"' in body, body
    for plot in PLOTS:
        assert f'id="{plot}"' in rendered.dom
    table = re.search(r'<table id="scores".*?</table>', rendered.dom, re.S).group(0)
    assert table.count("<tr>") == len(class_students) + 1
    assert rendered.dom.count("<figcaption>") == len(grids)

    records = {path: path.stat().st_mtime_ns for path in (out / "submissions").glob(f"*/{RECORD_NAME}")}
    assert len(records) == len(class_students)
    assert main(arguments) == 0
    second_output = capsys.readouterr().out
    assert f"0 to grade, {len(class_students)} already graded" in second_output
    assert f"graded 0, kept {len(class_students)}" in second_output
    assert {path: path.stat().st_mtime_ns for path in records} == records  # nothing was graded again

    seconds = [float(row["seconds"]) for row in rows.values()]
    run = json.loads((out / RUN_NAME).read_text())  # the second run's
    with capsys.disabled():
        print(f"\nbatch of {len(seconds)}: first run {wall:.0f} s wall; one grading {min(seconds):.0f}-"
              f"{max(seconds):.0f} s (sum {sum(seconds):.0f} s, sum / 2 cores = {sum(seconds) / 2:.0f} s); "
              f"second run {run['wall_seconds']} s")
