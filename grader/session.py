"""One grading run's state on the trusted side: configuration, the phases' workers, their outcomes.

Phases run in order and each has its own worker process, killed whole when the phase ends:
``unit`` (calls on the three functions), then ``training`` (20,000 iterations with the provided loop).
``evaluation`` is trusted: the returned weights are loaded into the reference model and scored on the
fixed binarized test set with the reference bound. A phase's failure is remembered and raised again
to every check that needs it, so later checks still report.

Time: every call gets the shortest of its own budget, what is left of its phase's budget and what is
left of the whole grading's time limit (less a reserve for the trusted evaluation, the sample checks
and writing results.json). A grading therefore ends, with its results written, before the platform's
own timeout kills it, however the submission spends its time.
"""

import functools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from grader import grids
from grader.check_inputs import check_seed, grading_secret
from grader.cpus import whole_cpus
from grader.feedback import WrongAnswer
from grader.operations import ANSWERS
from grader.oracle import reference
from grader.worker_client import WorkerClient, WorkerFailure, WorkerOptions, WorkerTimeout
from grader.workspace import DATA_FILE, Workspace

FULL_ITERATIONS = 20_000
RECONSTRUCTION_IMAGES = 100
SAMPLE_IMAGES = 200  # 10 rows of 20
# The reference's training phase for FULL_ITERATIONS iterations, measured by make bench (bench_gradescope)
# on one full core and in a cgroup shaped like Gradescope's default container (half a CPU).
REFERENCE_TRAINING_SECONDS_FULL_CPU = 150
REFERENCE_TRAINING_SECONDS_HALF_CPU = 390


MAX_THREADS = 2  # the model is small: more torch threads than 2 barely help


def default_threads() -> int:
    """Torch threads for grading: the whole CPUs this process may use (1 on Gradescope's ½ vCPU), at most 2."""
    return min(MAX_THREADS, whole_cpus())


GRADESCOPE_TIMEOUT_SECONDS = 600.0  # Gradescope's default autograder timeout (10 minutes; at most 40)


@dataclass(frozen=True)
class Budgets:
    """Wall-clock seconds, sized for Gradescope's ½ vCPU (the reference's 20,000 iterations take ~5 min there)."""

    worker_start: float = 120.0  # import torch and the submission
    unit_call: float = 30.0  # one call on one of the three functions (the reference's take well under 1 s)
    unit_function: float = 60.0  # all calls on one function together, worker restarts included: a function that
    #                              hangs costs its own checks, never another function's
    training: float = 1_800.0  # 20,000 iterations, the student's own bound, the grids; capped by the time limit
    total: float = GRADESCOPE_TIMEOUT_SECONDS  # the whole grading: set it to the platform's timeout
    reserve: float = 60.0  # kept from ``total`` for the trusted evaluation, the sample checks and results.json


@dataclass(frozen=True)
class GradeConfig:
    iterations: int = FULL_ITERATIONS
    seed: int = 0
    z_dim: int = 10
    threads: int = field(default_factory=default_threads)
    budgets: Budgets = Budgets()
    data_file: Path = DATA_FILE
    training: bool = True  # False: the unit checks only (fast; for tests and quick feedback)

    @property
    def full_run(self) -> bool:
        return self.iterations >= FULL_ITERATIONS


@dataclass(frozen=True)
class ReportedRun:
    """What the worker says about its own run: shown to the student for information, never scored."""

    iterations: int
    seconds: float
    diverged_at: int | None
    last: dict[str, float | None]
    own_bound: dict[str, float | None] | None
    own_bound_error: str | None


@dataclass(frozen=True)
class TrainingOutcome:
    weights: dict[str, np.ndarray]  # untrusted values; loaded into the grader's own model, never run
    reported: ReportedRun


@dataclass(frozen=True)
class TrustedGrids:
    """Images the grader drew itself from the returned weights with its own model code and its own seed."""

    samples: np.ndarray  # (SAMPLE_IMAGES, 784) in {0, 1}: sample_x of the trained model
    originals: np.ndarray  # (RECONSTRUCTION_IMAGES, 784): the first test images
    reconstructions: np.ndarray  # (RECONSTRUCTION_IMAGES, 784): decoder probabilities at the encoder's mean
    samples_png: bytes
    reconstructions_png: bytes


