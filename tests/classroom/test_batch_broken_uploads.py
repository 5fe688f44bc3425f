"""A class of 20 uploads of which 5 cannot be graded, through the real grader: the 15 are graded, the 5 reported.

Unit checks only (``--unit-only``), so that the 15 gradings take about a minute on two cores; the timing is
printed (run with -s), never asserted.
"""

import csv
import html
import re
import time
from pathlib import Path

from grader.__main__ import main
from grader.classroom.batch import RECORD_NAME, Status
from grader.instructor.catalogue import student_sources
from tests.classroom.broken_uploads import BROKEN
from tests.conftest import FLAGSHIP

ROOT = Path(__file__).resolve().parents[2]
GOOD_UPLOADS = 15
UNIT_POINTS = 48.0  # checks 1.x, 2.x and 3.x


def _class_of_twenty(uploads: Path) -> tuple[list[str], dict[str, Path]]:
    """15 correct uploads (the reference's files, each with its own comment: no two identical) and the 5 broken."""
    uploads.mkdir()
    good = []
    for number in range(GOOD_UPLOADS):
        folder = uploads / f"student{number:02d}"
        folder.mkdir()
        for name in ("utils.py", "vae.py"):
            (folder / name).write_text(student_sources(FLAGSHIP)[name] + f"\n# student {number}\n")
        good.append(folder.name)
    broken = {name: build(uploads) for name, build in BROKEN.items()}
    return good, broken


def test_twenty_uploads_with_five_broken_grade_the_fifteen_and_report_the_five(tmp_path, capsys):
    good, broken = _class_of_twenty(tmp_path / "uploads")
    out = tmp_path / "reports"
    started = time.monotonic()
    assert main(["batch", str(tmp_path / "uploads"), "--out", str(out), "--unit-only", "--jobs", "2",
                 "--no-progress"]) == 0
    wall = time.monotonic() - started
    output = capsys.readouterr().out
    assert "20 submissions: 15 to grade" in output and "5 with nothing to grade" in output

    rows = {row["submission_id"]: row for row in csv.DictReader((out / "scores.csv").open(encoding="utf-8"))}
    assert len(rows) == 20
    for name in good:
        assert rows[name]["status"] == Status.GRADED, (name, rows[name]["message"])
        assert float(rows[name]["total"]) == UNIT_POINTS, name
        assert not rows[name]["flags"], (name, rows[name]["flags"])
    page = (out / "report.html").read_text(encoding="utf-8")
    flagged = re.search(r'<table id="flags".*?</table>', page, re.S).group(0)
    for kind, path in broken.items():
        row = rows[path.stem if path.suffix == ".zip" else path.name]
        assert row["status"] == Status.UNUSABLE, (kind, row["status"], row["message"])
        assert row["message"].startswith(("nothing to grade: ", "the upload could not be read (")), kind
        assert "Ask the student to resubmit" in row["message"] and row["total"] == "", kind
        assert "upload unusable: " in row["flags"], kind
        assert f"<td>{row['submission_id']}</td>" in flagged  # in the page's flagged submissions, with its message
        assert html.escape(row["message"][:60], quote=True) in flagged, kind
        assert (out / "submissions" / row["submission_id"] / RECORD_NAME).is_file()
    seconds = [float(rows[name]["seconds"]) for name in good]
    with capsys.disabled():
        print(f"\n20 uploads, 5 broken, unit checks only, 2 jobs: {wall:.0f} s wall; one grading "
              f"{min(seconds):.1f}-{max(seconds):.1f} s (sum {sum(seconds):.0f} s)")
