"""A batch's scores for TAs: ``DIR/scores.csv`` and ``DIR/report.html``.

Both are made from what the batch left on disk (``DIR/submissions/<id>/batch-record.json`` and the
grader's ``results.json``), so a resumed batch reports every submission, not only this run's.

The page is one self-contained file: the plots (matplotlib, Agg) and the sample grids are embedded as
base64 PNG data URIs, and a few lines of inline JavaScript sort the table and count broken images
(``<body data-broken-images="N">``, for the browser test).

Everything read from a submission's folder or from the metadata is untrusted (student code wrote parts of
it, and in sandbox mode none could have rewritten all of it): files are read with caps and without
following links, every field is type-checked, every text passes ``safe_text`` (no lone surrogate or control
character can make a file unwritable), is HTML-escaped in the page and, in the CSV, neutralised when a
spreadsheet would run it as a formula (``csv_text``). The sample grids are decoded with caps and re-encoded.

Flags come from data only: the record's status, each test's ``extra_data.outcome``/``cause``, and the results'
``extra_data`` (``grader_fault``, ``isolation``, ``isolation_violations``, ``submission_problems``), never
from words in a message, which a student's own text can contain.
"""

import base64
import csv
import datetime
import html
import io
import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from grader.classroom.batch import (
    MAX_RECORD_BYTES,
    MAX_RESULTS_BYTES,
    RUN_NAME,
    Record,
    Status,
    read_json_document,
    read_record,
    read_small_file,
    submission_dir,
)
from grader.classroom.export import ExportedSubmission, safe_text
from grader.engine.homework import RESULTS_NAME, Homework, HomeworkError, Metric
from grader.engine.results import Outcome
from grader.engine.scoring import Band, load_band
from grader.grading.submission import Submission

CSV_NAME = "scores.csv"
HTML_NAME = "report.html"
MAX_GRID_BYTES = 4 * 2**20
MAX_GRID_SIDE = 2_000  # pixels; the grader's grids are 602 x 302
PLOT_DPI = 100
SCORE_TOLERANCE = 0.01  # points: a difference with Gradescope's score below this is rounding
OVERFLOW_WIDTHS = 20  # values past the band by more than this many band widths are drawn at the edge
NOT_GRADED = "not graded"
NO_ISOLATION = "none"  # the sandbox mode without OS isolation
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # OWASP: what makes a spreadsheet read a cell as a formula
FLAG_DETAIL_CHARS = 300
# Per-check flags, from each test's extra_data (grader/results.py to_gradescope; grader/collector.py classify).
OUTCOME_FLAGS = {"timed_out": "timeout"}
CAUSE_FLAGS = {"crashed": "crash", "protocol": "isolation"}  # "protocol": the worker broke the grader's channel
GRADER_FAULT_OUTCOME = "grader_fault"
STAFF_SUFFIX = ".staff"


@dataclass(frozen=True)
class Flag:
    kind: str  # "timeout", "crash", "grader fault", "isolation", "identical files", ...
    message: str


@dataclass(frozen=True)
class CheckColumn:
    number: str
    name: str
    max_score: float

    @property
    def header(self) -> str:
        return f"{self.number} {self.name} (/{self.max_score:g})"


