"""Grade one submission of a homework: intake, workspace, the checks in order, the results, always a results.json.

submission -> sandboxed worker -> trusted checks -> GradeResult -> results.json and artifacts
"""

import math
import shutil
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from grader import GRADER_VERSION
from grader.engine.check_inputs import secret_kind
from grader.engine.homework import RESULTS_NAME, Homework
from grader.engine.results import CheckResult, GradeResult, Outcome, to_gradescope, write_json_atomically
from grader.grading import sandbox
from grader.grading.collector import GRADER_FAULT_MESSAGE, ResultCollector
from grader.grading.session import GradeConfig, GradingSession
from grader.grading.submission import Submission, load_submission
from grader.grading.workspace import create_workspace, temporary_holder

FIXTURES_PLUGIN = "grader.grading.fixtures"
CHECKS_CONFIG = Path(__file__).resolve().parent / "checks.ini"  # the checks' pytest configuration
PYTEST_BACKSTOP_SECONDS = 1_800  # the trusted side hanging: the worker's own deadlines are far shorter


def grade(homework: Homework, submission_path: Path, out: Path, config: GradeConfig | None = None) -> GradeResult:
    """Grade and write ``out/results.json``; never raises for anything the submission does."""
    config = config or GradeConfig()
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    try:
        result = _grade(homework, submission_path, out, config)
    except Exception as error:  # a fault of ours: still a valid results.json, and said so
        detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        result = GradeResult(
            checks=[CheckResult("autograder: ran to completion", "0.0", 0.0, 0.0, Outcome.GRADER_FAULT,
                                GRADER_FAULT_MESSAGE, hidden_detail=detail[-8000:])],
            output="The autograder failed before it could grade your submission. This is not your fault: "
                   "your instructors will see the error and regrade.",
        )
    result.execution_time = time.monotonic() - started
    result.extra_data.setdefault("grader_version", GRADER_VERSION)
    result.extra_data.setdefault("homework", homework.id)
    result.extra_data["grader_fault"] = result.grader_fault
    try:
        write_json_atomically(to_gradescope(result), out / RESULTS_NAME)
    except Exception as error:  # the last resort: a results.json that needs nothing from the result but its score
        detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        print(detail, file=sys.stderr)
        write_json_atomically(last_resort_document(result, detail), out / RESULTS_NAME)
    return result


def last_resort_document(result: GradeResult, detail: str) -> dict:
    """A minimal results.json for when the full one could not be written: the score, and the fault said plainly."""
    try:
        score = float(result.score)
        score = score if math.isfinite(score) and score >= 0 else 0.0
    except Exception:  # even the score could not be read
        score = 0.0
    return {
        "score": score,
        "execution_time": 0.0,
        "output": "The autograder could not write its full report. This is not your fault: your instructors will "
                  "see the error and regrade.",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [{"name": "[staff] writing results.json failed", "score": 0, "max_score": 0, "status": "failed",
                   "output": detail.encode("utf-8", "replace").decode("utf-8")[-8000:], "visibility": "hidden"}],
        "extra_data": {"grader_fault": True, "grader_version": GRADER_VERSION},
    }


SANDBOX_REFUSED_MESSAGE = (
    "The autograder refused to run your code: its sandbox is not safe on this machine (see the staff details). "
    "This is not your fault; your instructors have been told and will regrade."
)


def _refused(refusal: sandbox.SandboxRefused) -> GradeResult:
    """Grading stopped before any student code ran: one visible grader-fault entry, the reason for staff."""
    print(refusal, file=sys.stderr)  # loud in the platform's log as well
    check = CheckResult("autograder: the sandbox is safe to run your code in", "0.0", 0.0, 0.0, Outcome.GRADER_FAULT,
                        SANDBOX_REFUSED_MESSAGE, hidden_detail=str(refusal))
    return GradeResult(checks=[check], output=f"Not graded. {SANDBOX_REFUSED_MESSAGE}")


def _grade(homework: Homework, submission_path: Path, out: Path, config: GradeConfig) -> GradeResult:
    try:  # decided before any student code runs: who runs it, and whether the secrets are out of its reach
        isolation = sandbox.isolation_in_effect(extra_secrets=(out.resolve(),))
    except sandbox.SandboxRefused as refusal:
        return _refused(refusal)
    submission = load_submission(submission_path, homework.student_files)
    torch.set_num_threads(config.threads)
    with temporary_holder() as temporary:  # removed without recursion or following links, whatever is left in it
        workspace = create_workspace(homework, with_starter_for_missing(homework, submission),
                                     temporary / "workspace")
        session = GradingSession(homework, config, workspace, submission.digest)
        collector = ResultCollector(session)
        try:
            pytest_exit = pytest.main(pytest_arguments(homework, config), plugins=[collector])
        finally:
            session.close()
        worker_output = "\n".join(part for part in (worker.output() for worker in session.workers()) if part)
        _keep_artifacts(session, workspace.logs, out)
    if not collector.checks:
        raise RuntimeError(f"pytest ran no check (exit status {pytest_exit})")
    checks = sorted(collector.checks, key=lambda check: [int(p) for p in check.number.split(".") if p.isdigit()])
    checks += _missing_checks(homework, config, checks)
    if submission.problems:
        checks.insert(0, CheckResult(f"submission: {' and '.join(homework.student_files)}", "0.1", 0.0, 0.0,
                                     Outcome.WRONG_ANSWER, "\n".join(submission.problems)))
    result = GradeResult(checks=checks)
    result.metrics = dict(session.metrics)
    result.leaderboard = [(entry.name, result.metrics[entry.metric], entry.order) for entry in homework.leaderboard
                          if entry.metric in result.metrics]
    result.extra_data = {**_extra_data(homework, submission, config, session), "isolation": isolation.as_extra_data()}
    result.output = _summary(homework, result, submission, config, worker_output, isolation)
    return result


