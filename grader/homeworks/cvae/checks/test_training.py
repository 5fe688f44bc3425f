"""Checks of the retrained conditional model: the provided loop trains the student's CVAE in the worker on labelled
batches, and the grader's own evaluator scores the returned weights (grader/homeworks/cvae/trusted.py): the test
NELBO given the labels, and -log p(x | y) by importance sampling. What the worker reports is shown, never scored."""

import math
from collections.abc import Callable

from gradescope_utils.autograder_utils.decorators import number

from grader.engine.feedback import wrong
from grader.engine.scoring import load_band
from grader.grading.session import GradingSession
from grader.homeworks.cvae import trusted
from grader.homeworks.vae.checks.test_training import LEARNED_FRACTION, describe_run

TRAINING_FIX = ("when the unit checks pass, look at what changes during training: nelbo must be exactly kl + rec on "
                "every call, the KL weighted 1, z drawn afresh, and each image given its own label; otherwise fix the "
                "failing checks above first.")


@number("3.1")
def test_trained(grading: GradingSession, note: list[str]) -> None:
    """training: the returned weights are finite, trained from their seeded start, and the model has learned"""
    reported = trusted.reported(grading)
    note.append(describe_run(reported))
    if not trusted.weights_finite(grading):
        raise wrong("The trained weights contain NaN or infinity: the training diverged.", "finite weights",
                    "NaN or infinite weights", "a log of zero or a division by a zero variance in the loss; use the "
                    "provided ut.log_bernoulli_with_logits on the decoder's logits, and check the unit checks above.")
    if not trusted.weights_changed(grading):
        raise wrong("The returned weights are the untrained ones.", "weights changed by training",
                    "exactly the initial weights of the training seed",
                    "the optimizer never updated the model: the loss was not backpropagated.")
    nelbo, start = trusted.bound_evaluation(grading)["nelbo"], trusted.start_nelbo(grading)
    if not (math.isfinite(nelbo) and nelbo <= LEARNED_FRACTION * start):
        raise wrong("The trained model has not learned: its test NELBO by the grader's evaluator is not far below "
                    "the untrained model's.", f"at most {LEARNED_FRACTION:g} x {start:.1f} (the seeded start's NELBO)",
                    f"{nelbo:.1f}", "the bound that trains the model is wrong (see the unit checks above).")


def scored(grading: GradingSession, note: list[str], earn: Callable[[float], None], metric: str, what: str,
           typical: str) -> None:
    """Earn the band's fraction of the check's points for ``metric`` of the grader's evaluation."""
    metrics = trusted.bound_evaluation(grading)
    band = load_band(grading.homework, metric)
    value = metrics[metric]
    earn(band.fraction(value))
    note.extend(filter(None, [grading.training().development_note(), band.review_note(value, what)]))
    if not band.inside(value):
        got = f"{value:.3f}" if math.isfinite(value) else "NaN (the trained weights are not finite)"
        raise wrong(f"The retrained model's {what} is outside the reference band.",
                    f"at most {band.full:g} (reference runs: about {typical}); zero points from {band.zero:g}", got,
                    TRAINING_FIX)


@number("3.2")
def test_test_nelbo(grading: GradingSession, note: list[str], earn: Callable[[float], None]) -> None:
    """training: test NELBO given the labels, by the grader's evaluator, is in the reference band"""
    metrics = trusted.bound_evaluation(grading)
    note.append(f"Grader's evaluation on the 10,000 binarized test images, each given its label: NELBO "
                f"{metrics['nelbo']:.3f}, KL {metrics['kl']:.3f}, Rec {metrics['rec']:.3f}.")
    own = trusted.reported(grading).own_bound
    if own is not None:
        figures = ", ".join(f"{name} {value:.3f}" if value is not None else f"{name} not finite"
                            for name, value in own.items() if name in ("nelbo", "kl", "rec"))
        note.append(f"Your own negative_elbo_bound on the same weights (for information): {figures}.")
    scored(grading, note, earn, "nelbo", "test NELBO", "91.7")


@number("3.3")
def test_importance_sampled_likelihood(grading: GradingSession, note: list[str],
                                       earn: Callable[[float], None]) -> None:
    """training: -log p(x | y) by importance sampling (1,000 samples per image), by the grader, is in the band"""
    metrics = trusted.bound_evaluation(grading)
    seconds = grading.remembered("evaluation seconds")
    note.append("Grader's importance-sampled -log p(x | y) on the first 500 test images (1,000 samples of "
                f"q(z | x, y) per image): {metrics['nll']:.3f} ± {metrics['nll_se']:.3f} (standard error over the "
                "images); it lies below the NELBO, as a tighter bound should"
                + (f" (the evaluation took {seconds:.0f} s)." if isinstance(seconds, float) else "."))
    scored(grading, note, earn, "nll", "importance-sampled -log p(x | y)", "86")