@dataclass
class Row:
    entry: ExportedSubmission
    record: Record | None
    results: dict | None
    scores: dict[str, float] = field(default_factory=dict)  # check number -> points
    passed: dict[str, bool] = field(default_factory=dict)  # check number -> passed
    flags: list[Flag] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.record.status if self.record else NOT_GRADED

    @property
    def message(self) -> str:
        """What the batch says about this grading (why it failed, what to do); "" for a normal grading."""
        return self.record.message if self.record else ""

    @property
    def extra(self) -> dict:
        extra = (self.results or {}).get("extra_data")
        return extra if isinstance(extra, dict) else {}

    @property
    def total(self) -> float | None:
        return finite((self.results or {}).get("score"))

    def metric(self, name: str) -> float | None:
        metrics = self.extra.get("metrics")
        return finite(metrics.get(name)) if isinstance(metrics, dict) else None

    @property
    def isolation_data(self) -> dict:
        isolation = self.extra.get("isolation")
        return isolation if isinstance(isolation, dict) else {}

    @property
    def isolation(self) -> str:
        """The sandbox mode this grading ran in; "none" if either the record or the results say so."""
        mode = self.isolation_data.get("mode")
        modes = {mode if isinstance(mode, str) else "", self.record.isolation if self.record else ""} - {""}
        if NO_ISOLATION in modes or self.isolation_data.get("os_isolation") is False:
            return NO_ISOLATION
        return safe_text(", ".join(sorted(modes)))

    @property
    def seconds(self) -> float | None:
        return self.record.seconds if self.record else None

    @property
    def sha256(self) -> str:
        return self.record.submission_sha256 if self.record else ""

    @property
    def grader_version(self) -> str:
        version = self.extra.get("grader_version") or (self.record.grader_version if self.record else "")
        return safe_text(version)

    @property
    def run_kind(self) -> str:
        """From the grading's own account (results' extra_data), else from the batch settings."""
        extra = self.extra
        settings = self.record.settings if self.record else {}
        if extra.get("unit_only") is True or settings.get("unit_only"):
            return "unit checks only"
        if extra.get("development_run") is True:
            iterations = settings.get("iterations")
            return f"development ({iterations:,} iterations)" if isinstance(iterations, int) else "development"
        return "full" if self.record else ""

    @property
    def names(self) -> str:
        return "; ".join(s.name for s in self.entry.submitters if s.name)

    @property
    def sids(self) -> str:
        return "; ".join(s.sid for s in self.entry.submitters if s.sid)

    @property
    def emails(self) -> str:
        return "; ".join(s.email for s in self.entry.submitters if s.email)

    @property
    def tests(self) -> list[dict]:
        tests = (self.results or {}).get("tests")
        return [t for t in tests if isinstance(t, dict)] if isinstance(tests, list) else []

    @property
    def checks(self) -> list[dict]:
        """The tests that are checks (not the staff-only details entries)."""
        return [t for t in self.tests if not check_number(t).endswith(STAFF_SUFFIX)]


@dataclass(frozen=True)
class ReportPaths:
    csv: Path
    html: Path


def finite(value: object) -> float | None:
    """A JSON number that is a real number (not a boolean, NaN or infinity), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return number if math.isfinite(number) else None


def check_number(test: dict) -> str:
    """A test's number ("2.1") as text, whatever results.json holds there."""
    return safe_text(test.get("number", ""))


def _check_order(number: str) -> list[int]:
    """"4.10" after "4.9"; a part that is not a short decimal number sorts first."""
    return [int(part) if part.isascii() and part.isdecimal() and len(part) < 10 else 0 for part in number.split(".")]


def _read_results(folder: Path) -> dict | None:
    try:
        loaded = read_json_document(folder / RESULTS_NAME, MAX_RESULTS_BYTES)
    except (OSError, ValueError, RecursionError):
        return None
    return loaded if isinstance(loaded, dict) else None


def load_rows(entries: list[ExportedSubmission], out: Path, homework: Homework) -> list[Row]:
    rows = []
    for entry in entries:
        folder = submission_dir(out, entry.id)
        record = read_record(folder)
        row = Row(entry, record, _read_results(folder) if record is not None else None)
        for test in row.checks:
            max_score, score = finite(test.get("max_score")), finite(test.get("score"))
            if max_score is not None and max_score > 0:
                number = check_number(test)
                row.scores[number] = score if score is not None else 0.0
                row.passed[number] = test.get("status") == "passed"
        rows.append(row)
    _flag(rows, homework)
    return rows


def check_columns(rows: list[Row]) -> list[CheckColumn]:
    columns: dict[str, CheckColumn] = {}
    for row in rows:
        for test in row.checks:
            number, max_score = check_number(test), finite(test.get("max_score"))
            if number in row.scores and number not in columns and max_score is not None:
                columns[number] = CheckColumn(number, safe_text(test.get("name", "")), max_score)
    return sorted(columns.values(), key=lambda c: _check_order(c.number))


# ---- flags ---------------------------------------------------------------------------------------------


def _first_line(text: object) -> str:
    text = safe_text(text).strip()
    return text.splitlines()[0][:200] if text else ""


