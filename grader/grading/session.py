"""One grading run's state on the trusted side: the homework, the configuration, the phases' workers, and what
the homework's trusted code computed.

Phases run in order and each has its own worker process, killed whole when the phase ends: ``unit`` (calls
on the student's functions), then ``training`` (the homework's training runs, with the provided loop). A homework
whose model is the student's own (no provided architecture the grader could load weights into) evaluates it
through ``isolated``: each named role (one part of the model's calls, then another) gets a process of its own,
started for it and given no data file, so that nothing one role was shown can reach another. What
the homework's trusted code computes from the returned weights (an evaluation, grids) is kept with ``memo``;
its metrics and images go into the results through ``record_metrics`` and ``add_artifact``. A failure is
remembered and raised again to every check that needs it, so later checks still report.

Time: every call gets the shortest of its own budget, what is left of its phase's budget and what is left of
the whole grading's time limit (less a reserve for the trusted computations and writing results.json). A
grading therefore ends, with its results written, before the platform's own timeout kills it, however the
submission spends its time.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from grader.engine.answers import MapOf, Record
from grader.engine.check_inputs import check_seed, grading_secret
from grader.engine.cpus import whole_cpus
from grader.engine.feedback import WrongAnswer
from grader.engine.homework import Homework, TrainingRun
from grader.grading.worker_client import FAILURE, WorkerClient, WorkerFailure, WorkerOptions, WorkerTimeout
from grader.grading.workspace import Workspace

MAX_THREADS = 2  # the models are small: more torch threads than 2 barely help
GRADESCOPE_TIMEOUT_SECONDS = 600.0  # Gradescope's default autograder timeout (10 minutes; at most 40)
IMPORT_ANSWER = Record({"problems": MapOf(FAILURE)})  # the engine's own operation: import the student's modules
T = TypeVar("T")


def default_threads() -> int:
    """Torch threads for grading: the whole CPUs this process may use (1 on Gradescope's ½ vCPU), at most 2."""
    return min(MAX_THREADS, whole_cpus())


@dataclass(frozen=True)
class Budgets:
    """Wall-clock seconds, sized for Gradescope's ½ vCPU."""

    worker_start: float = 120.0  # import torch and the submission
    unit_call: float = 30.0  # one call on one student function (the reference's take well under 1 s)
    unit_function: float = 60.0  # all calls on one function together: a function that hangs costs its own
    #                              checks, never another function's (a fresh worker's start is not charged)
    training: float = 1_800.0  # one training run; capped by what the time limit leaves
    total: float = GRADESCOPE_TIMEOUT_SECONDS  # the whole grading: set it to the platform's timeout
    reserve: float = 60.0  # kept from ``total`` for the trusted evaluation, the image checks and results.json
    isolated_call: float = 120.0  # one call on a trained model in a role's own worker (5,000 inputs at ½ CPU)


@dataclass(frozen=True)
class GradeConfig:
    iterations: int | None = None  # None: each training run's declared iterations; fewer is a development run
    seed: int | None = None  # None: each training run's declared seed
    threads: int = field(default_factory=default_threads)
    budgets: Budgets = Budgets()
    training: bool = True  # False: the unit checks only (fast; for tests and quick feedback)

    def iterations_of(self, run: TrainingRun) -> int:
        return run.iterations if self.iterations is None else self.iterations

    def seed_of(self, run: TrainingRun) -> int:
        return run.seed if self.seed is None else self.seed

    def full_run(self, homework: Homework) -> bool:
        """Whether every training run has at least its declared iterations (a score that counts)."""
        return all(self.iterations_of(run) >= run.iterations for run in homework.trainings)


@dataclass(frozen=True)
class TrainingOutcome:
    run: TrainingRun
    iterations: int  # asked for
    seed: int
    answer: dict  # the training operation's answer, validated against its declared shape; untrusted values

    def development_note(self) -> str | None:
        """What a check scoring this run says when it was shorter than declared (a development run)."""
        if self.iterations >= self.run.iterations:
            return None
        return f"Development run: {self.iterations:,} iterations; the band is for {self.run.iterations:,}."


class GradingSession:
    def __init__(self, homework: Homework, config: GradeConfig, workspace: Workspace,
                 submission_digest: str = "") -> None:
        self.homework = homework
        self.config = config
        self.workspace = workspace
        self.submission_digest = submission_digest
        answers = {"import": IMPORT_ANSWER, **homework.trusted().ANSWERS}
        options = WorkerOptions(threads=config.threads, start_seconds=config.budgets.worker_start,
                                readable=workspace.data_paths(homework), modules=homework.student_modules,
                                student_files=homework.student_files)
        self.unit_worker = WorkerClient(workspace, "unit", answers, options)
        self.training_worker = WorkerClient(workspace, "training", answers, options)
        self._answers = answers
        self._role_options = replace(options, readable=())  # a role sees what its calls send, and no data file
        self.role_workers: dict[str, WorkerClient] = {}  # role -> its own worker (``isolated``)
        self._results: dict[str, object] = {}  # memo: key -> value or the failure to raise again
        self.metrics: dict[str, float] = {}  # recorded by the homework's trusted evaluation
        self.artifacts: dict[str, bytes] = {}  # images drawn by the trusted side: name -> PNG bytes
        self.started = time.monotonic()
        self._unit_seconds: dict[str, float] = {}  # seconds spent so far in calls on each function

    def check_seed(self, label: str) -> int:
        """The seed of one check's inputs: unpredictable without the grader's secret, fixed for a submission."""
        return check_seed(grading_secret(), self.submission_digest, label)

    # -- time ------------------------------------------------------------------------------------------

    def seconds_left(self) -> float:
        """Of the whole grading's time limit, what the worker may still use (the reserve kept back)."""
        budgets = self.config.budgets
        return self.started + budgets.total - budgets.reserve - time.monotonic()

    # -- unit checks (untrusted) -----------------------------------------------------------------------

    def unit(self, op: str, **arguments: object) -> dict:
        """Call one operation in the unit worker, within its function's share of the time."""
        budgets = self.config.budgets
        spent = self._unit_seconds.get(op, 0.0)
        left = min(budgets.unit_function - spent, self.seconds_left())
        if left <= 0:
            raise WorkerTimeout(f"the time for the checks of {op} ({budgets.unit_function:.0f} s in all) was used up "
                                "by the checks before this one, so it was not run")
        started = time.monotonic()
        try:
            return self.unit_worker.call(op, min(budgets.unit_call, left),
                                         start_timeout=min(budgets.worker_start, self.seconds_left()), **arguments)
        finally:  # a fresh worker's start (after another function's timeout killed the last one) is not charged
            self._unit_seconds[op] = spent + time.monotonic() - started - self.unit_worker.last_start_seconds

    def close(self) -> None:
        for worker in self.workers():
            worker.close()

    def workers(self) -> list[WorkerClient]:
        """Every worker of this grading, in the order the phases use them."""
        return [self.unit_worker, self.training_worker, *self.role_workers.values()]

    # -- calls on a trained model, one process per role (untrusted) ------------------------------------

    def isolated(self, role: str, op: str, **arguments: object) -> dict:
        """Call ``op`` in the worker of ``role``, started for that role alone (with no data file readable): two
        roles never share a process, so one role cannot read what another was shown. The call may use the
        reserve's first half as well: it runs after training, which the time limit already bounds."""
        budgets = self.config.budgets
        if role not in self.role_workers:
            self.training_worker.close()
            self.role_workers[role] = WorkerClient(self.workspace, f"role-{role}", self._answers, self._role_options)
        left = self.seconds_left() + budgets.reserve / 2
        if left <= 0:
            raise WorkerTimeout(f"no time was left within the grading's limit of {budgets.total:.0f} s for the calls "
                                f"on the trained model ({role})")
        return self.role_workers[role].call(op, min(budgets.isolated_call, left),
                                            start_timeout=min(budgets.worker_start, left), **arguments)

    def end_role(self, role: str) -> None:
        """End the worker of ``role`` (everything it started); a later call on that role starts a fresh one."""
        worker = self.role_workers.get(role)
        if worker is not None:
            worker.close()

    # -- remembered results ----------------------------------------------------------------------------

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per grading; a student-side failure (WorkerFailure, WrongAnswer) is remembered and
        raised again to every later caller."""
        if key not in self._results:
            try:
                self._results[key] = compute()
            except (WorkerFailure, WrongAnswer) as error:
                self._results[key] = error
        value = self._results[key]
        if isinstance(value, BaseException):
            raise value
        return value  # type: ignore[return-value]

    def remembered(self, key: str) -> object | None:
        """What ``memo`` holds for ``key`` if it succeeded, else None."""
        value = self._results.get(key)
        return None if isinstance(value, BaseException) else value

    def record_metrics(self, metrics: dict[str, float]) -> None:
        self.metrics.update(metrics)

    def add_artifact(self, name: str, png: bytes) -> None:
        self.artifacts[name] = png

    # -- training (untrusted) ------------------------------------------------------------------------

    def training(self, name: str = "main") -> TrainingOutcome:
        return self.memo(f"training:{name}", lambda: self._train(self.homework.training(name)))

    def training_outcomes(self) -> list[TrainingOutcome]:
        """The training runs that ran and answered."""
        found = (self.remembered(f"training:{run.name}") for run in self.homework.trainings)
        return [outcome for outcome in found if isinstance(outcome, TrainingOutcome)]

    def _train(self, run: TrainingRun) -> TrainingOutcome:
        self.unit_worker.close()  # the unit phase is over: its processes go before training starts
        budgets = self.config.budgets
        budget = min(budgets.training, self.seconds_left())
        iterations, seed = self.config.iterations_of(run), self.config.seed_of(run)
        try:
            if budget <= 0:
                raise WorkerTimeout(f"no time was left for training within the grading's limit of "
                                    f"{budgets.total:.0f} s")
            data = {path.name: str(path) for path in self.workspace.data_paths(self.homework)}
            answer = self.training_worker.call(run.op, budget, start_timeout=min(budgets.worker_start, budget),
                                               data=data, iterations=iterations, seed=seed, **run.arguments)
        except WorkerTimeout as timeout:
            share = iterations / run.iterations
            raise WorkerTimeout(
                f"training {iterations:,} iterations did not finish in the {max(budget, 0):.0f} s left for it "
                f"({timeout.message}); the reference solution needs about "
                f"{run.reference_seconds_full_cpu * share:.3g} s for this on a full CPU core and "
                f"{run.reference_seconds_half_cpu * share:.3g} s on Gradescope's default ½ CPU, so look for slow "
                "code in the functions the training calls (Python loops, .item() per element, numpy round trips)"
            ) from None
        finally:
            self.training_worker.close()
        return TrainingOutcome(run, iterations, seed, answer)
