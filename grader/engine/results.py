"""The results model and the one function that turns it into Gradescope's results.json.

Everything that goes into results.json passes through ``json_safe`` (in ``to_gradescope``): a NaN from a
diverged training, a lone surrogate in an exception message or a numpy scalar can never make the file
unwritable.
"""

import base64
import html
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

GRADER_FAULT_NOTE = "The autograder failed here, not your code: these points are not final and will be regraded."


class Outcome(StrEnum):
    PASSED = "passed"
    WRONG_ANSWER = "wrong answer"
    NOT_ATTEMPTED = "not attempted"
    STUDENT_ERROR = "error in your code"
    TIMED_OUT = "timed out"
    GRADER_FAULT = "autograder fault"

    @property
    def key(self) -> str:
        """The outcome as data (results.json's per-test ``extra_data.outcome``): "wrong_answer", ..."""
        return self.name.lower()


@dataclass
class CheckResult:
    name: str  # "<function>: <what the check asserts>", from the check's docstring
    number: str  # "2.1"
    max_score: float
    score: float
    outcome: Outcome
    output: str = ""
    visibility: str = "visible"
    hidden_detail: str = ""  # e.g. a grader fault's traceback: shown to staff only
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (caption, PNG bytes the check validated)
    cause: str = ""  # what went wrong, as data: "not_implemented", "exception", "crashed", "protocol", "timeout", ...

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED


@dataclass
class GradeResult:
    checks: list[CheckResult] = field(default_factory=list)
    output: str = ""  # the summary at the top of the student's page
    execution_time: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)  # by the grader's own evaluation of the trained model
    leaderboard: list[tuple[str, float, str]] = field(default_factory=list)  # (name, value, "asc" or "desc")
    extra_data: dict[str, object] = field(default_factory=dict)
    stdout_visibility: str = "hidden"

    @property
    def score(self) -> float:
        return round(sum(check.score for check in self.checks), 4)

    @property
    def max_score(self) -> float:
        return round(sum(check.max_score for check in self.checks), 4)

    @property
    def grader_fault(self) -> bool:
        return any(check.outcome is Outcome.GRADER_FAULT for check in self.checks)


def _finite_or_none(value: float) -> float | None:
    return value if isinstance(value, int | float) and math.isfinite(value) else None


MAX_JSON_DEPTH = 64


def json_safe(value: object, depth: int = 0) -> object:
    """``value`` as strict JSON data: non-finite floats become null, text is valid UTF-8 (a lone surrogate
    becomes "?"), keys are strings, tuples lists, numpy scalars numbers, anything else its ``str``."""
    if depth > MAX_JSON_DEPTH:
        return "<nested too deeply>"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else "<integer out of range>"  # JSON readers lose larger integers
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(str(key), depth + 1): json_safe(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item, depth + 1) for item in value]
    item = getattr(value, "item", None)  # numpy and torch scalars
    if callable(item) and getattr(value, "ndim", None) == 0:
        try:
            return json_safe(item(), depth + 1)
        except (TypeError, ValueError):
            pass
    return json_safe(str(value), depth + 1)


def _html_output(text: str, images: list[tuple[str, bytes]]) -> str:
    """A test's text as preformatted HTML followed by its images, embedded as data URIs (Gradescope shows
    the HTML of a test whose output_format is "html"; files beside results.json are not served)."""
    parts = [f"<pre>{html.escape(text)}</pre>"] if text else []
    for caption, png in images:
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(caption, quote=True)}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return "\n".join(parts)


def to_gradescope(result: GradeResult) -> dict:
    """The results.json document, following Gradescope's autograder specification."""
    tests = []
    for check in result.checks:
        output = check.output
        if check.outcome is not Outcome.PASSED:
            output = f"[{check.outcome.value}] {output}".rstrip()
        if check.outcome is Outcome.GRADER_FAULT:
            output = f"{output}\n{GRADER_FAULT_NOTE}"
        output_format = "text"
        if check.images:
            output, output_format = _html_output(output, check.images), "html"
        tests.append({
            "name": check.name,
            "number": check.number,
            "score": round(check.score, 4),
            "max_score": check.max_score,
            "status": "passed" if check.passed else "failed",
            "output": output,
            "output_format": output_format,
            "visibility": check.visibility,
            "extra_data": {"outcome": check.outcome.key, "cause": check.cause},
        })
        if check.hidden_detail:
            tests.append({
                "name": f"[staff] {check.name}: details",
                "number": f"{check.number}.staff",
                "score": 0,
                "max_score": 0,
                "status": "failed",
                "output": check.hidden_detail,
                "output_format": "text",
                "visibility": "hidden",
                "extra_data": {"outcome": "staff_detail", "cause": ""},
            })
    document: dict = {
        "score": result.score,
        "execution_time": round(result.execution_time, 1),
        "output": result.output,
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": result.stdout_visibility,
        "tests": tests,
        "extra_data": {**result.extra_data, "metrics": {k: _finite_or_none(v) for k, v in result.metrics.items()}},
    }
    board = [{"name": name, "value": round(value, 3), "order": order} for name, value, order in result.leaderboard
             if _finite_or_none(value) is not None]
    if board:
        document["leaderboard"] = board
    return json_safe(document)


def write_json_atomically(document: dict, path: Path) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump(document, handle, indent=2, allow_nan=False)
            handle.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
