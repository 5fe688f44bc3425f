"""cvae's trusted side: what each worker operation must answer, and what the checks compute from the returned
weights with the grader's own code (the reference, reference/cvae/) and its own seeds.

Nothing here runs the student's code. The weights the training answered are loaded into the grader's copy of the
provided conditional model; the test NELBO given the labels, the importance-sampled -log p(x | y), the per-label
sample grid, the conditional accuracy (the grader's digit classifier on samples drawn for each label) and the
reconstructions are computed from them here. What the worker reports of its run is shown and never scored.
"""

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from grader.digits import grids
from grader.digits.classifier import NUM_CLASSES, predict
from grader.engine.answers import BOOL, TEXT, VALUE, Array, ListOf, MapOf, Record, Shape
from grader.engine.feedback import WrongAnswer
from grader.engine.oracle import reference
from grader.grading.session import GradingSession
from grader.homeworks.vae import trusted as flagship
from grader.homeworks.vae.trusted import (  # noqa: F401  (what this homework's checks share with the flagship's)
    ReportedRun,
    binarized_test_set,
    data_file,
    load_trained_weights,
    reported,
)

RECONSTRUCTION_IMAGES = 100
MAX_CALLS = 100

ANSWERS: dict[str, Shape] = {
    "negative_elbo_bound": Record(
        {"returned": VALUE, "missing_weights": ListOf(TEXT),
         "repeated_terms": ListOf(ListOf(VALUE, max_length=100), max_length=MAX_CALLS)},
        optional={"terms": ListOf(VALUE, length=3), "grads": MapOf(Array())},
    ),
    "sample_x": Record({"returned": VALUE, "missing_weights": ListOf(TEXT), "labels_unchanged": BOOL}),
    "train": flagship.ANSWERS["train"],
}


@dataclass(frozen=True)
class ConditionalSamples:
    """Samples the grader drew for each label from the returned weights, and what its classifier says of them."""

    labels: np.ndarray  # (classes * per_class,) the label each sample was drawn for, label by label
    images: np.ndarray  # (classes * per_class, 784) in {0, 1}
    predicted: np.ndarray  # (classes * per_class,) the classifier's most likely digit
    per_class_accuracy: np.ndarray  # (classes,) share of label y's samples classified as y
    grid_png: bytes

    @property
    def accuracy(self) -> float:
        return float(self.per_class_accuracy.mean())


@dataclass(frozen=True)
class TrustedImages:
    originals: np.ndarray  # (RECONSTRUCTION_IMAGES, 784): the first test images
    reconstructions: np.ndarray  # (RECONSTRUCTION_IMAGES, 784): probabilities at the encoder's mean, given the label
    reconstructions_png: bytes


def z_dim(grading: GradingSession) -> int:
    return int(grading.homework.training().arguments["z_dim"])


@functools.cache
def test_labels(path: Path) -> torch.Tensor:
    """The test set's labels: (10000,) int64."""
    with np.load(path, allow_pickle=False) as arrays:
        return torch.from_numpy(arrays["y_test"]).long()


def new_model(grading: GradingSession) -> torch.nn.Module:
    return reference(grading.homework).cvae.CVAE(z_dim=z_dim(grading))


def trained_model(grading: GradingSession) -> torch.nn.Module:
    """The grader's copy of the provided model holding the returned weights (names and shapes checked)."""

    def build() -> torch.nn.Module:
        model = new_model(grading)
        load_trained_weights(model, grading.training().answer["weights"])
        return model.eval()

    return grading.memo("trained model", build)


def start_model(grading: GradingSession) -> torch.nn.Module:
    """The model the training seed starts from (train.seed_everything, then the constructor), built here."""

    def build() -> torch.nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(grading.training().seed)
            return new_model(grading).eval()

    return grading.memo("start model", build)


def weights_finite(grading: GradingSession) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in trained_model(grading).state_dict().values())


def weights_changed(grading: GradingSession) -> bool:
    start, trained = start_model(grading).state_dict(), trained_model(grading).state_dict()
    return any(not torch.equal(start[name], trained[name]) for name in start)


def test_set(grading: GradingSession) -> tuple[torch.Tensor, torch.Tensor]:
    path = data_file(grading)
    return binarized_test_set(path), test_labels(path)


def start_nelbo(grading: GradingSession) -> float:
    """The test NELBO of the untrained start (one pass of the grader's evaluator)."""
    x, y = test_set(grading)
    evaluate = reference(grading.homework).evaluate
    return evaluate.evaluate_bound(start_model(grading), x, repeats=1, y_test=y)["nelbo"]


