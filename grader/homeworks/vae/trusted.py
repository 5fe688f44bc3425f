"""The flagship's trusted side: what each worker operation must answer, and what the checks compute from the
returned weights with the grader's own code (grader/engine/oracle.py: the reference) and its own seeds.

Nothing here runs the student's code. The weights the training answered are loaded into the grader's copy of
the provided model; the evaluation, the sample grid and the reconstructions are computed from them here.
What the worker reports of its run is shown for information and never scored.
"""

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from grader.digits import grids
from grader.engine.answers import (
    BOOL,
    GRADIENT,
    TEXT,
    VALUE,
    Array,
    ListOf,
    MapOf,
    Number,
    Optional,
    Record,
    Shape,
)
from grader.engine.feedback import WrongAnswer
from grader.engine.oracle import reference
from grader.grading.session import GradingSession

MAX_ITERATIONS = 10**9
MAX_SECONDS = 10**7
REPORTED_NUMBER = Optional(Number())  # a figure the worker reports for information; None when not finite
RECONSTRUCTION_IMAGES = 100
# The sample checks judge at least this many samples, whatever the grid shows: the thresholds of grader/digits/grids.py
# were measured on 200, and a 10 x 10 grid alone would leave the class count to chance (9 of 10 classes in one run).
CHECKED_SAMPLES = 200
DATA_FILE_NAME = "mnist.npz"

ANSWERS: dict[str, Shape] = {
    "sample_gaussian": Record({"z": VALUE, "inputs_unchanged": BOOL},
                              optional={"grad_m": GRADIENT, "grad_v": GRADIENT, "grad_error": TEXT}),
    "kl_normal": Record({"kl": VALUE, "inputs_unchanged": BOOL},
                        optional={"grad_qm": GRADIENT, "grad_qv": GRADIENT, "grad_error": TEXT}),
    "negative_elbo_bound": Record(
        {"returned": VALUE, "sample_gaussian_calls": ListOf(ListOf(Number(0, 2**31, integer=True), max_length=8),
                                                            max_length=1_000),
         "missing_weights": ListOf(TEXT), "repeated_terms": ListOf(ListOf(VALUE, max_length=100), max_length=100)},
        optional={"terms": ListOf(VALUE, length=3), "grads": MapOf(Array())},
    ),
    "train": Record(
        {"weights": MapOf(Array()), "iterations": Number(0, MAX_ITERATIONS, integer=True),
         "seconds": Number(0, MAX_SECONDS), "diverged_at": Optional(Number(0, MAX_ITERATIONS, integer=True)),
         "last": MapOf(REPORTED_NUMBER)},
        optional={"own_bound": MapOf(REPORTED_NUMBER), "own_bound_error": TEXT},
    ),
}


@dataclass(frozen=True)
class ReportedRun:
    """What the worker says about its own run: shown to the student for information, never scored."""

    iterations: int
    seconds: float
    diverged_at: int | None
    own_bound: dict[str, float | None] | None
    own_bound_error: str | None


@dataclass(frozen=True)
class TrustedGrids:
    """Images the grader drew itself from the returned weights with its own model code and its own seed."""

    samples: np.ndarray  # (max(rows * columns, CHECKED_SAMPLES), 784) in {0, 1}: sample_x of the trained model
    originals: np.ndarray  # (RECONSTRUCTION_IMAGES, 784): the first test images
    reconstructions: np.ndarray  # (RECONSTRUCTION_IMAGES, 784): decoder probabilities at the encoder's mean
    samples_png: bytes
    reconstructions_png: bytes


def z_dim(grading: GradingSession) -> int:
    return int(grading.homework.training().arguments["z_dim"])


def data_file(grading: GradingSession) -> Path:
    return next(path for path in grading.homework.data_paths if path.name == DATA_FILE_NAME)


@functools.cache
def binarized_test_set(path: Path) -> torch.Tensor:
    """The fixed binarized test set: (10000, 784) float32 in {0, 1}."""
    with np.load(path, allow_pickle=False) as arrays:
        return torch.from_numpy(arrays["x_test_binarized"]).float()