class GradingSession:
    def __init__(self, config: GradeConfig, workspace: Workspace, submission_digest: str = "") -> None:
        self.config = config
        self.workspace = workspace
        self.submission_digest = submission_digest
        options = WorkerOptions(threads=config.threads, start_seconds=config.budgets.worker_start)
        self.unit_worker = WorkerClient(workspace, "unit", ANSWERS, options)
        self.training_worker = WorkerClient(workspace, "training", ANSWERS, options)
        self._training: TrainingOutcome | BaseException | None = None
        self._model: torch.nn.Module | BaseException | None = None
        self._evaluation: dict[str, float] | BaseException | None = None
        self._grids: TrustedGrids | BaseException | None = None
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
        """Call one of the three functions in the unit worker, within that function's share of the time."""
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
        self.unit_worker.close()
        self.training_worker.close()

    def training_outcome(self) -> TrainingOutcome | None:
        """The training phase's outcome if it ran and succeeded."""
        return self._training if isinstance(self._training, TrainingOutcome) else None

    def metrics(self) -> dict[str, float]:
        """The grader's own evaluation, if it ran: nelbo, kl, rec."""
        return dict(self._evaluation) if isinstance(self._evaluation, dict) else {}

    def trusted_grids(self) -> TrustedGrids | None:
        return self._grids if isinstance(self._grids, TrustedGrids) else None

    # -- training (untrusted) ------------------------------------------------------------------------

    def training(self) -> TrainingOutcome:
        if self._training is None:
            self.unit_worker.close()  # the unit phase is over: its processes go before training starts
            try:
                self._training = self._train()
            except (WorkerFailure, WrongAnswer) as error:
                self._training = error
            finally:
                self.training_worker.close()
        if isinstance(self._training, BaseException):
            raise self._training
        return self._training

    def _train(self) -> TrainingOutcome:
        budgets = self.config.budgets
        budget = min(budgets.training, self.seconds_left())
        if budget <= 0:
            raise WorkerTimeout(f"no time was left for training within the grading's limit of {budgets.total:.0f} s")
        try:
            result = self.training_worker.call(
                "train", budget, start_timeout=min(budgets.worker_start, budget), data=str(self.config.data_file),
                iterations=self.config.iterations, seed=self.config.seed, z_dim=self.config.z_dim,
            )
        except WorkerTimeout as timeout:
            share = self.config.iterations / FULL_ITERATIONS
            raise WorkerTimeout(
                f"training {self.config.iterations:,} iterations did not finish in the {budget:.0f} s left for it "
                f"({timeout.message}); the reference solution needs about "
                f"{REFERENCE_TRAINING_SECONDS_FULL_CPU * share:.3g} s for this on a full CPU core and "
                f"{REFERENCE_TRAINING_SECONDS_HALF_CPU * share:.3g} s on Gradescope's default ½ CPU, so look for "
                "slow code in negative_elbo_bound or sample_gaussian (Python loops, .item() per element, numpy round "
                "trips)"
            ) from None
        reported = ReportedRun(
            iterations=result["iterations"], seconds=float(result["seconds"]), diverged_at=result["diverged_at"],
            last=result["last"], own_bound=result.get("own_bound"), own_bound_error=result.get("own_bound_error"),
        )
        return TrainingOutcome(weights=result["weights"], reported=reported)

    # -- the trained model, its evaluation and its grids (trusted) -------------------------------------

    def trained_model(self) -> torch.nn.Module:
        """The grader's own copy of the provided model holding the returned weights (names and shapes checked)."""
        if self._model is None:
            try:
                model = reference().vae.VAE(z_dim=self.config.z_dim)
                load_trained_weights(model, self.training().weights)
                model.eval()
                self._model = model
            except (WorkerFailure, WrongAnswer) as error:
                self._model = error
        if isinstance(self._model, BaseException):
            raise self._model
        return self._model

    def weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.trained_model().state_dict().values())

    @functools.cached_property
    def _start_model(self) -> torch.nn.Module:
        """The model the training seed starts from (train.seed_everything, then the constructor), built here."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            return reference().vae.VAE(z_dim=self.config.z_dim).eval()

    def weights_changed(self) -> bool:
        """Whether training moved the weights from the start the training seed gives."""
        start, trained = self._start_model.state_dict(), self.trained_model().state_dict()
        return any(not torch.equal(start[name], trained[name]) for name in start)

    def start_nelbo(self) -> float:
        """The test NELBO of the untrained start (one pass of the grader's evaluator)."""
        images = test_images(self.config.data_file)
        return reference().evaluate.evaluate_bound(self._start_model, images, repeats=1)["nelbo"]

    def evaluation(self) -> dict[str, float]:
        if self._evaluation is None:
            try:
                self._evaluation = self._evaluate()
            except (WorkerFailure, WrongAnswer) as error:
                self._evaluation = error
        if isinstance(self._evaluation, BaseException):
            raise self._evaluation
        return self._evaluation

    def _evaluate(self) -> dict[str, float]:
        model = self.trained_model()
        if not self.weights_finite():
            return {"nelbo": math.nan, "kl": math.nan, "rec": math.nan}
        return reference().evaluate.evaluate_bound(model, test_images(self.config.data_file))

    def grids(self) -> TrustedGrids:
        if self._grids is None:
            try:
                self._grids = self._draw()
            except (WorkerFailure, WrongAnswer) as error:
                self._grids = error
        if isinstance(self._grids, BaseException):
            raise self._grids
        return self._grids

    def _draw(self) -> TrustedGrids:
        model = self.trained_model()
        if not self.weights_finite():
            raise WrongAnswer("The trained weights contain NaN or infinity, so the model draws nothing: the "
                              "training diverged (see check 4.1).")
        originals = test_images(self.config.data_file)[:RECONSTRUCTION_IMAGES]  # (100, 784)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.check_seed("sample grid"))
            samples = model.sample_x(SAMPLE_IMAGES)  # (200, 784)
            mean, _ = model.enc(originals)  # (100, z_dim)
            reconstructions = model.compute_sigmoid_given(mean)  # (100, 784)
        samples_array, reconstructions_array = samples.numpy(), reconstructions.numpy()
        return TrustedGrids(
            samples=samples_array, originals=originals.numpy(), reconstructions=reconstructions_array,
            samples_png=grids.encode_grid(samples_array),
            reconstructions_png=grids.encode_grid(
                grids.reconstruction_grid_images(originals.numpy(), reconstructions_array)),
        )


@functools.cache
def test_images(data_file: Path) -> torch.Tensor:
    """The fixed binarized test set: (10000, 784) float32 in {0, 1}."""
    with np.load(data_file, allow_pickle=False) as arrays:
        return torch.from_numpy(arrays["x_test_binarized"]).float()


def load_trained_weights(model: torch.nn.Module, weights: dict[str, np.ndarray]) -> None:
    """Copy the student's trained weights into the reference model, checking names, shapes and dtypes.

    Extra entries (a prior saved as a parameter, say) are ignored; missing or misshapen ones are an error.
    """
    expected = model.state_dict()
    problems = []
    for name, tensor in expected.items():
        array = weights.get(name)
        if array is None:
            problems.append(f"{name} is missing")
        elif tuple(array.shape) != tuple(tensor.shape):
            problems.append(f"{name} has shape {tuple(array.shape)}, expected {tuple(tensor.shape)}")
        elif array.dtype != np.float32:
            problems.append(f"{name} has dtype {array.dtype}, expected float32")
    if problems:
        raise WrongAnswer(
            "The trained model's weights do not fit the provided networks: " + "; ".join(problems[:5])
            + ". Likely mistake: the VAE class was changed (the encoder and decoder must be self.enc and self.dec "
              "from nns.py, built with z_dim)."
        )
    model.load_state_dict({name: torch.from_numpy(weights[name]) for name in expected})