def evaluation(grading: GradingSession) -> dict[str, float]:
    """Every figure the grader computes from the returned weights: the bounds (``bound_evaluation``) and the
    conditional accuracy of samples drawn for each label (``conditional_samples``); NaN for non-finite weights."""
    metrics = dict(bound_evaluation(grading))
    if weights_finite(grading):
        found = conditional_samples(grading)
        metrics.update(conditional_accuracy=found.accuracy, worst_class_accuracy=float(found.per_class_accuracy.min()))
    else:
        metrics.update(conditional_accuracy=math.nan, worst_class_accuracy=math.nan)
    grading.record_metrics(metrics)
    return metrics


def bound_evaluation(grading: GradingSession) -> dict[str, float]:
    """The grader's evaluation of the returned weights: NELBO, KL and Rec on the binarized test set given the labels,
    and -log p(x | y) by importance sampling on the first test images, with its standard error."""

    def evaluate() -> dict[str, float]:
        if not weights_finite(grading):
            metrics = dict.fromkeys(("nelbo", "kl", "rec", "nll", "nll_se"), math.nan)
        else:
            ref, model = reference(grading.homework), trained_model(grading)
            x, y = test_set(grading)
            started = time.perf_counter()
            metrics = ref.evaluate.evaluate_bound(model, x, y_test=y)
            estimate = ref.evaluate_likelihood.estimate_log_likelihood(model, x, y)
            metrics.update(nll=estimate.mean, nll_se=estimate.standard_error)
            grading.memo("evaluation seconds", lambda: time.perf_counter() - started)  # shown by check 3.3
        grading.record_metrics(metrics)
        return metrics

    return grading.memo("evaluation", evaluate)


def require_finite_weights(grading: GradingSession) -> None:
    if not weights_finite(grading):
        raise WrongAnswer("The trained weights contain NaN or infinity, so the model draws nothing: the training "
                          "diverged (see check 3.1).")


def conditional_samples(grading: GradingSession) -> ConditionalSamples:
    """``checked_per_class`` samples per label drawn here with the reference's sample_x from the returned weights,
    classified by the grader's digit classifier; the grid shows the first ``grid_columns`` of each label."""

    def draw() -> ConditionalSamples:
        require_finite_weights(grading)
        settings = grading.homework.settings
        per_class, shown = int(settings["checked_per_class"]), int(settings["grid_columns"])
        labels = torch.arange(NUM_CLASSES).repeat_interleave(per_class)  # (classes * per_class,)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(grading.check_seed("conditional samples"))
            images = trained_model(grading).sample_x(labels).numpy()  # (classes * per_class, 784)
        predicted = predict(images).argmax(axis=1)  # (classes * per_class,)
        correct = (predicted == labels.numpy()).reshape(NUM_CLASSES, per_class)  # (classes, per_class)
        grid_images = images.reshape(NUM_CLASSES, per_class, -1)[:, :shown].reshape(-1, images.shape[1])
        found = ConditionalSamples(labels.numpy(), images, predicted, correct.mean(axis=1),
                                   grids.encode_grid(grid_images, shown))
        grading.add_artifact("samples", found.grid_png)
        grading.record_metrics({"conditional_accuracy": found.accuracy,
                                "worst_class_accuracy": float(found.per_class_accuracy.min())})
        return found

    return grading.memo("conditional samples", draw)


def reconstructions(grading: GradingSession) -> TrustedImages:
    """The first test digits and their reconstructions given their labels: the decoder's probabilities at the
    encoder's mean."""

    def draw() -> TrustedImages:
        require_finite_weights(grading)
        x, y = test_set(grading)
        originals, labels = x[:RECONSTRUCTION_IMAGES], y[:RECONSTRUCTION_IMAGES]  # (100, 784), (100,)
        model = trained_model(grading)
        with torch.no_grad():
            y_one_hot = torch.nn.functional.one_hot(labels, NUM_CLASSES).float()  # (100, 10)
            mean, _ = model.enc(originals, y_one_hot)  # (100, z_dim)
            probabilities = model.compute_sigmoid_given(mean, y_one_hot).numpy()  # (100, 784)
        png = grids.encode_grid(grids.reconstruction_grid_images(originals.numpy(), probabilities), grids.GRID_COLUMNS)
        grading.add_artifact("reconstructions", png)
        return TrustedImages(originals.numpy(), probabilities, png)

    return grading.memo("reconstructions", draw)
