"""Grade one submission: intake, workspace, the checks in order, the results, always a results.json.

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

from grader import GRADER_VERSION, sandbox
from grader.check_inputs import secret_kind
from grader.collector import GRADER_FAULT_MESSAGE, ResultCollector
from grader.results import CheckResult, GradeResult, Outcome, to_gradescope, write_json_atomically
from grader.session import FULL_ITERATIONS, GradeConfig, GradingSession
from grader.submission import EXPECTED_FILES, Submission, load_submission
from grader.workspace import PROVIDED_SOURCE, create_workspace, temporary_holder

CHECKS_DIR = Path(__file__).resolve().parent / "checks"
UNIT_CHECK_FILES = ("test_sample_gaussian.py", "test_kl_normal.py", "test_negative_elbo_bound.py")
TRAINING_CHECK_FILES = ("test_training.py", "test_samples.py")
RESULTS_NAME = "results.json"
PYTEST_BACKSTOP_SECONDS = 1_800  # the trusted side hanging: the worker's own deadlines are far shorter


def grade(submission_path: Path, out: Path, config: GradeConfig | None = None) -> GradeResult:
    """Grade and write ``out/results.json``; never raises for anything the submission does."""
    config = config or GradeConfig()
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    try:
        result = _grade(submission_path, out, config)
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


def _grade(submission_path: Path, out: Path, config: GradeConfig) -> GradeResult:
    try:  # decided before any student code runs: who runs it, and whether the secrets are out of its reach
        isolation = sandbox.isolation_in_effect(extra_secrets=(out.resolve(),))
    except sandbox.SandboxRefused as refusal:
        return _refused(refusal)
    submission = load_submission(submission_path)
    torch.set_num_threads(config.threads)
    with temporary_holder() as temporary:  # removed without recursion or following links, whatever is left in it
        workspace = create_workspace(with_starter_for_missing(submission), temporary / "workspace")
        session = GradingSession(config, workspace, submission.digest)
        collector = ResultCollector(session)
        try:
            pytest_exit = pytest.main(pytest_arguments(config), plugins=[collector])
        finally:
            session.close()
        worker_output = "\n".join(part for part in (session.unit_worker.output(), session.training_worker.output())
                                  if part)
        _keep_artifacts(session, workspace.logs, out)
    if not collector.checks:
        raise RuntimeError(f"pytest ran no check (exit status {pytest_exit})")
    checks = sorted(collector.checks, key=lambda check: [int(p) for p in check.number.split(".") if p.isdigit()])
    if submission.problems:
        checks.insert(0, CheckResult("submission: utils.py and vae.py", "0.1", 0.0, 0.0, Outcome.WRONG_ANSWER,
                                     "\n".join(submission.problems)))
    result = GradeResult(checks=checks)
    result.metrics = session.metrics()
    result.extra_data = {**_extra_data(submission, config, session), "isolation": isolation.as_extra_data()}
    result.output = _summary(result, submission, config, worker_output, isolation)
    return result


def with_starter_for_missing(submission: Submission) -> Submission:
    """Grade what is there: a missing file is replaced by the starter's, whose functions are not implemented."""
    files = dict(submission.files)
    for name in EXPECTED_FILES:
        if name not in files:
            files[name] = (PROVIDED_SOURCE / name).read_bytes()
    return Submission(files=files, problems=list(submission.problems), ignored=list(submission.ignored))


def pytest_arguments(config: GradeConfig) -> list[str]:
    check_files = UNIT_CHECK_FILES + (TRAINING_CHECK_FILES if config.training else ())
    return [
        "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:terminal", "-p", "no:warnings",
        "--import-mode=importlib", "--rootdir", str(CHECKS_DIR), "-c", str(CHECKS_DIR / "pytest.ini"),
        f"--timeout={PYTEST_BACKSTOP_SECONDS}",
        *[str(CHECKS_DIR / name) for name in check_files],
    ]


def _keep_artifacts(session: GradingSession, logs: Path, out: Path) -> None:
    drawn = session.trusted_grids()
    if drawn is not None:  # the grids the grader drew from the returned weights
        (out / "samples.png").write_bytes(drawn.samples_png)
        (out / "reconstructions.png").write_bytes(drawn.reconstructions_png)
    worker_logs = out / "worker-logs"
    shutil.rmtree(worker_logs, ignore_errors=True)
    shutil.copytree(logs, worker_logs)


def _extra_data(submission: Submission, config: GradeConfig, session: GradingSession) -> dict[str, object]:
    outcome = session.training_outcome()
    extra: dict[str, object] = {
        "grader_version": GRADER_VERSION,
        "submission_sha256": submission.digest,
        "iterations_requested": config.iterations,
        "development_run": not config.full_run,
        "seed": config.seed,
        "threads": config.threads,
        "budgets_seconds": asdict(config.budgets),
        "submission_problems": submission.problems,
        "check_inputs": secret_kind(),
    }
    violations = [f"{len(worker.survivors)} process(es) of the {worker.phase} worker outlived the sweep at the end "
                  f"of the phase (pids {worker.survivors[:5]})"
                  for worker in (session.unit_worker, session.training_worker) if worker.survivors]
    if violations:  # never expected: the batch report flags it for staff
        extra["isolation_violations"] = violations
    if outcome is not None:  # what the worker reported of its run: information, never scored
        reported = outcome.reported
        extra.update(reported_iterations=reported.iterations, reported_training_seconds=round(reported.seconds, 2),
                     reported_diverged_at=reported.diverged_at, student_reported_bound=reported.own_bound)
    return extra


def _summary(result: GradeResult, submission: Submission, config: GradeConfig, worker_output: str,
             isolation: sandbox.Isolation) -> str:
    lines = [f"Score: {result.score:g} / {result.max_score:g}"]
    if not config.training:
        lines.append("UNIT CHECKS ONLY: training and samples were not graded in this run.")
    elif not config.full_run:
        lines.append(f"DEVELOPMENT RUN: {config.iterations:,} training iterations instead of {FULL_ITERATIONS:,}; "
                     "the training score does not count.")
    if result.grader_fault:
        lines.append("An autograder fault occurred (marked below). It is not your fault; it will be regraded.")
    for problem in submission.problems:
        lines.append(f"Submission: {problem}")
    missing = [name for name in EXPECTED_FILES if name not in submission.files]
    if missing:
        lines.append(f"Graded with the empty starter in place of {', '.join(missing)}.")
    nelbo = result.metrics.get("nelbo")
    if nelbo is not None and math.isfinite(nelbo):
        lines.append("Test set, grader's evaluator: "
                     + "  ".join(f"{k.upper() if k != 'rec' else 'Rec'}: {v:.3f}" for k, v in result.metrics.items()))
    lines.append(isolation.summary())
    if worker_output:
        lines.append("\nWhat your code printed while being graded:\n" + worker_output)
    return "\n".join(lines)