def reported(grading: GradingSession) -> ReportedRun:
    answer = grading.training().answer
    return ReportedRun(answer["iterations"], float(answer["seconds"]), answer["diverged_at"],
                       answer.get("own_bound"), answer.get("own_bound_error"))


# -- the trained model (the grader's code, the returned weights) -----------------------------------------


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


def trained_model(grading: GradingSession) -> torch.nn.Module:
    """The grader's own copy of the provided model holding the returned weights (names and shapes checked)."""

    def build() -> torch.nn.Module:
        model = reference(grading.homework).vae.VAE(z_dim=z_dim(grading))
        load_trained_weights(model, grading.training().answer["weights"])
        return model.eval()

    return grading.memo("trained model", build)


def start_model(grading: GradingSession) -> torch.nn.Module:
    """The model the training seed starts from (train.seed_everything, then the constructor), built here."""

    def build() -> torch.nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(grading.training().seed)
            return reference(grading.homework).vae.VAE(z_dim=z_dim(grading)).eval()

    return grading.memo("start model", build)


def weights_finite(grading: GradingSession) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in trained_model(grading).state_dict().values())


def weights_changed(grading: GradingSession) -> bool:
    """Whether training moved the weights from the start the training seed gives."""
    start, trained = start_model(grading).state_dict(), trained_model(grading).state_dict()
    return any(not torch.equal(start[name], trained[name]) for name in start)


def start_nelbo(grading: GradingSession) -> float:
    """The test NELBO of the untrained start (one pass of the grader's evaluator)."""
    evaluate = reference(grading.homework).evaluate
    return evaluate.evaluate_bound(start_model(grading), binarized_test_set(data_file(grading)), repeats=1)["nelbo"]


def evaluation(grading: GradingSession) -> dict[str, float]:
    """The grader's evaluation of the returned weights: NELBO, KL and Rec on the binarized test set."""

    def evaluate() -> dict[str, float]:
        if not weights_finite(grading):
            metrics = {"nelbo": math.nan, "kl": math.nan, "rec": math.nan}
        else:
            evaluate_bound = reference(grading.homework).evaluate.evaluate_bound
            metrics = evaluate_bound(trained_model(grading), binarized_test_set(data_file(grading)))
        grading.record_metrics(metrics)
        return metrics

    return grading.memo("evaluation", evaluate)


def trusted_grids(grading: GradingSession) -> TrustedGrids:
    """The sample grid and the reconstructions, drawn here from the returned weights."""

    def draw() -> TrustedGrids:
        model = trained_model(grading)
        if not weights_finite(grading):
            raise WrongAnswer("The trained weights contain NaN or infinity, so the model draws nothing: the "
                              "training diverged (see check 4.1).")
        settings = grading.homework.settings
        shown = int(settings["grid_rows"]) * int(settings["grid_columns"])
        count = max(shown, CHECKED_SAMPLES)  # the checks judge at least this many; the grid shows the first ones
        originals = binarized_test_set(data_file(grading))[:RECONSTRUCTION_IMAGES]  # (100, 784)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(grading.check_seed("sample grid"))
            samples = model.sample_x(count).numpy()  # (count, 784)
            mean, _ = model.enc(originals)  # (100, z_dim)
            reconstructions = model.compute_sigmoid_given(mean).numpy()  # (100, 784)
        drawn = TrustedGrids(
            samples=samples, originals=originals.numpy(), reconstructions=reconstructions,
            samples_png=grids.encode_grid(samples[:shown], int(settings["grid_columns"])),
            reconstructions_png=grids.encode_grid(
                grids.reconstruction_grid_images(originals.numpy(), reconstructions), grids.GRID_COLUMNS),
        )
        grading.add_artifact("samples", drawn.samples_png)
        grading.add_artifact("reconstructions", drawn.reconstructions_png)
        return drawn

    return grading.memo("grids", draw)
