"""Checks of part B's retrained model: the provided loop trains the student's GaussianVAE on dequantized pixels in the
worker, and the grader's own evaluator scores the returned weights on the fixed dequantized test set
(grader/homeworks/vae_gaussian/trusted.py). What the worker reports of its run is shown, never scored."""

import math
from collections.abc import Callable

from gradescope_utils.autograder_utils.decorators import number

from grader.engine.feedback import wrong
from grader.engine.scoring import load_band
from grader.grading.session import GradingSession
from grader.homeworks.vae_gaussian import trusted

SCORED_METRIC = "gaussian_nelbo"
# "Learned": the trained bound at least this many nats below the seeded start's. The untrained model's bound is about
# +708 nats per image (seeds 0-2: 707.7-708.3); the reference reaches -1,022 after 300 iterations, -1,338 after 2,000.
LEARNED_MARGIN = 500.0


@number("8.1")
def test_gaussian_trained(grading: GradingSession, note: list[str]) -> None:
    """part B training: the returned weights are finite, trained from their seeded start, and the model has learned"""
    answer = grading.training(trusted.TRAINING).answer
    note.append(f"Your part B run reported {answer['iterations']:,} iterations in {float(answer['seconds']):.0f} s "
                "(for information: the grader scores only what it computes from the returned weights).")
    if not trusted.weights_finite(grading):
        raise wrong("Part B's trained weights contain NaN or infinity: the training diverged.", "finite weights",
                    "NaN or infinite weights", "a log of a variance that is zero or negative, or a division by it: "
                    "log_normal takes the variance the decoder gives (never below the floor), not its square root "
                    "or its logarithm.")
    if not trusted.weights_changed(grading):
        raise wrong("Part B's returned weights are the untrained ones.", "weights changed by training",
                    "exactly the initial weights of the training seed",
                    "the optimizer never updated the model: the loss was not backpropagated.")
    nelbo, start = trusted.gaussian_evaluation(grading)[SCORED_METRIC], trusted.start_nelbo(grading)
    if not (math.isfinite(nelbo) and nelbo <= start - LEARNED_MARGIN):
        raise wrong("Part B's trained model has not learned: its test NELBO by the grader's evaluator is not far "
                    "below the untrained model's.", f"at most {start - LEARNED_MARGIN:.1f} (the seeded start's "
                    f"{start:.1f} less {LEARNED_MARGIN:g} nats)", f"{nelbo:.1f}",
                    "GaussianVAE.negative_elbo_bound does not train the model: check rec = -log N(x; mean, "
                    "variance) summed over the pixels, with the decoder's variance.")


@number("8.2")
def test_gaussian_test_nelbo(grading: GradingSession, note: list[str], earn: Callable[[float], None]) -> None:
    """part B training: test NELBO of the dequantized test set by the grader's evaluator is in the reference band"""
    metrics = trusted.gaussian_evaluation(grading)
    band = load_band(grading.homework, SCORED_METRIC)
    nelbo = metrics[SCORED_METRIC]
    earn(band.fraction(nelbo))
    note.append(f"Grader's evaluation of part B on the 10,000 dequantized test images: NELBO {nelbo:.2f} nats "
                f"(KL {metrics['gaussian_kl']:.2f}, Rec {metrics['gaussian_rec']:.2f}), "
                f"{metrics['gaussian_bpd']:.3f} bits per dimension of the 8-bit images.")
    note.extend(filter(None, [grading.training(trusted.TRAINING).development_note()]))
    if not band.inside(nelbo):
        got = f"{nelbo:.2f}" if math.isfinite(nelbo) else "NaN (the trained weights are not finite)"
        raise wrong("Part B's retrained model has a test NELBO outside the reference band.",
                    f"at most {band.full:g} nats; zero points from {band.zero:g}", got,
                    "rec must be minus the Gaussian log-density of the pixels under the decoder's mean and variance "
                    "(a variance, not a standard deviation), summed over the 784 pixels and averaged over the batch, "
                    "and nelbo exactly kl + rec; fix the failing checks above first.")