def starter_digest(homework: Homework) -> str:
    source = homework.assignment_dir
    files = {name: (source / name).read_bytes() for name in homework.student_files if (source / name).is_file()}
    return Submission(homework.student_files, files=files).digest


def scored_bands(homework: Homework) -> dict[str, Band]:
    """The calibrated band of each scored metric (none for a homework not calibrated yet)."""
    bands = {}
    for metric in homework.metrics:
        if metric.scored:
            try:
                bands[metric.name] = load_band(homework, metric.name)
            except HomeworkError:
                continue
    return bands


def _flag(rows: list[Row], homework: Homework) -> None:
    bands = scored_bands(homework)
    for row in rows:
        try:
            row.flags.extend(_row_flags(row, bands, homework))
        except Exception as error:  # a result this report cannot read: said on its row, the others are reported
            row.flags.append(Flag("unreadable result", safe_text(f"{type(error).__name__}: {error}")))
    starter = starter_digest(homework)
    empty = Submission(homework.student_files).digest
    files = " and ".join(homework.student_files)
    by_digest: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.sha256:
            by_digest[row.sha256].append(row)
    for digest, group in by_digest.items():
        if digest == starter:
            for row in group:
                row.flags.append(Flag("unchanged starter", f"{files}: the starter's, nothing done"))
        elif digest == empty:
            for row in group:
                row.flags.append(Flag("no files", f"none of {files} was found in the upload"))
        elif len(group) > 1:
            for row in group:
                others = ", ".join(f"{o.entry.id} ({o.names or 'no name'})" for o in group if o is not row)
                row.flags.append(Flag("identical files", f"same {files} as {others}"))


def _outcome_prefix(outcome: str) -> str:
    """The "[timed out] " that to_gradescope puts before a failed check's message: taken off for display."""
    known = {member.key: member.value for member in Outcome}
    return f"[{known[outcome]}] " if outcome in known else ""


def _check_flags(row: Row) -> tuple[list[Flag], list[str]]:
    """Flags from each check's extra_data (outcome, cause), and the checks the grader says it failed in."""
    in_checks: dict[str, list[tuple[str, str]]] = defaultdict(list)  # kind -> [(check, its message)]
    faults = []
    for test in row.checks:
        data = test.get("extra_data")
        if not isinstance(data, dict):  # an older grader's results.json: no per-check flags
            continue
        outcome, cause = data.get("outcome"), data.get("cause")
        number = check_number(test)
        output = safe_text(test.get("output", ""))
        output = output.removeprefix(_outcome_prefix(outcome)) if isinstance(outcome, str) else output
        for kind in {OUTCOME_FLAGS.get(outcome, "") if isinstance(outcome, str) else "",
                     CAUSE_FLAGS.get(cause, "") if isinstance(cause, str) else ""} - {""}:
            in_checks[kind].append((number, output))
        if outcome == GRADER_FAULT_OUTCOME:
            faults.append(f"{number} {safe_text(test.get('name', ''))}")
    flags = [Flag(kind, f"in check{'s' if len(found) > 1 else ''} {', '.join(n for n, _ in found)}: "
                        f"{_first_line(found[0][1])}")  # one flag per kind: the checks, and the first one's message
             for kind, found in sorted(in_checks.items())]
    return flags, faults


def _texts(value: object) -> list[str]:
    """A list of texts from results.json (one text is a list of one; anything else, nothing)."""
    listed = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    return [safe_text(item) for item in listed if item not in (None, "")]


