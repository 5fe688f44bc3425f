"""A pytest plugin that runs a homework's checks and collects one CheckResult per check.

A check's number and visibility come from gradescope-utils' decorators (``@number``, ``@visibility``), its
points from its homework's declaration, its name from its docstring; ``earn(fraction)``
(grader/grading/fixtures.py) gives partial credit. What went wrong is classified from the exception: the
stub's NotImplementedError, an exception in the student's code, a wrong answer, a timeout, or, for anything
else, a fault of the grader itself.
"""

import traceback
from dataclasses import dataclass

import pytest

from grader.engine.feedback import WrongAnswer
from grader.engine.results import CheckResult, Outcome
from grader.grading.session import GradingSession
from grader.grading.worker_client import (
    NotImplementedYet,
    StudentError,
    WorkerCrashed,
    WorkerFailure,
    WorkerProtocolError,
    WorkerTimeout,
)

SESSION = pytest.StashKey[GradingSession]()  # read by the fixtures in grader/grading/fixtures.py
FAILURE = pytest.StashKey[BaseException]()
NOTES = pytest.StashKey[list[str]]()
IMAGES = pytest.StashKey[list[tuple[str, bytes]]]()  # (caption, PNG bytes)
FRACTION = pytest.StashKey[float]()  # the share of its points a check earned (the ``earn`` fixture)
GRADER_FAULT_MESSAGE = "The autograder itself failed while running this check. This is not your fault."


@dataclass(frozen=True)
class Classified:
    outcome: Outcome
    message: str  # for the student
    cause: str  # as data, for reports: "not_implemented", "timeout", "exception", "crashed", "protocol", ...
    detail: str = ""  # for staff only


def classify(error: BaseException) -> Classified:
    if isinstance(error, NotImplementedYet):
        return Classified(Outcome.NOT_ATTEMPTED, f"Not implemented yet: the function raised {error.message}",
                          "not_implemented")
    if isinstance(error, WorkerTimeout):
        return Classified(Outcome.TIMED_OUT, (f"Your code did not finish in time: {error.message}. Look for an "
                                              "endless loop or work that grows with the data (Python loops over "
                                              "pixels or images)."), "timeout")
    if isinstance(error, WorkerCrashed):
        return Classified(Outcome.STUDENT_ERROR, f"Your code stopped the process: {error.message}", "crashed")
    if isinstance(error, StudentError):
        student_traceback = f"\n{error.traceback}" if error.traceback else ""
        return Classified(Outcome.STUDENT_ERROR, f"Your code raised an error: {error.message}{student_traceback}",
                          "exception")
    if isinstance(error, WorkerProtocolError):
        return Classified(Outcome.STUDENT_ERROR, (f"{error.message}. Your code may have written to the grader's "
                                                  "channel or replaced built-in functions."), "protocol")
    if isinstance(error, WorkerFailure):
        return Classified(Outcome.STUDENT_ERROR, error.message, error.kind)
    if isinstance(error, WrongAnswer | AssertionError):
        return Classified(Outcome.WRONG_ANSWER, str(error), "wrong_answer")
    detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return Classified(Outcome.GRADER_FAULT, GRADER_FAULT_MESSAGE, "grader_fault", detail[-8000:])


class ResultCollector:
    """Register with ``pytest.main(..., plugins=[collector])``; read ``collector.checks`` afterwards.

    A check's points are its homework's (``homework.toml``, [points]), found by the check's ``@number``.
    """

    def __init__(self, session: GradingSession) -> None:
        self.session = session
        self.checks: list[CheckResult] = []

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[SESSION] = self.session

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
        report = yield
        if call.excinfo is not None and FAILURE not in item.stash:
            item.stash[FAILURE] = call.excinfo.value
        if call.when == "teardown":
            self.checks.append(self._result(item))
        return report

    def _result(self, item: pytest.Item) -> CheckResult:
        function = item.obj
        name = (function.__doc__ or item.name).strip().splitlines()[0]
        number = str(getattr(function, "__number__", ""))
        visibility = getattr(function, "__visibility__", "visible")
        declared = self.session.homework.points.get(number)
        if declared is None:
            detail = (f"check {number or item.nodeid} has no points in {self.session.homework.folder}/homework.toml "
                      "[points]; declare them there")
            return CheckResult(name, number or "0.0", 0.0, 0.0, Outcome.GRADER_FAULT, GRADER_FAULT_MESSAGE,
                               visibility, hidden_detail=detail, cause="grader_fault")
        max_score = float(declared)
        notes = "\n".join(item.stash.get(NOTES, []))
        images = list(item.stash.get(IMAGES, []))
        failure = item.stash.get(FAILURE, None)
        fraction = item.stash.get(FRACTION, None)
        if failure is None:
            score = max_score if fraction is None else round(max_score * fraction, 4)
            return CheckResult(name, number, max_score, score, Outcome.PASSED, notes, visibility, images=images)
        classified = classify(failure)
        score = 0.0
        if classified.outcome is Outcome.WRONG_ANSWER and fraction is not None:
            score = round(max_score * fraction, 4)
        output = "\n".join(part for part in (classified.message, notes) if part)
        return CheckResult(name, number, max_score, score, classified.outcome, output, visibility,
                           hidden_detail=classified.detail, images=images, cause=classified.cause)