def _missing_checks(homework: Homework, config: GradeConfig, checks: list[CheckResult]) -> list[CheckResult]:
    """A declared check that did not run is a fault of the grader (its declaration and its checks disagree)."""
    ran = {check.number for check in checks}
    training_sections = {number.split(".")[0] for number in homework.points} - {f.section for f in homework.functions}
    expected = [number for number in homework.points
                if config.training or number.split(".")[0] not in training_sections]
    return [CheckResult(f"check {number}", number, homework.points[number], 0.0, Outcome.GRADER_FAULT,
                        GRADER_FAULT_MESSAGE, hidden_detail=f"check {number} is declared in {homework.folder}/"
                        "homework.toml but no check file ran it", cause="grader_fault")
            for number in expected if number not in ran]


def with_starter_for_missing(homework: Homework, submission: Submission) -> Submission:
    """Grade what is there: a missing file is replaced by the starter's, whose functions are not implemented."""
    files = dict(submission.files)
    for name in homework.student_files:
        if name not in files:
            files[name] = (homework.assignment_dir / name).read_bytes()
    return Submission(submission.expected, files=files, problems=list(submission.problems),
                      ignored=list(submission.ignored))


def pytest_arguments(homework: Homework, config: GradeConfig) -> list[str]:
    check_files = homework.unit_checks + (homework.training_checks if config.training else ())
    return [
        "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:terminal", "-p", "no:warnings",
        "-p", FIXTURES_PLUGIN, "--import-mode=importlib", "--rootdir", str(homework.folder.parent),
        "-c", str(CHECKS_CONFIG), f"--timeout={PYTEST_BACKSTOP_SECONDS}",
        *[str(homework.check_file(name)) for name in check_files],
    ]


def _keep_artifacts(session: GradingSession, logs: Path, out: Path) -> None:
    for name, png in session.artifacts.items():  # the images the grader drew from the returned weights
        (out / f"{name}.png").write_bytes(png)
    worker_logs = out / "worker-logs"
    shutil.rmtree(worker_logs, ignore_errors=True)
    shutil.copytree(logs, worker_logs)


def _reported(answer: dict) -> dict[str, object]:
    """The plain figures of a training answer (what the worker says of its run): information, never scored."""
    return {key: value for key, value in answer.items()
            if value is None or isinstance(value, bool | int | float | str)
            or (isinstance(value, dict) and all(isinstance(v, int | float | type(None)) for v in value.values()))}


def _extra_data(homework: Homework, submission: Submission, config: GradeConfig,
                session: GradingSession) -> dict[str, object]:
    extra: dict[str, object] = {
        "grader_version": GRADER_VERSION,
        "homework": homework.id,
        "submission_sha256": submission.digest,
        "development_run": config.training and not config.full_run(homework),
        "unit_only": not config.training,
        "threads": config.threads,
        "budgets_seconds": asdict(config.budgets),
        "submission_problems": submission.problems,
        "check_inputs": secret_kind(),
        "trainings": {outcome.run.name: {"iterations": outcome.iterations, "seed": outcome.seed,
                                         "reported": _reported(outcome.answer)}
                      for outcome in session.training_outcomes()},
    }
    violations = [f"{len(worker.survivors)} process(es) of the {worker.phase} worker outlived the sweep at the end "
                  f"of the phase (pids {worker.survivors[:5]})"
                  for worker in session.workers() if worker.survivors]
    if violations:  # never expected: the batch report flags it for staff
        extra["isolation_violations"] = violations
    return extra


def _summary(homework: Homework, result: GradeResult, submission: Submission, config: GradeConfig,
             worker_output: str, isolation: sandbox.Isolation) -> str:
    lines = [f"Score: {result.score:g} / {result.max_score:g}"]
    if not config.training:
        lines.append("UNIT CHECKS ONLY: training and what depends on it were not graded in this run.")
    elif not config.full_run(homework):
        runs = ", ".join(f"{config.iterations_of(run):,} instead of {run.iterations:,}" for run in homework.trainings)
        lines.append(f"DEVELOPMENT RUN: training iterations {runs}; the training score does not count.")
    if result.grader_fault:
        lines.append("An autograder fault occurred (marked below). It is not your fault; it will be regraded.")
    for problem in submission.problems:
        lines.append(f"Submission: {problem}")
    missing = [name for name in homework.student_files if name not in submission.files]
    if missing:
        lines.append(f"Graded with the empty starter in place of {', '.join(missing)}.")
    figures = [f"{metric.label}: {result.metrics[metric.name]:.{metric.digits}f}" for metric in homework.metrics
               if math.isfinite(result.metrics.get(metric.name, math.nan))]
    if figures:
        lines.append("Test set, grader's evaluator: " + "  ".join(figures))
    lines.append(isolation.summary())
    if worker_output:
        lines.append("\nWhat your code printed while being graded:\n" + worker_output)
    return "\n".join(lines)