def _row_flags(row: Row, bands: dict[str, Band], homework: Homework) -> list[Flag]:
    flags = []
    message = row.message
    check_flags, faults = _check_flags(row)
    if row.record is None:
        flags.append(Flag("not graded", "no finished result: run the batch again"))
    elif row.status == Status.UNUSABLE:
        flags.append(Flag("upload unusable", message or "nothing to grade in the upload"))
    elif row.status == Status.TIMEOUT:
        flags.append(Flag("timeout", message or "the grading ran past the batch's time limit"))
    elif row.status == Status.CRASHED:
        flags.append(Flag("crash", message or "the grading process failed"))
    if row.status == Status.GRADER_FAULT or faults:
        flags.append(Flag("grader fault", "the grader failed in: " + ", ".join(faults) if faults
                          else message or "the grader reported a fault"))
    flags.extend(check_flags)
    violations = _texts(row.extra.get("isolation_violations"))
    if violations:
        flags.append(Flag("isolation", "; ".join(violations)[:FLAG_DETAIL_CHARS]))
    if row.isolation == NO_ISOLATION:
        reason = safe_text(row.isolation_data.get("reason") or "")
        flags.append(Flag("isolation off", f"graded in sandbox mode none{f' ({reason})' if reason else ''}: no OS "
                                           "isolation, student code ran as the grader's user"))
    if row.status != Status.UNUSABLE:
        problems = [*_texts(row.extra.get("submission_problems")), *_texts(list(row.entry.notes))]
        if problems:
            flags.append(Flag("upload problems", "; ".join(problems)[:FLAG_DETAIL_CHARS]))
    for name, band in bands.items():
        value = row.metric(name)
        if value is not None and band.needs_review(value):
            label = homework.metric(name).label
            flags.append(Flag("review", f"{label} {value:.2f} is better than any reference run ({band.review:g})"))
    gradescope, total = row.entry.gradescope_score, row.total
    if (gradescope is not None and total is not None and row.run_kind == "full"
            and abs(gradescope - total) > SCORE_TOLERANCE):
        flags.append(Flag("differs from Gradescope", f"Gradescope shows {gradescope:g}, this grading {total:g}"))
    return flags


# ---- scores.csv ----------------------------------------------------------------------------------------


def _number(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{round(value, digits):g}"


def csv_text(value: object) -> str:
    """A text cell of scores.csv: safe to write, and shown as text by a spreadsheet, never run as a formula.

    Names, SIDs, emails, messages and ids come from students and the metadata; a cell that starts with
    = + - @ tab or carriage return is a formula to Excel, LibreOffice and Google Sheets. OWASP's rule:
    such a cell starts with a single quote. Numbers (scores, metrics, seconds) never pass here: they stay numbers.
    """
    text = safe_text(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def write_csv(rows: list[Row], path: Path, homework: Homework) -> None:
    columns = check_columns(rows)
    metrics = [metric.name for metric in homework.metrics]
    header = ["submission_id", "names", "sids", "emails", "created_at",
              *[column.header for column in columns],
              "total", "max_total", *metrics, "status", "message", "seconds", "grader_version", "run",
              "isolation", "gradescope_score", "submission_sha256", "flags"]
    max_total = sum(column.max_score for column in columns)
    temporary = path.with_name(f".{path.name}.partial")
    # errors="replace": a last guard, every text cell already went through csv_text
    with open(temporary, "w", newline="", encoding="utf-8", errors="replace") as handle:
        writer = csv.writer(handle)
        writer.writerow([csv_text(name) for name in header])
        for row in rows:
            text = [csv_text(cell) for cell in (row.entry.id, row.names, row.sids, row.emails, row.entry.created_at)]
            writer.writerow([
                *text,
                *[_number(row.scores.get(column.number), 4) for column in columns],
                _number(row.total, 4), f"{max_total:g}" if row.results else "",
                *[_number(row.metric(name)) for name in metrics],
                csv_text(row.status), csv_text(row.message), _number(row.seconds, 1), csv_text(row.grader_version),
                csv_text(row.run_kind), csv_text(row.isolation), _number(row.entry.gradescope_score, 4),
                csv_text(row.sha256), csv_text("; ".join(f"{flag.kind}: {flag.message}" for flag in row.flags)),
            ])
    temporary.replace(path)


# ---- plots ---------------------------------------------------------------------------------------------


def _png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PLOT_DPI, bbox_inches="tight")
    return _png_data_uri(buffer.getvalue())


def _new_figure(width: float = 6.4, height: float = 3.6) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height))
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def plot_scores(rows: list[Row], max_total: float) -> str:
    totals = [row.total for row in rows if row.total is not None]
    figure, axes = _new_figure()
    bins = np.linspace(0, max(max_total, max(totals, default=0), 1), 21)
    axes.hist(totals, bins=bins, color="#4c72b0", edgecolor="white")
    median = statistics.median(totals) if totals else math.nan
    axes.set_title(f"Total score out of {max_total:g} ({len(totals)} graded, median {median:g})")
    axes.set_xlabel("points")
    axes.set_ylabel("submissions")
    return _figure_uri(figure)


