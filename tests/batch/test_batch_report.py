"""scores.csv and report.html from finished results (written here by hand, no grading), checked in Chromium."""

import csv
import io
import json
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from grader import GRADER_VERSION
from grader.batch import RECORD_NAME, Record, Status, submission_dir
from grader.export import ExportedSubmission, Submitter
from grader.report import load_rows, safe_grid_uri, starter_digest, write_report
from grader.scoring import load_band
from tests.batch.classroom import render_page

CHECKS = [("1.1", "sample_gaussian: shape", 3.0), ("2.1", "kl_normal: closed form", 5.0),
          ("4.2", "training: test NELBO in the band", 30.0)]
FULL = {"iterations": 20_000, "seed": 0, "unit_only": False}


def _results(passed: set[str], nelbo: float | None, outputs: dict[str, str] | None = None,
             fault: bool = False, kinds: dict[str, tuple[str, str]] | None = None) -> dict:
    """A results.json as the grader writes it; ``kinds``: check -> (outcome, cause) of a failed check
    (default: a wrong answer), the per-test extra_data of grader/results.py's to_gradescope."""
    def extra(number: str) -> dict:
        outcome, cause = ("passed", "") if number in passed else (kinds or {}).get(number,
                                                                                  ("wrong_answer", "wrong_answer"))
        return {"outcome": outcome, "cause": cause}

    tests = [{"name": name, "number": number, "score": points if number in passed else 0.0, "max_score": points,
              "status": "passed" if number in passed else "failed", "output": (outputs or {}).get(number, ""),
              "extra_data": extra(number)}
             for number, name, points in CHECKS]
    tests.append({"name": "[staff] details", "number": "2.1.staff", "score": 0, "max_score": 0, "status": "failed",
                  "output": "hidden", "extra_data": {"outcome": "staff_detail", "cause": ""}})
    metrics = {} if nelbo is None else {"nelbo": nelbo, "kl": 20.0, "rec": nelbo - 20.0}
    return {"score": sum(t["score"] for t in tests), "tests": tests,
            "extra_data": {"grader_version": GRADER_VERSION, "grader_fault": fault, "metrics": metrics}}


def _grid_png() -> bytes:
    pixels = (np.random.default_rng(0).random((302, 602)) > 0.8).astype(np.uint8) * 255
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _finish(out: Path, entry: ExportedSubmission, status: Status, digest: str, results: dict | None,
            samples: bytes | None = None, seconds: float = 30.0) -> None:
    folder = submission_dir(out, entry.id)
    folder.mkdir(parents=True)
    record = Record(entry.id, digest, GRADER_VERSION, FULL, status.value, seconds,
                    "no result within 2400 s; killed" if status is Status.TIMEOUT else "")
    (folder / RECORD_NAME).write_text(json.dumps(asdict(record)))
    if results is not None:
        (folder / "results.json").write_text(json.dumps(results))
    if samples is not None:
        (folder / "samples.png").write_bytes(samples)


@pytest.fixture
def finished_batch(tmp_path) -> tuple[list[ExportedSubmission], Path]:
    band = load_band()
    out = tmp_path / "report"
    good = band.full_at_or_below - 1.0
    people = {key: ExportedSubmission(f"submission_{key}", tmp_path / key,
                                      (Submitter(name, f"00{key}", f"{key}@x.edu"),), "2025-02-01T23:59:00-08:00",
                                      gradescope)
              for key, name, gradescope in [
                  ("1", "Ada Lovelace", 38.0), ("2", "Carl Gauss", 3.0), ("3", "Dora Noether", None),
                  ("4", "Emil Artin", None), ("5", "<script>alert('x')</script>, Jr.", 38.0),
                  ("6", "Felix Klein", None), ("7", "Blaise Pascal", None), ("8", "Grace Hopper", None)]}
    _finish(out, people["1"], Status.GRADED, "a" * 64, _results({"1.1", "2.1", "4.2"}, good), _grid_png(), 250.0)
    _finish(out, people["2"], Status.GRADED, "b" * 64, _results({"1.1"}, band.zero_at_or_above + 500),
            b"\x89PNG\r\n\x1a\n not really a png", 260.0)
    _finish(out, people["3"], Status.GRADER_FAULT, "c" * 64, _results(set(), None, fault=True,
            outputs={"2.1": "[autograder fault] The autograder itself failed"},
            kinds={"2.1": ("grader_fault", "grader_fault")}), seconds=20.0)
    _finish(out, people["4"], Status.TIMEOUT, "d" * 64, None, seconds=2400.0)
    _finish(out, people["5"], Status.GRADED, "a" * 64, _results({"1.1", "2.1", "4.2"}, good - 0.5), _grid_png())
    _finish(out, people["6"], Status.GRADED, "e" * 64, _results(set(), None, outputs={
        "1.1": "[timed out] Your code did not finish in time: no answer within 60 s.",
        "2.1": "[error in your code] Your code stopped the process: the worker was ended by signal 9 (SIGKILL)"},
        kinds={"1.1": ("timed_out", "timeout"), "2.1": ("student_error", "crashed")}))
    _finish(out, people["7"], Status.GRADED, starter_digest(), _results(set(), None))
    return list(people.values()), out  # submission_8 has no result at all


