"""vae-gaussian's trusted side: the flagship's (part A, grader/homeworks/vae/trusted.py) and part B's: the
Gaussian VAE's training answer, its evaluation and its grids, all computed here from the returned weights with the
grader's copy of the provided model (reference/vae-gaussian) and its own seeds.

Part B's test set is the 10,000 test images dequantized once with the evaluator's fixed seed
(reference/vae-gaussian/evaluate_gaussian.py): every submission is scored on the same pixels.
"""

import functools
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from grader.digits import grids
from grader.engine.answers import BOOL, GRADIENT, TEXT, VALUE, Array, ListOf, MapOf, Number, Optional, Record, Shape
from grader.engine.feedback import WrongAnswer
from grader.engine.oracle import reference
from grader.grading.session import GradingSession
from grader.homeworks.vae import trusted as flagship
from grader.homeworks.vae.trusted import (
    MAX_ITERATIONS,
    MAX_SECONDS,
    REPORTED_NUMBER,
    data_file,
    load_trained_weights,
)

TRAINING = "gaussian"  # part B's training run in the declaration
CHECKED_SAMPLES = flagship.CHECKED_SAMPLES  # means judged by the classifier (the grid shows the first 100)

ANSWERS: dict[str, Shape] = {
    **flagship.ANSWERS,
    "log_normal": Record({"value": VALUE, "inputs_unchanged": BOOL},
                         optional={"grad_m": GRADIENT, "grad_v": GRADIENT, "grad_error": TEXT}),
    "gaussian_negative_elbo_bound": Record(
        {"returned": VALUE, "sample_gaussian_calls": ListOf(ListOf(Number(0, 2**31, integer=True), max_length=8),
                                                            max_length=1_000),
         "missing_weights": ListOf(TEXT)},
        optional={"terms": ListOf(VALUE, length=3), "grads": MapOf(Array())},
    ),
    "train_gaussian": Record(
        {"weights": MapOf(Array()), "iterations": Number(0, MAX_ITERATIONS, integer=True),
         "seconds": Number(0, MAX_SECONDS), "diverged_at": Optional(Number(0, MAX_ITERATIONS, integer=True)),
         "last": MapOf(REPORTED_NUMBER)},
    ),
}


@dataclass(frozen=True)
class GaussianImages:
    """Part B's images, drawn here from the returned weights: the decoder's means and samples of the same latents."""

    means: np.ndarray  # (CHECKED_SAMPLES, 784) in (0, 1)
    samples: np.ndarray  # (CHECKED_SAMPLES, 784): means plus drawn pixel noise, clipped to [0, 1]
    means_png: bytes
    samples_png: bytes
    comparison_png: bytes


def z_dim(grading: GradingSession) -> int:
    return int(grading.homework.training(TRAINING).arguments["z_dim"])


@functools.cache
def intensities_of_test_set(path: Path) -> torch.Tensor:
    """The test images' uint8 intensities: (10000, 784)."""
    with np.load(path, allow_pickle=False) as arrays:
        return torch.from_numpy(arrays["x_test"])  # (10000, 784) uint8


def dequantized_test_set(grading: GradingSession) -> torch.Tensor:
    """The test images dequantized once with the evaluator's fixed seed: (10000, 784) float32 in [0, 1)."""
    evaluate_gaussian = reference(grading.homework).evaluate_gaussian
    return grading.memo("dequantized test set",
                        lambda: evaluate_gaussian.dequantized_test_set(intensities_of_test_set(data_file(grading))))


def new_model(grading: GradingSession) -> torch.nn.Module:
    return reference(grading.homework).gaussian_vae.GaussianVAE(z_dim=z_dim(grading))


def trained_model(grading: GradingSession) -> torch.nn.Module:
    """The grader's copy of the Gaussian VAE holding part B's returned weights (names and shapes checked)."""

    def build() -> torch.nn.Module:
        model = new_model(grading)
        load_trained_weights(model, grading.training(TRAINING).answer["weights"])
        return model.eval()

    return grading.memo("gaussian trained model", build)


