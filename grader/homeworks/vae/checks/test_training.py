"""Checks of the retrained model: the provided loop trains the student's VAE in the worker, and the grader's own
evaluator scores the returned weights with the reference bound on the binarized test set
(grader/homeworks/vae/trusted.py). What the worker reports of its run is shown, never scored."""

import math
from collections.abc import Callable

from gradescope_utils.autograder_utils.decorators import number

from grader.engine.feedback import wrong
from grader.engine.scoring import load_band
from grader.grading.session import GradingSession
from grader.homeworks.vae import trusted

SCORED_METRIC = "nelbo"
# "Learned": the trained NELBO at most this fraction of the seeded start's (about 546 nats). The reference reaches
# 219 after 20 iterations and 193 after 100 (seed 0); weights that were only perturbed stay near 546.
LEARNED_FRACTION = 0.5


def describe_run(reported: trusted.ReportedRun) -> str:
    """What the worker said of its run: shown for information (it is the student's process, so never scored)."""
    text = f"Your training run reported {reported.iterations:,} iterations in {reported.seconds:.0f} s"
    if reported.diverged_at is not None:
        text += f", and a non-finite loss at iteration {reported.diverged_at:,}"
    return text + " (for information: the grader scores only what it computes from the returned weights)."


@number("4.1")
def test_trained(grading: GradingSession, note: list[str]) -> None:
    """training: the returned weights are finite, trained from their seeded start, and the model has learned"""
    reported = trusted.reported(grading)
    note.append(describe_run(reported))
    if not trusted.weights_finite(grading):
        diverged = reported.diverged_at
        raise wrong("The trained weights contain NaN or infinity: the training diverged.", "finite weights",
                    "NaN or infinite weights" + (f" (your run reported a non-finite loss at iteration {diverged:,})"
                                                 if diverged is not None else ""),
                    "a log of zero or a division by a zero variance in the loss; use the provided "
                    "log_bernoulli_with_logits and the variances from gaussian_parameters (never zero), and check "
                    "the unit checks above.")
    if not trusted.weights_changed(grading):
        raise wrong("The returned weights are the untrained ones.", "weights changed by training",
                    "exactly the initial weights of the training seed",
                    "the optimizer never updated the model: the loss was not backpropagated, or the training loop "
                    "was changed.")
    nelbo, start = trusted.evaluation(grading)[SCORED_METRIC], trusted.start_nelbo(grading)
    if not (math.isfinite(nelbo) and nelbo <= LEARNED_FRACTION * start):
        raise wrong("The trained model has not learned: its test NELBO by the grader's evaluator is not far below "
                    "the untrained model's.", f"at most {LEARNED_FRACTION:g} x {start:.1f} (the seeded start's NELBO)",
                    f"{nelbo:.1f}", "the bound that trains the model is wrong (see the unit checks above) or "
                    "training was cut short.")


@number("4.2")
def test_test_nelbo(grading: GradingSession, note: list[str], earn: Callable[[float], None]) -> None:
    """training: test NELBO by the grader's evaluator is in the reference band"""
    metrics = trusted.evaluation(grading)
    band = load_band(grading.homework, SCORED_METRIC)
    nelbo = metrics[SCORED_METRIC]
    earn(band.fraction(nelbo))
    note.append(f"Grader's evaluation on the 10,000 binarized test images: NELBO {nelbo:.3f}, "
                f"KL {metrics['kl']:.3f}, Rec {metrics['rec']:.3f}.")
    reported = trusted.reported(grading)
    if reported.own_bound is not None:
        figures = ", ".join(f"{name} {value:.3f}" if value is not None else f"{name} not finite"
                            for name, value in reported.own_bound.items() if name in ("nelbo", "kl", "rec"))
        note.append(f"Your own negative_elbo_bound on the same weights (for information): {figures}.")
    elif reported.own_bound_error:
        note.append(f"Your own bound could not be computed on the test set: {reported.own_bound_error}")
    note.extend(filter(None, [grading.training().development_note(), band.review_note(nelbo, "NELBO")]))
    if not band.inside(nelbo):
        got = f"{nelbo:.3f}" if math.isfinite(nelbo) else "NaN (the trained weights are not finite)"
        raise wrong("The retrained model's test NELBO is outside the reference band.",
                    f"at most {band.full:g} (reference runs: about 100); zero points from {band.zero:g}", got,
                    "when the unit checks pass, look at what changes during training: nelbo must be exactly "
                    "kl + rec on every call, the KL weighted 1 (no beta schedule, KL annealing, free bits or "
                    "clipping) and z drawn afresh with ut.sample_gaussian (no re-seeding); otherwise fix the failing "
                    "checks above first.")
