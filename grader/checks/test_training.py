"""Checks of the retrained model: the provided loop trains the student's VAE in the worker, and the
grader's own evaluator scores the returned weights with the reference bound on the binarized test set."""

import math

from gradescope_utils.autograder_utils.decorators import number, partial_credit, weight

from grader.feedback import wrong
from grader.scoring import load_band
from grader.session import FULL_ITERATIONS, GradingSession

NELBO_POINTS = 30


@weight(5)
@number("4.1")
def test_completes(grading: GradingSession, note: list[str]) -> None:
    """training: completes every iteration without diverging"""
    outcome = grading.training()
    expected = grading.config.iterations
    note.append(f"{outcome.iterations:,} iterations in {outcome.seconds:.0f} s")
    if outcome.diverged_at is not None:
        raise wrong("The training loss became NaN or infinite.", "a finite loss throughout",
                    f"a non-finite loss at iteration {outcome.diverged_at:,}",
                    "a log of zero or a division by a zero variance; use the provided log_bernoulli_with_logits and "
                    "the variances from gaussian_parameters (they are never zero).")
    if outcome.iterations != expected:
        raise wrong("Training stopped early.", f"{expected:,} iterations", f"{outcome.iterations:,}",
                    "the provided training loop was changed or interrupted.")


@partial_credit(NELBO_POINTS)
@number("4.2")
def test_test_nelbo(grading: GradingSession, note: list[str], set_score=None) -> None:  # noqa: ANN001
    """training: test NELBO by the grader's evaluator is in the reference band"""
    metrics = grading.evaluation()
    outcome = grading.training()
    band = load_band()
    nelbo = metrics["nelbo"]
    set_score(band.points(nelbo, NELBO_POINTS))
    note.append(f"Grader's evaluation on the 10,000 binarized test images: NELBO {nelbo:.3f}, "
                f"KL {metrics['kl']:.3f}, Rec {metrics['rec']:.3f}.")
    if outcome.own_bound is not None:
        own = outcome.own_bound
        note.append(f"Your own negative_elbo_bound on the same weights (for information): NELBO {own['nelbo']:.3f}, "
                    f"KL {own['kl']:.3f}, Rec {own['rec']:.3f}.")
    elif outcome.own_bound_error:
        note.append(f"Your own bound could not be computed on the test set: {outcome.own_bound_error}")
    if grading.config.iterations < FULL_ITERATIONS:
        note.append(f"Development run: {grading.config.iterations:,} iterations; the band is for {FULL_ITERATIONS:,}.")
    if math.isfinite(nelbo) and nelbo < band.review_below:
        note.append(f"This NELBO is lower than any reference run (below {band.review_below}); staff may review it.")
    if not (math.isfinite(nelbo) and nelbo <= band.full_at_or_below):
        got = f"{nelbo:.3f}" if math.isfinite(nelbo) else "NaN (the trained weights are not finite)"
        raise wrong("The retrained model's test NELBO is outside the reference band.",
                    f"at most {band.full_at_or_below} (reference runs: about 100); zero points from "
                    f"{band.zero_at_or_above}",
                    got,
                    "when the unit checks pass, look at what changes during training: nelbo must be exactly "
                    "kl + rec on every call, the KL weighted 1 (no beta schedule, KL annealing, free bits or "
                    "clipping) and z drawn afresh with ut.sample_gaussian (no re-seeding); otherwise fix the failing "
                    "checks above first.")
