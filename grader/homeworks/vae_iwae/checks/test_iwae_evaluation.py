"""Checks of the retrained model's importance-weighted bounds: the grader computes -IWAE-k for k = 1, 10, 100 and
1000 from the returned weights, with its own copy of the provided model and evaluator and its own seed, on a fixed
subset of the binarized test set (grader/homeworks/vae_iwae/trusted.py). Nothing the worker computed is scored."""

import math
from collections.abc import Callable

from gradescope_utils.autograder_utils.decorators import number

from grader.engine.feedback import wrong
from grader.engine.scoring import load_band
from grader.grading.session import GradingSession
from grader.homeworks.vae import trusted as flagship
from grader.homeworks.vae.checks.test_training import LEARNED_FRACTION
from grader.homeworks.vae_iwae import trusted
from grader.homeworks.vae_iwae.trusted import ORDER_Z, IWAEEvaluation

SCORED_METRIC = "iwae_1000"
SCORED_IW = 1_000


def describe(found: IWAEEvaluation) -> str:
    figures = ", ".join(f"IWAE-{iw} {found.means[iw]:.3f} ± {found.standard_errors[iw]:.3f}" for iw in found.iw_samples)
    return (f"Grader's importance-weighted bounds on the first {found.images:,} binarized test images (negative "
            f"bounds in nats, ± the standard error over the images; computed in {found.seconds:.0f} s): {figures}.")


@number("4.3")
def test_iwae_1000(grading: GradingSession, note: list[str], earn: Callable[[float], None]) -> None:
    """training: IWAE-1000 on the test subset by the grader's evaluator is in the reference band"""
    found = trusted.iwae_evaluation(grading)
    band = load_band(grading.homework, SCORED_METRIC)
    value = found.means[SCORED_IW]
    earn(band.fraction(value))
    if math.isfinite(value):
        note.append(describe(found))
    note.extend(filter(None, [grading.training().development_note(), band.review_note(value, "IWAE-1000")]))
    if not band.inside(value):
        got = f"{value:.3f}" if math.isfinite(value) else "NaN (the trained weights are not finite)"
        raise wrong("The retrained model's IWAE-1000 is outside the reference band.",
                    f"at most {band.full:g} (reference runs: about 93.6 on this subset); zero points from "
                    f"{band.zero:g}", got,
                    "this bound is computed by the grader from the weights your training returned, so it follows the "
                    "test NELBO (check 4.2): when that is in its band and this is not, look at what changes during "
                    "training; otherwise fix the checks above first.")


@number("4.4")
def test_bounds_tighten_with_more_samples(grading: GradingSession, note: list[str]) -> None:
    """training: IWAE-1 > IWAE-10 > IWAE-100 > IWAE-1000 beyond the estimates' errors"""
    found = trusted.iwae_evaluation(grading)
    if not trusted.weights_finite(grading):
        raise wrong("The trained weights contain NaN or infinity, so there are no bounds to compare.",
                    "finite weights", "NaN or infinite weights", "the training diverged: see check 4.1.")
    nelbo, start = flagship.evaluation(grading)["nelbo"], flagship.start_nelbo(grading)
    if not (math.isfinite(nelbo) and nelbo <= LEARNED_FRACTION * start):
        raise wrong("The bounds of a model that has not learned say nothing about your training.",
                    f"a trained model (test NELBO at most {LEARNED_FRACTION:g} x {start:.1f}, as check 4.1 asks) "
                    "whose bounds tighten with k", f"test NELBO {nelbo:.1f}",
                    "this check earns its points only for a model that learned; see checks 4.1 and 4.2.")
    steps = []
    for (iw, next_iw), (difference, error) in found.differences.items():
        steps.append(f"IWAE-{iw} - IWAE-{next_iw} = {difference:.3f} ± {error:.3f}")
        if not difference > ORDER_Z * error:
            raise wrong(f"IWAE-{next_iw} is not below IWAE-{iw} by more than {ORDER_Z:g} standard errors.",
                        f"IWAE-{iw} - IWAE-{next_iw} > {ORDER_Z:g} x {error:.3f} (the paired standard error over "
                        f"the {found.images:,} images)", f"{difference:.3f}",
                        "more importance samples make the bound tighter for a model whose encoder is not exactly "
                        "the posterior; equal bounds mean q(z | x) carries no information about x (a collapsed "
                        "posterior: the KL pushed to 0, so the decoder ignores z). Check that kl is the KL of "
                        "q(z | x) from the prior, weighted 1, and that z is sampled from q(z | x).")
    note.append("The bounds tighten with more samples, paired over the same images: " + "; ".join(steps) + ".")