def _plot_text(text: str) -> str:
    """A label for matplotlib: "$...$" would be parsed as mathematics (and a malformed one fails the drawing)."""
    return " ".join(safe_text(text).split()).replace("$", r"\$")  # tabs and line breaks: one space


def plot_pass_rates(rows: list[Row], columns: list[CheckColumn]) -> str:
    figure, axes = _new_figure(12.8, max(2.5, 0.3 * len(columns) + 1))
    labels, rates, counts = [], [], []
    for column in columns:
        results = [row.passed[column.number] for row in rows if column.number in row.passed]
        name = column.name if len(column.name) <= 80 else column.name[:79] + "…"
        labels.append(_plot_text(f"{column.number} {name}"))
        rates.append(100 * sum(results) / len(results) if results else 0.0)
        counts.append(f"{sum(results)}/{len(results)}")
    positions = np.arange(len(columns))[::-1]
    colours = ["#55a868" if r >= 80 else "#dd8452" if r >= 50 else "#c44e52" for r in rates]
    axes.barh(positions, rates, color=colours)
    axes.set_yticks(positions, labels, fontsize=9)
    for position, rate, count in zip(positions, rates, counts, strict=True):
        axes.text(min(rate + 0.5, 94), position, count, va="center", fontsize=9)
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of submissions that pass")
    axes.set_title("Pass rate per check")
    return _figure_uri(figure)


def plot_metric(rows: list[Row], metric: Metric, band: Band, development: str) -> str:
    """The distribution of a scored metric against its band, in the metric's own units, better to the left (for
    "asc" metrics lower is better; for the others higher is better and the axis runs from high to low)."""
    sign = 1.0 if band.order == "asc" else -1.0  # the layout is worked out on sign * value: better is smaller
    values = np.array([sign * v for row in rows if (v := row.metric(metric.name)) is not None])
    full, zero, review = sign * band.full, sign * band.zero, sign * band.review
    figure, axes = _new_figure(12.8, 4.0)
    width = zero - full
    cap = zero + OVERFLOW_WIDTHS * width
    low = min(review - 0.2 * width, float(values.min()) if values.size else math.inf)
    top = float(min(values.max(), cap)) if values.size else -math.inf
    high = max(zero + 0.3 * width, top + 0.03 * (top - low))
    axes.axvspan(sign * low, sign * full, color="#55a868", alpha=0.15, label="full points")
    axes.axvspan(sign * full, sign * zero, color="#dd8452", alpha=0.15, label="partial")
    axes.axvspan(sign * zero, sign * high, color="#c44e52", alpha=0.12, label="no points")
    axes.axvline(sign * review, color="#555555", linestyle="--", linewidth=1, label="review")
    overflow = int((values > cap).sum())
    axes.hist(sign * np.clip(values, None, cap), bins=np.sort(sign * np.linspace(low, high, 61)), color="#4c72b0",
              edgecolor="white", label="submissions")
    if overflow:
        axes.annotate(f"{overflow} beyond {sign * cap:g}\n(drawn at the edge)", xy=(sign * cap, 0), xytext=(-4, 30),
                      textcoords="offset points", ha="right", fontsize=8)
    axes.set_xlim(sign * low, sign * high)  # from better to worse: a decreasing axis when higher is better
    better = "lower is better" if band.order == "asc" else "higher is better, drawn from high to low"
    label = _plot_text(metric.label)
    axes.set_xlabel(f"{label} by the grader's evaluator ({better})")
    axes.set_ylabel("submissions")
    title = f"{label} against the scoring band ({values.size} trained)"
    axes.set_title(title + (f"\n{development}: the band is for a full run" if development else ""), fontsize=10)
    axes.legend(fontsize=8, loc="best")
    return _figure_uri(figure)