def test_csv_has_one_row_per_submission_with_checks_metrics_and_flags(finished_batch):
    entries, out = finished_batch
    paths = write_report(entries, out)
    rows = list(csv.DictReader(paths.csv.open(encoding="utf-8")))
    assert [row["submission_id"] for row in rows] == [e.id for e in entries]
    header = list(rows[0])
    assert header[:5] == ["submission_id", "names", "sids", "emails", "created_at"]
    assert header[5:8] == ["1.1 sample_gaussian: shape (/3)", "2.1 kl_normal: closed form (/5)",
                           "4.2 training: test NELBO in the band (/30)"]  # staff entries are not checks
    for column in ("total", "max_total", "nelbo", "kl", "rec", "status", "seconds", "grader_version"):
        assert column in header
    ada = rows[0]
    assert (ada["names"], ada["sids"], ada["emails"]) == ("Ada Lovelace", "001", "1@x.edu")
    assert (ada["1.1 sample_gaussian: shape (/3)"], ada["total"], ada["max_total"]) == ("3", "38", "38")
    assert float(ada["nelbo"]) == pytest.approx(load_band().full_at_or_below - 1.0)
    assert ada["status"] == "graded" and ada["grader_version"] == GRADER_VERSION and ada["run"] == "full"
    by_id = {row["submission_id"]: row for row in rows}
    assert by_id["submission_4"]["status"] == "timeout" and by_id["submission_4"]["total"] == ""
    assert by_id["submission_8"]["status"] == "not graded"
    assert by_id["submission_5"]["names"] == "<script>alert('x')</script>, Jr."  # CSV keeps it as it is

    flags = {row["submission_id"]: row["flags"] for row in rows}
    assert "identical files: same utils.py and vae.py as submission_5" in flags["submission_1"]
    assert "identical files" in flags["submission_5"]
    assert "grader fault" in flags["submission_3"] and "2.1 kl_normal" in flags["submission_3"]
    assert "timeout: no result within 2400 s" in flags["submission_4"]
    assert "timeout: in check 1.1: Your code did not finish" in flags["submission_6"]
    assert "crash: in check 2.1: Your code stopped the process" in flags["submission_6"]
    assert "unchanged starter" in flags["submission_7"]
    assert "not graded" in flags["submission_8"]
    assert "differs from Gradescope: Gradescope shows 38, this grading 38" not in flags["submission_1"]


def test_gradescope_disagreement_is_flagged_for_full_runs(finished_batch):
    entries, out = finished_batch
    entries[1] = ExportedSubmission(entries[1].id, entries[1].path, entries[1].submitters, "", 10.0)
    rows = {row.entry.id: row for row in load_rows(entries, out)}
    assert [f.message for f in rows["submission_2"].flags if f.kind == "differs from Gradescope"] == [
        "Gradescope shows 10, this grading 3"]


def test_only_sane_grids_are_embedded(tmp_path):
    good, bad, huge = tmp_path / "good.png", tmp_path / "bad.png", tmp_path / "huge.png"
    good.write_bytes(_grid_png())
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    Image.new("L", (5000, 10)).save(huge)
    assert safe_grid_uri(good).startswith("data:image/png;base64,")
    assert safe_grid_uri(bad) is None and safe_grid_uri(huge) is None and safe_grid_uri(tmp_path / "no.png") is None


def test_page_renders_in_chromium_with_plots_table_and_no_broken_image(finished_batch, tmp_path):
    entries, out = finished_batch
    paths = write_report(entries, out)
    page = paths.html.read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert 'src="file:' not in page and 'src="http' not in page  # self-contained

    rendered = render_page(paths.html, tmp_path)
    body = re.search(r"<body[^>]*>", rendered.dom).group(0)
    assert 'data-broken-images="0"' in body
    plots = ("plot-scores", "plot-runtimes", "plot-pass-rates", "plot-nelbo")
    images = int(re.search(r'data-images="(\d+)"', body).group(1))
    assert images == len(plots) + 2  # two sane sample grids; the corrupt one is left out, not shown broken
    for plot in plots:
        assert f'id="{plot}"' in rendered.dom
    table = re.search(r'<table id="scores".*?</table>', rendered.dom, re.S).group(0)
    assert table.count("<tr>") == len(entries) + 1  # header + one row each
    assert 'id="gallery"' in rendered.dom and rendered.dom.count("<figcaption>") == 2
    assert Image.open(rendered.screenshot).size == (1400, 3000)


def test_table_sorts_by_a_column(finished_batch, tmp_path):
    entries, out = finished_batch
    paths = write_report(entries, out)
    sorted_page = tmp_path / "sorted"
    sorted_page.mkdir()
    rendered = render_page(paths.html, sorted_page, fragment="sort=seconds-desc", screenshot=False)
    table = re.search(r'<table id="scores".*?</table>', rendered.dom, re.S).group(0)
    first_ids = re.findall(r"<tr><td>(submission_\d+)</td>", table)
    assert first_ids[0] == "submission_4"  # 2,400 s, the timeout
    assert first_ids[-1] == "submission_8"  # no time at all: last either way