def start_model(grading: GradingSession) -> torch.nn.Module:
    """The model part B's training seed starts from, built here."""

    def build() -> torch.nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(grading.training(TRAINING).seed)
            return new_model(grading).eval()

    return grading.memo("gaussian start model", build)


def weights_finite(grading: GradingSession) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in trained_model(grading).state_dict().values())


def weights_changed(grading: GradingSession) -> bool:
    start, trained = start_model(grading).state_dict(), trained_model(grading).state_dict()
    return any(not torch.equal(start[name], trained[name]) for name in start)


def start_nelbo(grading: GradingSession) -> float:
    """Part B's test NELBO of the untrained start (one pass of the grader's evaluator)."""
    evaluate = reference(grading.homework).evaluate
    return evaluate.evaluate_bound(start_model(grading), dequantized_test_set(grading), repeats=1)["nelbo"]


def gaussian_evaluation(grading: GradingSession) -> dict[str, float]:
    """Part B's figures from the returned weights: NELBO, KL and Rec on the dequantized test set (nats per image)
    and the bound in bits per dimension; NaN for weights that are not finite."""

    def evaluate() -> dict[str, float]:
        if not weights_finite(grading):
            figures = dict.fromkeys(("nelbo", "kl", "rec", "bpd"), math.nan)
        else:
            figures = reference(grading.homework).evaluate_gaussian.evaluate_gaussian(
                trained_model(grading), dequantized_test_set(grading))
        metrics = {f"gaussian_{name}": value for name, value in figures.items()}
        grading.record_metrics(metrics)
        return metrics

    return grading.memo("gaussian evaluation", evaluate)


def evaluation(grading: GradingSession) -> dict[str, float]:
    """Every scored and reported figure of both parts (what make calibrate records)."""
    return {**flagship.evaluation(grading), **gaussian_evaluation(grading)}


def comparison_png(panels: list[tuple[str, np.ndarray]], columns: int) -> bytes:
    """The grids side by side with their titles: one PNG (matplotlib, drawn here)."""
    from matplotlib.figure import Figure  # no pyplot: no global state in the grader

    figure = Figure(figsize=(4.2 * len(panels), 4.6))
    axes = figure.subplots(1, len(panels))
    for axis, (title, images) in zip(axes, panels, strict=True):
        rows = images.shape[0] // columns
        tiles = images[: rows * columns].reshape(rows, columns, 28, 28).transpose(0, 2, 1, 3).reshape(rows * 28, -1)
        axis.imshow(tiles, cmap="gray", vmin=0.0, vmax=1.0)
        axis.set_title(title, fontsize=11)
        axis.axis("off")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def gaussian_images(grading: GradingSession) -> GaussianImages:
    """Part B's means and samples for the same latents of the prior, part A's samples beside them: drawn here."""

    def draw() -> GaussianImages:
        if not weights_finite(grading):
            raise WrongAnswer("Part B's trained weights contain NaN or infinity, so the model draws nothing: the "
                              "training diverged (see check 8.1).")
        model, settings = trained_model(grading), grading.homework.settings
        columns = int(settings["grid_columns"])
        shown = int(settings["grid_rows"]) * columns
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(grading.check_seed("gaussian grid"))
            z = model.sample_z(max(shown, CHECKED_SAMPLES))  # (n, z_dim)
            means = model.compute_mean_given(z)  # (n, 784)
            samples = model.sample_x_given(z).clamp(0.0, 1.0)  # (n, 784)
        means, samples = means.numpy(), samples.numpy()
        panels = [("B: Gaussian means", means[:shown]), ("B: Gaussian samples", samples[:shown])]
        if flagship.weights_finite(grading):
            panels.insert(0, ("A: Bernoulli samples", flagship.trusted_grids(grading).samples[:shown]))
        drawn = GaussianImages(means, samples, grids.encode_grid(means[:shown], columns),
                               grids.encode_grid(samples[:shown], columns), comparison_png(panels, columns))
        grading.add_artifact("gaussian_means", drawn.means_png)
        grading.add_artifact("gaussian_samples", drawn.samples_png)
        grading.add_artifact("comparison", drawn.comparison_png)
        return drawn

    return grading.memo("gaussian images", draw)