def plot_runtimes(rows: list[Row]) -> str:
    seconds = [row.seconds for row in rows if row.seconds is not None]
    figure, axes = _new_figure()
    axes.hist(seconds, bins=20, color="#8172b3", edgecolor="white")
    median = statistics.median(seconds) if seconds else math.nan
    axes.set_title(f"Grading time per submission (median {median:.0f} s, max {max(seconds, default=0):.0f} s)")
    axes.set_xlabel("seconds (wall clock, one grading process)")
    axes.set_ylabel("submissions")
    return _figure_uri(figure)


def safe_grid_uri(path: Path) -> str | None:
    """A student-written PNG as a data URI, decoded with caps and re-encoded; None if it is not a sane image."""
    try:
        data = read_small_file(path, MAX_GRID_BYTES)  # no link, FIFO or device: a regular file, capped
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG" or max(image.size) > MAX_GRID_SIDE:
                return None
            grey = image.convert("L")
        buffer = io.BytesIO()
        grey.save(buffer, format="PNG", optimize=True)
        return _png_data_uri(buffer.getvalue())
    except Exception:  # a hostile PNG can make the image library raise almost anything: it is simply not shown
        return None


# ---- report.html ---------------------------------------------------------------------------------------

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px 32px; color: #222; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
.meta { color: #555; } ul.meta { list-style: none; padding: 0; margin: 4px 0; }
.plots { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; }
.plots figure { margin: 0; } .plots img { max-width: 100%; height: auto; } .plots .span { grid-column: 1 / -1; }
table { border-collapse: collapse; font-size: 12px; } th, td { padding: 3px 6px; border-bottom: 1px solid #e4e4e4; }
th { background: #f4f4f4; text-align: left; position: sticky; top: 0; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[data-order="asc"]::after { content: " \\25B2"; }
table.sortable th[data-order="desc"]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.pass { background: #e6f4ea; } td.fail { background: #fce8e6; }
.status-graded { color: #1e7b34; } .status-bad { color: #b3261e; font-weight: 600; }
.flag { display: inline-block; padding: 0 6px; border-radius: 8px; background: #fde7c8; margin: 1px; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 16px; }
.gallery figure { margin: 0; border: 1px solid #ddd; padding: 6px; }
.gallery img { width: 100%; height: auto; image-rendering: pixelated; }
.gallery figcaption { font-size: 12px; color: #444; }
.wide { overflow-x: auto; }
"""

SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, index) {
    th.addEventListener("click", function () {
      var ascending = th.dataset.order !== "asc";
      table.querySelectorAll("th").forEach(function (h) { delete h.dataset.order; });
      th.dataset.order = ascending ? "asc" : "desc";
      var key = function (row) {
        var cell = row.cells[index], text = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent;
        text = text.trim();
        var number = Number(text);
        return text === "" ? null : isNaN(number) ? text.toLowerCase() : number;
      };
      var body = table.tBodies[0];
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return x === y ? 0 : x === null ? 1 : -1; }
        if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
        var order = x < y ? -1 : x > y ? 1 : 0;
        return ascending ? order : -order;
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
var sortLink = /^#sort=([^&]+?)(-desc)?$/.exec(decodeURIComponent(location.hash));
if (sortLink) {  // report.html#sort=total-desc: a link that opens the table sorted
  document.querySelectorAll('#scores th').forEach(function (th) {
    if (th.dataset.key === sortLink[1]) { th.click(); if (sortLink[2]) { th.click(); } }
  });
}
window.addEventListener("load", function () {
  var images = Array.from(document.images);
  var broken = images.filter(function (image) { return !image.complete || image.naturalWidth === 0; });
  document.body.dataset.images = String(images.length);
  document.body.dataset.brokenImages = String(broken.length);
});
"""


def _escape(value: object) -> str:
    return html.escape(safe_text(value), quote=True)


def _cell(text: object, value: object = None, css: str = "") -> str:
    attributes = f' class="{css}"' if css else ""
    if value is not None:
        attributes += f' data-value="{_escape(value)}"'
    return f"<td{attributes}>{_escape(text)}</td>"


def _table(rows: list[Row], columns: list[CheckColumn], homework: Homework) -> str:
    headers = ["submission", "names", "sid", "total", *[c.number for c in columns],
               *[metric.label for metric in homework.metrics], "status", "seconds", "flags"]
    titles = {c.number: c.header for c in columns}
    head = "".join(f'<th data-key="{_escape(h.lower())}" title="{_escape(titles.get(h, h))}">{_escape(h)}</th>'
                   for h in headers)
    body = []
    for row in rows:
        cells = [_cell(row.entry.id), _cell(row.names), _cell(row.sids),
                 _cell(_number(row.total, 2), row.total if row.total is not None else "", "num")]
        for column in columns:
            score = row.scores.get(column.number)
            css = "num " + ("pass" if row.passed.get(column.number) else "fail") if score is not None else "num"
            cells.append(_cell(_number(score, 2), score if score is not None else "", css))
        for metric in homework.metrics:
            value = row.metric(metric.name)
            cells.append(_cell(_number(value, 2), value if value is not None else "", "num"))
        status_css = "status-graded" if row.status == Status.GRADED else "status-bad"
        title = f' title="{_escape(row.message)}"' if row.message else ""
        cells.append(f'<td class="{status_css}"{title}>{_escape(row.status)}</td>')
        cells.append(_cell(_number(row.seconds, 1), row.seconds if row.seconds is not None else "", "num"))
        cells.append(f'<td data-value="{len(row.flags)}">'
                     + "".join(f'<span class="flag" title="{_escape(f.message)}">{_escape(f.kind)}</span>'
                               for f in row.flags) + "</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="wide"><table id="scores" class="sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _flag_table(rows: list[Row]) -> str:
    flagged = [(row, flag) for row in rows for flag in row.flags]
    if not flagged:
        return '<p id="flags">No submission was flagged.</p>'
    lines = "".join(f"<tr>{_cell(row.entry.id)}{_cell(row.names)}{_cell(flag.kind)}{_cell(flag.message)}</tr>"
                    for row, flag in sorted(flagged, key=lambda pair: (pair[1].kind, pair[0].entry.id)))
    return (f'<table id="flags" class="sortable"><thead><tr><th>submission</th><th>names</th><th>flag</th>'
            f"<th>detail</th></tr></thead><tbody>{lines}</tbody></table>")


def _gallery(rows: list[Row], out: Path, homework: Homework) -> str:
    if not homework.report_grid:
        return '<p id="gallery">This homework declares no grid for the report.</p>'
    cards = []
    scored = next((metric for metric in homework.metrics if metric.scored), None)

    def key(row: Row) -> tuple[bool, float, str]:
        value = row.metric(scored.name) if scored else None
        return value is None, (value or 0.0) * (1 if scored is None or scored.order == "asc" else -1), row.entry.id

    for row in sorted(rows, key=key):
        uri = safe_grid_uri(submission_dir(out, row.entry.id) / f"{homework.report_grid}.png")
        if uri is None:
            continue
        figure = "".join(f" · {metric.label} {'n/a' if (value := row.metric(metric.name)) is None else f'{value:.4g}'}"
                         for metric in homework.metrics if metric.scored)
        caption = f"{row.entry.id} · {row.names or 'no name'}{figure} · score {_number(row.total, 2) or 'n/a'}"
        cards.append(f'<figure><img src="{uri}" alt="{_escape(homework.report_grid)} of {_escape(row.entry.id)}">'
                     f"<figcaption>{_escape(caption)}</figcaption></figure>")
    if not cards:
        return '<p id="gallery">No sample grids: training was not run (unit checks only) or produced none.</p>'
    return f'<div id="gallery" class="gallery">{"".join(cards)}</div>'


def _summary(rows: list[Row], out: Path) -> str:
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row.status] += 1
    totals = [row.total for row in rows if row.total is not None]
    kinds = sorted({row.run_kind for row in rows if row.run_kind})
    versions = sorted({row.grader_version for row in rows if row.grader_version})
    flagged = sum(1 for row in rows if row.flags)
    modes: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.isolation:
            modes[row.isolation] += 1
    lines = [f"{len(rows)} submissions: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
             + f"; {flagged} flagged",
             f"grader {', '.join(versions) or 'n/a'}; run: {', '.join(kinds) or 'n/a'}",
             "isolation: " + (", ".join(f"{mode} ({n})" for mode, n in sorted(modes.items())) or "n/a")]
    if modes.get(NO_ISOLATION):
        lines.append(f"WARNING: {modes[NO_ISOLATION]} submission(s) were graded with NO OS isolation (sandbox mode "
                     "none): their code ran as the grader's user, and a process that detached could have outlived "
                     "the grading and changed files, these results included. Grade again as root with bubblewrap.")
    if totals:
        lines.append(f"score: mean {statistics.fmean(totals):.1f}, median {statistics.median(totals):g}, "
                     f"max {max(totals):g}")
    try:
        run = read_json_document(out / RUN_NAME, MAX_RECORD_BYTES)
        lines.append(f"last run: {run['graded']} graded, {run['skipped']} kept from before, {run['wall_seconds']:g} s "
                     f"wall clock with {run['jobs']} job(s) x {run['threads']} torch thread(s) on {run['cores']} "
                     f"core(s)")
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        pass
    lines.append("generated " + datetime.datetime.now().astimezone().isoformat(timespec="seconds"))
    return '<ul class="meta">' + "".join(f"<li>{_escape(line)}</li>" for line in lines) + "</ul>"


def _figure(key: str, title: str, draw: Callable[[], str]) -> str:
    """One plot of the page; a plot that cannot be drawn (values no grading writes) is a line saying so."""
    identifier, css = key.split()[0], " ".join(key.split()[1:])
    try:
        uri = draw()
    except Exception as error:  # e.g. a results.json rewritten with absurd numbers: the rest of the page stands
        return f'<figure id="{identifier}" class="{css}"><p>{_escape(title)}: not drawn ({_escape(error)})</p></figure>'
    return f'<figure id="{identifier}" class="{css}"><img src="{uri}" alt="{_escape(title)}"></figure>'


def render_html(rows: list[Row], out: Path, homework: Homework) -> str:
    columns = check_columns(rows)
    bands = scored_bands(homework)
    max_total = sum(column.max_score for column in columns)
    development = next((row.run_kind for row in rows if row.run_kind.startswith("development")), "")
    trained = {name for name in bands if any(row.metric(name) is not None for row in rows)}
    plots = [("plot-scores", "Score histogram", lambda: plot_scores(rows, max_total)),
             ("plot-runtimes", "Grading time", lambda: plot_runtimes(rows)),
             ("plot-pass-rates span", "Pass rate per check", lambda: plot_pass_rates(rows, columns))]
    for name in sorted(trained):
        metric, band = homework.metric(name), bands[name]
        plots.append((f"plot-{name} span", f"{metric.label} against the band",
                      lambda metric=metric, band=band: plot_metric(rows, metric, band, development)))
    figures = "".join(_figure(key, title, draw) for key, title, draw in plots)
    no_metric = "" if trained else "<p>No distribution of a scored metric: no submission was trained in this batch.</p>"
    title = _escape(f"{homework.id}: batch grading report")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{STYLE}</style></head>
<body data-broken-images="unchecked">
<h1>{title}</h1>
<p class="meta">{_escape(homework.title)}</p>
{_summary(rows, out)}
<h2>Flagged submissions</h2>
{_flag_table(rows)}
<h2>Distributions</h2>
<div class="plots">{figures}</div>{no_metric}
<h2>Scores</h2>
<p class="meta">Click a column to sort (or open report.html#sort=total-desc). Check columns: hover for the
check's name. Per-submission results, logs and grids: submissions/&lt;id&gt;/ beside this page.</p>
{_table(rows, columns, homework)}
<h2>Samples</h2>
{_gallery(rows, out, homework)}
<script>{SCRIPT}</script>
</body></html>
"""


def write_report(entries: list[ExportedSubmission], out: Path, homework: Homework) -> ReportPaths:
    """Write ``out/scores.csv`` and ``out/report.html`` from the finished results under ``out/submissions``."""
    rows = load_rows(entries, out, homework)
    paths = ReportPaths(out / CSV_NAME, out / HTML_NAME)
    write_csv(rows, paths.csv, homework)
    temporary = paths.html.with_name(f".{HTML_NAME}.partial")
    # errors="replace": a last guard, see _escape
    temporary.write_text(render_html(rows, out, homework), encoding="utf-8", errors="replace")
    temporary.replace(paths.html)
    return paths

