"""vae-iwae's trusted side: the flagship's (grader/homeworks/vae/trusted.py), plus the answer of the IWAE bound's
operation and the importance-weighted bounds of the returned weights.

The flagship's checks import the flagship's module; everything they compute (the trained model, the NELBO
evaluation, the grids) is remembered per grading under the same keys, so this module and theirs share it. The
IWAE bounds are computed here, from the returned weights, with the grader's copy of the provided model and its
evaluator (reference/vae-iwae/evaluate_iwae.py) and its fixed seed: nothing of the student's code runs.
"""

import itertools
import math
import time
from dataclasses import dataclass

from grader.engine.answers import TEXT, VALUE, Array, ListOf, MapOf, Number, Record, Shape
from grader.engine.oracle import reference
from grader.grading.session import GradingSession
from grader.homeworks.vae import trusted as flagship
from grader.homeworks.vae.trusted import (  # noqa: F401  (what the flagship's checks and this homework's share)
    binarized_test_set,
    data_file,
    reported,
    start_nelbo,
    trained_model,
    weights_finite,
)

# The bounds are ordered "beyond their errors" when each IWAE-k exceeds the next by more than this many standard
# errors of their difference (paired over the same images). The reference's margins: see calibration.json.
ORDER_Z = 3.0
ORDER_METRIC = "iwae_order_margin"  # order_margin() as a metric: calibration records the reference's
MAX_SHAPES = 1_000

ANSWERS: dict[str, Shape] = {
    **flagship.ANSWERS,
    "negative_iwae_bound": Record(
        {"returned": VALUE,
         "sample_gaussian_calls": ListOf(ListOf(Number(0, 2**31, integer=True), max_length=8), max_length=MAX_SHAPES),
         "missing_weights": ListOf(TEXT), "elbo_calls": Number(0, 2**31, integer=True),
         "repeated_terms": ListOf(ListOf(VALUE, max_length=100), max_length=100)},
        optional={"terms": ListOf(VALUE, length=3), "grads": MapOf(Array())},
    ),
}


@dataclass(frozen=True)
class IWAEEvaluation:
    """The grader's IWAE bounds of the returned weights on the fixed test subset."""

    iw_samples: tuple[int, ...]
    images: int
    means: dict[int, float]  # -IWAE-k, nats (NaN when the weights are not finite)
    standard_errors: dict[int, float]  # of each mean, over the images
    differences: dict[tuple[int, int], tuple[float, float]]  # (k, next k) -> (mean difference, its standard error)
    seconds: float

    def metrics(self) -> dict[str, float]:
        figures: dict[str, float] = {}
        for iw in self.iw_samples:
            figures[f"iwae_{iw}"] = self.means[iw]
        for iw in self.iw_samples:
            figures[f"iwae_{iw}_se"] = self.standard_errors[iw]
        figures[ORDER_METRIC] = self.order_margin()
        return figures

    def order_margin(self) -> float:
        """The smallest (difference / its standard error) over consecutive k: the ordering's margin in errors."""
        ratios = [mean / error if error > 0 else math.inf if mean > 0 else -math.inf
                  for mean, error in self.differences.values()]
        return min(ratios) if ratios else math.nan


def iwae_evaluation(grading: GradingSession) -> IWAEEvaluation:
    """-IWAE-k for k = 1, 10, 100, 1000 of the returned weights on the fixed subset of the binarized test set."""

    def evaluate() -> IWAEEvaluation:
        evaluator = reference(grading.homework).evaluate_iwae
        iw_samples, images = tuple(evaluator.IW_SAMPLES), int(evaluator.TEST_SUBSET)
        started = time.perf_counter()
        if not weights_finite(grading):
            nan = dict.fromkeys(iw_samples, math.nan)
            return IWAEEvaluation(iw_samples, images, nan, dict(nan),
                                  {pair: (math.nan, math.nan) for pair in itertools.pairwise(iw_samples)}, 0.0)
        estimates = evaluator.evaluate_iwae(trained_model(grading), binarized_test_set(data_file(grading)))
        differences = {}
        for iw, next_iw in itertools.pairwise(iw_samples):
            paired = estimates[iw].per_image - estimates[next_iw].per_image  # (images,)
            differences[(iw, next_iw)] = (float(paired.mean()), evaluator.standard_error(paired))
        return IWAEEvaluation(iw_samples, images, {iw: e.mean for iw, e in estimates.items()},
                              {iw: e.standard_error for iw, e in estimates.items()}, differences,
                              time.perf_counter() - started)

    found = grading.memo("iwae evaluation", evaluate)
    grading.record_metrics(found.metrics())
    return found


def evaluation(grading: GradingSession) -> dict[str, float]:
    """The grader's evaluation of the returned weights: the flagship's (NELBO, KL and Rec on the whole binarized
    test set) and the IWAE bounds with their standard errors on the fixed subset."""
    return {**flagship.evaluation(grading), **iwae_evaluation(grading).metrics()}
